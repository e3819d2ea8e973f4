"""``agentkit sessions`` and ``agentkit chat --session NAME``: named conversations in one SQLite file.

The file is ``--sessions-db PATH``, else ``$AGENTKIT_SESSIONS_DB``, else
:func:`~agentkit.sessions.default_sessions_path` (``sessions.db`` under the user's data directory).
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..content import UserContent, part_label
from ..errors import UserError
from ..messages import AssistantMessage, Message, SystemMessage, ToolCall, ToolMessage, UserMessage
from ..sessions import SessionInfo, SessionVersionError, SQLiteSession, default_sessions_path
from ._common import CLIError, one_line
from ._display import Display

__all__ = [
    "ENV_VAR",
    "NO_RESULT",
    "close_unanswered",
    "delete_session",
    "list_sessions",
    "open_chat_session",
    "resume_hint",
    "sessions_path",
    "show_session",
    "store_errors",
]

ENV_VAR = "AGENTKIT_SESSIONS_DB"
NO_RESULT = "No result: the chat stopped before this call's result was stored (the call may or may not have run)."
BRIEF = 100


def sessions_path(option: str | None) -> Path:
    """The sessions file: ``option`` (``--sessions-db``, or ``$AGENTKIT_SESSIONS_DB`` through click), else the default."""
    if option:
        return Path(os.path.abspath(os.path.expanduser(option)))
    return default_sessions_path()


def _name(name: str) -> str:
    if not name or not name.strip():
        raise CLIError("A session needs a name, e.g. --session work (agentkit sessions list shows the stored ones).")
    return name


@contextmanager
def store_errors(path: Path) -> Iterator[None]:
    """The store's mistakes as one actionable line: a newer schema says to upgrade (as
    :class:`~agentkit.sessions.SessionVersionError` words it), a file that is not a sessions store
    or cannot be opened names the file and how to pick another."""
    import sqlite3

    other = f"pick another file with --sessions-db PATH or ${ENV_VAR}"
    try:
        yield
    except SessionVersionError:
        raise
    except UserError as e:
        if "not a SQLite database" in str(e):
            raise CLIError(f"{path} is not a SQLite file of agentkit sessions: {other}.") from e
        raise
    except (sqlite3.Error, OSError) as e:
        raise CLIError(f"Cannot use the sessions file {path}: {e} ({other}).", 1) from e


def _find(infos: Sequence[SessionInfo], name: str, path: Path) -> SessionInfo:
    for info in infos:
        if info.session_id == name:
            return info
    known = ", ".join(repr(i.session_id) for i in infos[:5]) + (", ..." if len(infos) > 5 else "")
    where = f"; it has {known}" if known else "; it has none yet (agentkit chat --session NAME starts one)"
    raise CLIError(f"No session named {name!r} in {path}{where}.", 1)


def _text(content: str | list[UserContent] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(part_label(part) for part in content)


def _brief(text: str) -> str:
    line = one_line(text)
    return line if len(line) <= BRIEF else line[: BRIEF - 1] + "…"


def _unanswered(messages: Sequence[Message]) -> list[ToolCall]:
    """The calls of the last assistant message that have no tool result after it."""
    answered: set[str] = set()
    for m in reversed(messages):
        if isinstance(m, ToolMessage):
            answered.add(m.tool_call_id)
        elif isinstance(m, AssistantMessage):
            return [c for c in m.tool_calls if c.id not in answered]
        else:
            return []
    return []


# --- chat --session ------------------------------------------------------------------------------


async def close_unanswered(session: SQLiteSession, messages: Sequence[Message] | None = None) -> int:
    """Store a result for each call of the last answer that has none (the chat stopped between a
    call and its result): a provider refuses a history with calls left unanswered. How many there were."""
    stored = await session.get_messages() if messages is None else messages
    calls = _unanswered(stored)
    if calls:
        await session.add_messages([ToolMessage(tool_call_id=c.id, name=c.name, content=NO_RESULT) for c in calls])
    return len(calls)


def _last_exchange(messages: Sequence[Message]) -> tuple[str, str] | None:
    """The last prompt and the last answer text after it."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if isinstance(m, UserMessage):
            answers = [a.content for a in messages[i + 1 :] if isinstance(a, AssistantMessage) and a.content]
            return _text(m.content), answers[-1] if answers else ""
    return None


