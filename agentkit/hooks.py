"""Hooks: code of yours that runs at each step of a run, and history processors.

Subclass :class:`Hooks`, override the methods you need (all async, all optional) and pass an
instance as ``Agent(hooks=[...])`` or per run ``agent.run(..., hooks=[...])``::

    class Redact(Hooks):
        async def before_model_request(self, ctx, request):
            return replace(request, messages=[scrub(m) for m in request.messages])

        async def before_tool_call(self, ctx, call):
            if call.name == "delete_all":
                return Veto("Deleting everything is not allowed; ask the user first.")
            return None

A hook that raises ends the run with :class:`~agentkit.errors.HookError` naming the hook.
Methods that a subclass does not override cost nothing.

History processors (``Agent(history_processors=[fn])``) are plain functions, sync or async, from
the messages to the messages to send — ``fn(messages)`` or ``fn(ctx, messages)``. They change
what one request sends (trim, redact, summarize), never the stored history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from .context import RunContext
from .messages import Message, ToolCall, ToolMessage

if TYPE_CHECKING:
    from ._run.state import RunResult
    from .models.base import ModelRequest, ModelResponse

__all__ = ["Hooks", "Veto", "Substitute", "HistoryProcessor"]


@dataclass(frozen=True)
class Veto:
    """Returned by :meth:`Hooks.before_tool_call`: do not run the tool; ``message`` goes to the model
    as the call's (error) result."""

    message: str


@dataclass(frozen=True)
class Substitute:
    """Returned by :meth:`Hooks.before_tool_call`: do not run the tool; ``result`` is its result
    (serialized like a tool's return value)."""

    result: Any


HistoryProcessor = Union[
    Callable[[list[Message]], Union[Sequence[Message], Awaitable[Sequence[Message]]]],
    Callable[[RunContext[Any], list[Message]], Union[Sequence[Message], Awaitable[Sequence[Message]]]],
]
"""``fn(messages)`` or ``fn(ctx, messages)``, sync or async: the messages one request sends."""


class Hooks:
    """Callbacks at each step of a run. Override any of them; the defaults do nothing.

    Every method gets the run's :class:`~agentkit.RunContext` (``deps``, ``usage``, ``messages``,
    ``turn``, ``model_name``; for tool hooks also ``tool_name`` and ``tool_call_id``).
    """

    async def on_run_start(self, ctx: RunContext[Any]) -> None:
        """The run begins (before its first request; also when a paused run resumes)."""

    async def on_run_end(self, ctx: RunContext[Any], result: RunResult[Any]) -> None:
        """The run ended with a result."""

    async def before_model_request(self, ctx: RunContext[Any], request: ModelRequest) -> ModelRequest | None:
        """A request is about to be sent: return a changed copy (other ``messages`` or
        ``settings`` for this one request, e.g. ``dataclasses.replace(request, ...)``) or None."""
        return None

    async def after_model_response(self, ctx: RunContext[Any], response: ModelResponse) -> None:
        """The model answered (its message is in the history; its tool calls have not run yet)."""

    async def before_tool_call(self, ctx: RunContext[Any], call: ToolCall) -> Veto | Substitute | None:
        """A tool call is about to run: None lets it run; :class:`Veto` refuses it with a message
        to the model; :class:`Substitute` supplies the result without running the tool."""
        return None

    async def after_tool_call(self, ctx: RunContext[Any], call: ToolCall, result: ToolMessage) -> Any:
        """A tool call ended with ``result`` (``result.content`` is what the model will read):
        return a replacement result (a string, or any value a tool may return) or None to keep it."""
        return None

    async def on_error(self, ctx: RunContext[Any], error: BaseException) -> None:
        """The run is ending with ``error`` (it is raised after the hooks ran)."""
