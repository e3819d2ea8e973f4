"""A run's session: its stored messages are the history (loaded before the first step), and the
run's own messages are added to it as each step completes — the prompt at the start, each model
answer, each turn's tool results, and what was there when the run failed or paused. The agent's
instructions (system messages the run adds) are not stored: each run puts its agent's first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import UserError
from ..messages import Message, SystemMessage, ToolMessage
from .live import LiveRun
from .state import unanswered

__all__ = ["check_session", "load", "save"]

_METHODS = ("get_messages", "add_messages", "pop_message", "clear")


def check_session(session: Any, messages: Sequence[Message] | None) -> None:
    """A session must have the four methods of :class:`~agentkit.sessions.Session`, and comes without ``messages=``."""
    missing = [name for name in _METHODS if not callable(getattr(session, name, None))]
    if missing:
        raise UserError(
            f"session must be an agentkit.sessions.Session (e.g. SQLiteSession(path, session_id)); "
            f"{type(session).__name__} has no {', '.join(missing)}."
        )
    if messages:
        raise UserError("Give session= or messages=, not both: the session's messages are the history.")


_NOT_RUN = (
    "Not run: the conversation went on before this call had a result "
    "(the run that made it stopped, or was paused and not resumed)."
)


async def load(run: LiveRun) -> None:
    """Put the session's messages before the run's prompt (after the agent's instructions) and store the prompt.

    Calls the session holds without results (a run cancelled or killed during its tools, or left
    paused) are answered first, as not run: no provider accepts a call without its result."""
    assert run.session is not None
    stored = await run.session.get_messages()
    state = run.state
    at = 1 if state.messages and isinstance(state.messages[0], SystemMessage) else 0
    answered = [ToolMessage(tool_call_id=c.id, name=c.name, content=_NOT_RUN, is_error=True) for c in unanswered(stored)]
    state.messages[at:at] = [*stored, *answered]
    state.new_message_index = at + len(stored)
    run.saved = at + len(stored)
    await save(run)


async def save(run: LiveRun) -> None:
    """Add the messages the session does not have yet (not the system messages the run added)."""
    session = run.session
    if session is None:
        return
    messages = run.state.messages
    new = [m for m in messages[run.saved :] if not isinstance(m, SystemMessage)]
    run.saved = len(messages)
    if new:
        await session.add_messages(new)