async def open_chat_session(name: str, path: Path, notes: Console) -> SQLiteSession:
    """The chat's session, its earlier messages counted on ``notes`` with the last exchange, briefly."""
    session = SQLiteSession(path, _name(name))
    with store_errors(path):
        try:
            messages = await session.get_messages()
            closed = await close_unanswered(session, messages)
        except BaseException:
            await session.close()
            raise
    if not messages:
        notes.print(Text(f"New session {name!r}, stored in {path}.", style="dim"), soft_wrap=True)
        return session
    count = f"{len(messages)} earlier message{'s' if len(messages) != 1 else ''}"
    notes.print(Text(f"Resumed session {name!r}: {count} loaded from {path}.", style="dim"), soft_wrap=True)
    exchange = _last_exchange(messages)
    if exchange is not None:
        notes.print(Text(f"  > {_brief(exchange[0])}", style="dim"), soft_wrap=True)
        if exchange[1]:
            notes.print(Text(f"  {_brief(exchange[1])}", style="dim"), soft_wrap=True)
    if closed:
        calls = f"{closed} tool call{'s' if closed != 1 else ''}"
        notes.print(Text(f"  ({calls} of the last answer had no stored result; the model is told so.)", style="dim"))
    return session


# --- agentkit sessions ---------------------------------------------------------------------------


def list_sessions(path: Path, console: Console, notes: Console) -> None:
    """A table of the stored sessions: name, messages, last updated (local time), most recent first."""
    with store_errors(path):
        infos = asyncio.run(SQLiteSession.list_sessions(path))
    if not infos:
        notes.print(Text(f"No sessions in {path} yet: agentkit chat --session NAME starts one.", style="dim"), soft_wrap=True)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("name")
    table.add_column("messages", justify="right")
    table.add_column("last updated")
    for info in infos:
        updated = info.updated_at.astimezone().strftime("%Y-%m-%d %H:%M") if info.updated_at else "-"
        table.add_row(Text(info.session_id), f"{info.message_count:,}", updated)
    console.print(table)


async def _load(path: Path, name: str) -> tuple[SessionInfo, list[Message]]:
    info = _find(await SQLiteSession.list_sessions(path), name, path)
    async with SQLiteSession(path, name) as session:
        return info, await session.get_messages()


def show_session(path: Path, name: str, console: Console, notes: Console) -> None:
    """The conversation as ``agentkit chat`` showed it: ``> prompt`` lines, answers, tool calls and results."""
    with store_errors(path):
        info, messages = asyncio.run(_load(path, _name(name)))
    updated = f", last updated {info.updated_at.astimezone():%Y-%m-%d %H:%M}" if info.updated_at else ""
    count = f"{len(messages)} message{'s' if len(messages) != 1 else ''}"
    notes.print(Text(f"Session {name!r}: {count}{updated}.", style="dim"), soft_wrap=True)
    display = Display(console)
    for i, m in enumerate(messages):
        if isinstance(m, UserMessage):
            if i:
                display.end_line()
                console.out("")
            display.prompt(_text(m.content))
        elif isinstance(m, AssistantMessage):
            if m.reasoning:
                display.reasoning(m.reasoning)
            if m.content:
                display.text(m.content)
            elif m.refusal:
                display.text(m.refusal)
            for call in m.tool_calls:
                display.tool_call(call.id, call.name, call.arguments)
        elif isinstance(m, ToolMessage):
            display.tool_result(m.name or display.tool_name(m.tool_call_id), m.content, m.is_error)
        elif isinstance(m, SystemMessage):
            display.note(f"system: {_brief(m.content)}")
    display.end_line()


def delete_session(path: Path, name: str, yes: bool, console: Console) -> None:
    """Delete a stored session, after asking (unless ``yes``); a missing one is an error (exit 1)."""
    import click

    with store_errors(path):
        info = _find(asyncio.run(SQLiteSession.list_sessions(path)), _name(name), path)
    count = f"{info.message_count} message{'s' if info.message_count != 1 else ''}"
    if not yes and not click.confirm(f"Delete session {name!r} ({count}) from {path}?", default=False, err=True):
        raise CLIError(f"Session {name!r} was not deleted (pass --yes to delete without asking).", 1)
    with store_errors(path):
        deleted = asyncio.run(SQLiteSession.delete_session(path, name))
    if not deleted:  # deleted by someone else in between
        raise CLIError(f"No session named {name!r} in {path} any more.", 1)
    console.print(Text(f"Deleted session {name!r} ({count})."), soft_wrap=True)


def resume_hint(name: str, path: Path) -> str:
    """The command that resumes session ``name`` of ``path`` (``--sessions-db`` when it is not the usual file)."""
    command = f"agentkit chat --session {shlex.quote(name)}"
    if path != sessions_path(os.environ.get(ENV_VAR)):
        command += f" --sessions-db {shlex.quote(str(path))}"
    return command
