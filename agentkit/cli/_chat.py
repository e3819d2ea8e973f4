"""``agentkit chat``: an interactive session that keeps its history, with tools and MCP servers."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from ..agent import Agent, RunResult
from ..content import ContentPart, Prompt
from ..errors import UserError
from ..messages import Message
from ..models.base import Model
from ..sessions import SQLiteSession
from ..tools import Tool, ToolLike, Toolset
from ..usage import Usage
from ._attach import with_attachments
from ._common import CLIError, collect_tools, load_module_or_file, model_or_test, print_error, stderr_console, stdout_console
from ._display import Display, TerminalApprover, TurnInterrupts, stdin_is_tty, summary
from ._sessions import close_unanswered, open_chat_session, resume_hint

__all__ = ["build_chat_agent", "chat_session", "load_mcp", "run_chat"]

EXIT_WORDS = frozenset({"exit", "quit", "/exit", "/quit"})
MCP_HINT = "pip install 'agentkit-loop[mcp]'"


def load_mcp(path: str) -> list[ToolLike]:
    """The toolsets (MCP servers) of an MCP config file, via ``agentkit.mcp.load_mcp_config``."""
    if not Path(path).is_file():
        raise CLIError(f"No such file: {path}")
    try:
        loader: Any = importlib.import_module("agentkit.mcp").load_mcp_config
    except (ImportError, AttributeError) as e:
        raise CLIError(f"--mcp needs agentkit's MCP support ({MCP_HINT}): {e}") from e
    try:
        loaded = loader(path)
    except ImportError as e:
        raise CLIError(f"--mcp needs the mcp package ({MCP_HINT}): {e}") from e
    if isinstance(loaded, (Tool, Toolset)):
        return [loaded]
    if isinstance(loaded, Mapping):
        return list(loaded.values())
    if isinstance(loaded, Iterable):
        return list(loaded)
    raise CLIError(f"load_mcp_config({path!r}) returned {type(loaded).__name__}, not toolsets.", 1)


def build_chat_agent(
    model: Model | str | None, tool_specs: Sequence[str], mcp_config: str | None, system: str | None, yes: bool
) -> tuple[Agent[Any, str], TerminalApprover]:
    """The session's agent (its model, the tools of ``tool_specs``, MCP servers, system prompt) and its approver."""
    errors = stderr_console()
    tools: list[ToolLike] = []
    seen: set[int] = set()
    for spec in tool_specs:
        found = collect_tools(load_module_or_file(spec))
        if not found:
            raise CLIError(f"No tools in {spec}: define tools with @tool (from agentkit) at module level.")
        for item in found:
            if id(item) not in seen:
                seen.add(id(item))
                tools.append(item)
    if mcp_config:
        tools.extend(load_mcp(mcp_config))
    resolved = model_or_test(model, errors)
    approver = TerminalApprover(None, errors, interactive=True, auto=yes, interrupts=TurnInterrupts())
    return Agent(resolved, tools=tools, instructions=system, approve=approver), approver


def _read_prompt(console: Console) -> str | None:
    """The next line from the user; None at end of input. Ctrl-C here only starts a new line."""
    while True:
        try:
            line = input("> ")
        except EOFError:
            console.out("")
            return None
        except KeyboardInterrupt:
            console.out("")
            continue
        if not stdin_is_tty():
            console.out(line, highlight=False)  # piped input: keep the transcript readable
        return line


async def _answer(
    agent: Agent[Any, str], prompt: Prompt, history: list[Message], display: Display, session: SQLiteSession | None
) -> RunResult[str]:
    stream = agent.run_stream(prompt, messages=history) if session is None else agent.run_stream(prompt, session=session)
    async with stream as events:
        async for event in events:
            display.event(event)
        return events.result


