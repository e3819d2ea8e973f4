"""Hooks and history processors, prepared once per agent: only overridden methods are called,
and whatever a hook raises becomes a :class:`~agentkit.errors.HookError` naming it."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..context import RunContext
from ..errors import HookError, UserError
from ..hooks import HistoryProcessor, Hooks
from ..messages import Message

__all__ = ["HookSet", "prepare_hooks"]

_POINTS = (
    "on_run_start",
    "on_run_end",
    "before_model_request",
    "after_model_response",
    "before_tool_call",
    "after_tool_call",
    "on_error",
)

Bound = tuple[str, Callable[..., Awaitable[Any]]]  # (a name for errors, the bound method)
Processor = tuple[str, Callable[..., Any], bool]  # (name, function, takes ctx)


@dataclass(frozen=True)
class HookSet:
    """The overridden hook methods per point, and the history processors."""

    on_run_start: tuple[Bound, ...] = ()
    on_run_end: tuple[Bound, ...] = ()
    before_model_request: tuple[Bound, ...] = ()
    after_model_response: tuple[Bound, ...] = ()
    before_tool_call: tuple[Bound, ...] = ()
    after_tool_call: tuple[Bound, ...] = ()
    on_error: tuple[Bound, ...] = ()
    processors: tuple[Processor, ...] = ()

    def __bool__(self) -> bool:
        return any(getattr(self, point) for point in _POINTS) or bool(self.processors)

    def __add__(self, other: HookSet) -> HookSet:
        merged = {point: getattr(self, point) + getattr(other, point) for point in _POINTS}
        return HookSet(**merged, processors=self.processors + other.processors)

    async def process_history(self, ctx: RunContext[Any], messages: list[Message]) -> list[Message]:
        """The messages one request sends, after every history processor."""
        for name, function, takes_ctx in self.processors:
            try:
                out = function(ctx, list(messages)) if takes_ctx else function(list(messages))
                if inspect.isawaitable(out):
                    out = await out
            except Exception as e:
                raise HookError(
                    f"History processor {name} raised {type(e).__name__}: {e}", hook=name, messages=ctx.messages, usage=ctx.usage
                ) from e
            if not isinstance(out, (list, tuple)):
                raise UserError(f"History processor {name} must return a list of messages, not {type(out).__name__}.")
            messages = list(out)
        return messages


async def call_hook(hook: Bound, ctx: RunContext[Any], *args: Any) -> Any:
    """Call one hook; what it raises ends the run as a :class:`HookError` naming it."""
    name, method = hook
    try:
        return await method(ctx, *args)
    except HookError:
        raise
    except Exception as e:
        raise HookError(f"Hook {name} raised {type(e).__name__}: {e}", hook=name, messages=ctx.messages, usage=ctx.usage) from e


def prepare_hooks(hooks: Sequence[Hooks], processors: Sequence[HistoryProcessor] = ()) -> HookSet:
    """Check and index hooks and history processors (user mistakes raise :class:`UserError` here)."""
    found: dict[str, list[Bound]] = {point: [] for point in _POINTS}
    for hook in hooks:
        if not isinstance(hook, Hooks):
            raise UserError(f"hooks must be Hooks instances (subclass agentkit.Hooks), not {type(hook).__name__}.")
        for point in _POINTS:
            method = getattr(type(hook), point)
            if method is getattr(Hooks, point):
                continue  # not overridden: never called
            if not inspect.iscoroutinefunction(method):
                raise UserError(f"{type(hook).__qualname__}.{point} must be an async method (async def).")
            found[point].append((f"{type(hook).__qualname__}.{point}", getattr(hook, point)))
    return HookSet(**{point: tuple(found[point]) for point in _POINTS}, processors=tuple(_processor(p) for p in processors))


def _processor(function: Any) -> Processor:
    name = getattr(function, "__qualname__", None) or repr(function)
    if not callable(function):
        raise UserError(f"history_processors must be functions, not {type(function).__name__}.")
    try:
        params = [
            p
            for p in inspect.signature(function).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        params = []
    if len(params) not in (1, 2):
        raise UserError(f"History processor {name} must take (messages) or (ctx, messages).")
    return name, function, len(params) == 2
