"""How guardrail functions are called: one at a time (a sync one in a worker thread, like a sync
tool), several at once (the first that trips cancels the rest), and a tool's ``before`` and
``after`` checks (:meth:`~agentkit.tools.Tool.call` runs them). Below both the tools and the
run loop, which import from here."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._threads import run_in_thread
from ._tool_signature import is_async
from .errors import GuardrailError, GuardrailTripped, ModelRetry
from .guardrails import GuardrailFunction, GuardrailResult, ToolGuardrail

if TYPE_CHECKING:
    from .context import RunContext

__all__ = ["Check", "Tripped", "run_guardrail", "first_trip", "check_tool"]

Check = tuple[str, GuardrailFunction]
"""A guardrail function with its name (for errors)."""

Tripped = tuple[str, GuardrailResult]
"""The name of the guardrail that tripped, and its result."""


async def run_guardrail(check: Check, kind: str, ctx: RunContext[Any], value: Any) -> GuardrailResult:
    """Call one guardrail; what it raises, or a result that is not a :class:`GuardrailResult`,
    ends the run as a :class:`~agentkit.errors.GuardrailError` naming it."""
    name, function = check
    try:
        # a sync check runs in a worker thread: a blocking one never holds up the request beside it
        result: Any = function(ctx, value) if is_async(function) else await run_in_thread(function, ctx, value)
        if inspect.isawaitable(result):
            result = await result
    except Exception as e:
        raise GuardrailError(
            f"The {kind} guardrail {name!r} raised {type(e).__name__}: {e}",
            guardrail=name,
            kind=kind,
            messages=ctx.messages,
            usage=ctx.usage,
        ) from e
    if not isinstance(result, GuardrailResult):
        raise GuardrailError(
            f"The {kind} guardrail {name!r} must return a GuardrailResult, not {type(result).__name__}.",
            guardrail=name,
            kind=kind,
            messages=ctx.messages,
            usage=ctx.usage,
        )
    return result


async def first_trip(checks: Sequence[Check], kind: str, ctx: RunContext[Any], value: Any) -> Tripped | None:
    """Run ``checks`` concurrently: the first to trip (the others are cancelled), or None when all
    pass. A lone check runs without a task of its own."""
    if len(checks) == 1:
        result = await run_guardrail(checks[0], kind, ctx, value)
        return (checks[0][0], result) if result.tripped else None
    tasks = [asyncio.ensure_future(run_guardrail(check, kind, ctx, value)) for check in checks]
    try:
        pending: set[asyncio.Future[GuardrailResult]] = set(tasks)
        while pending:
            _done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for check, task in zip(checks, tasks, strict=True):  # in the order given, when several end together
                if task.done() and task not in pending:
                    result = task.result()  # a guardrail's error ends the run
                    if result.tripped:
                        return check[0], result
        return None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def check_tool(
    tool: str, guardrails: Sequence[ToolGuardrail], stage: Literal["before", "after"], ctx: RunContext[Any], value: Any
) -> None:
    """A tool's ``before`` checks (of its arguments) or ``after`` checks (of its result). A trip
    raises :class:`~agentkit.errors.ModelRetry` (the model reads the guardrail's message; a failed
    call), or :class:`~agentkit.errors.GuardrailTripped` when its result says ``halt=True``."""
    checks: list[Check] = []
    for guardrail in guardrails:
        function = guardrail.before if stage == "before" else guardrail.after
        if function is not None:
            checks.append((guardrail.name, function))
    tripped = await first_trip(checks, "tool", ctx, value) if checks else None
    if tripped is None:
        return
    name, result = tripped
    if result.halt:
        reason = f": {result.message}" if result.message else "."
        raise GuardrailTripped(
            f"The tool guardrail {name!r} stopped the run at a call of {tool!r}{reason}",
            guardrail=name,
            kind="tool",
            info=result.info,
            messages=ctx.messages,
            usage=ctx.usage,
        )
    if result.message:
        raise ModelRetry(result.message)
    if stage == "before":
        raise ModelRetry(f"The guardrail {name!r} blocked this call of {tool!r}: it was not run. Do not retry it unchanged.")
    raise ModelRetry(f"The guardrail {name!r} withheld the result of this call of {tool!r}.")