async def chat_session(
    agent: Agent[Any, str],
    approver: TerminalApprover,
    debug: bool,
    stored: tuple[str, Path] | None = None,
    attached: Sequence[ContentPart] = (),
) -> None:
    """Read prompts until ``exit``/``quit``/end of input; each answer streams and joins the history.
    ``attached`` parts (``-a``) go with the first prompt.

    Ctrl-C while an answer runs cancels that answer (the history stays as it was before it).
    With ``stored`` (a session's name and its SQLite file), the session is the history: its earlier
    messages are loaded, and each turn's messages are stored as its steps complete, so what was
    said before a Ctrl-C, an error or a crash stays.
    """
    out = stdout_console()
    notes = stderr_console()
    interrupts = approver.interrupts or TurnInterrupts()
    history: list[Message] = []
    total = Usage()
    answers = 0
    async with agent:  # toolsets (MCP servers) connect once, and close at the end
        names = ", ".join(t.name for t in agent.tools) or "no tools"
        notes.print(
            Text(
                f"Chatting with {agent.model.model_name or type(agent.model).__name__} ({names}). "
                "exit, quit or Ctrl-D ends; Ctrl-C cancels an answer.",
                style="dim",
            ),
            soft_wrap=True,
        )
        session = None if stored is None else await open_chat_session(*stored, notes)
        try:
            while True:
                prompt = _read_prompt(out)
                if prompt is None or prompt.strip().lower() in EXIT_WORDS:
                    break
                if not prompt.strip():
                    continue
                display = Display(out)
                approver.display = display
                task = asyncio.ensure_future(_answer(agent, with_attachments(prompt, attached), history, display, session))
                sent, attached = attached, ()
                with interrupts.cancelling(task):
                    await asyncio.wait({task})
                display.end_line()
                if task.cancelled() or task.exception() is not None:
                    await _after_failure(task, session, notes, debug)
                    attached = _kept(task, sent, session, notes)
                    continue
                result = task.result()
                if session is None:
                    history = result.messages
                answers += 1
                total.add(result.usage)
                display.done(result.turns, result.usage)
        finally:
            if session is not None:
                await session.close()
    if answers:
        notes.print(Text(f"Session: {answers} answer{'s' if answers != 1 else ''} · {summary(None, total)}", style="dim"))
    if stored is not None:
        notes.print(Text(f"Stored in {stored[1]}; {resume_hint(*stored)} resumes it.", style="dim"), soft_wrap=True)


def _kept(
    task: asyncio.Future[Any], sent: Sequence[ContentPart], session: SQLiteSession | None, notes: Console
) -> Sequence[ContentPart]:
    """The ``-a`` parts of a message whose answer failed: kept for the next message (the history
    does not hold them), unless they were the error (a part the provider refuses) or a session
    may have stored them already."""
    if not sent:
        return ()
    refused = not task.cancelled() and isinstance(task.exception(), UserError)
    if refused or session is not None:
        notes.print(Text(f"(the {len(sent)} attachment(s) of that message are not sent again)", style="yellow"))
        return ()
    notes.print(Text(f"(the {len(sent)} attachment(s) go with your next message)", style="yellow"))
    return sent


async def _after_failure(task: asyncio.Future[Any], session: SQLiteSession | None, notes: Console, debug: bool) -> None:
    """Say the answer was cancelled or failed; a session keeps what was said, its unanswered calls marked."""
    if task.cancelled():
        kept = "; what was said before it stays in the session" if session is not None else ""
        notes.print(Text(f"(answer cancelled{kept})", style="yellow"))
    else:
        print_error(task.exception() or RuntimeError("the answer failed"), debug)
    if session is not None:
        try:
            await close_unanswered(session)
        except Exception as e:
            print_error(e, debug)


def run_chat(
    agent: Agent[Any, str],
    approver: TerminalApprover,
    debug: bool,
    stored: tuple[str, Path] | None = None,
    attached: Sequence[ContentPart] = (),
) -> None:
    """Run :func:`chat_session` on an event loop of its own.

    Not ``asyncio.run``: it would turn Ctrl-C at the prompt into cancelling the whole session.
    """
    if stdin_is_tty():
        with contextlib.suppress(ImportError):  # not on Windows
            import readline  # noqa: F401 - line editing and history for input()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(chat_session(agent, approver, debug, stored, attached))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
