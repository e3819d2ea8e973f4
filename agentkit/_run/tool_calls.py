"""One turn's tool calls: sort them (the output tool, handoffs and unknown tools are answered at
once), ask for approval, run them concurrently with an event as each starts, reports progress
and ends, then append the results in call order and count the retry budgets. A sub-agent that
pauses for approval pauses this run too."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Protocol, Union

from ..content import PART_TYPES, ContentPart, pull_parts
from ..context import RunContext
from ..errors import (
    ApprovalRequired,
    GuardrailTripped,
    HookError,
    ModelRetry,
    ToolExecutionError,
    ToolRetriesExceeded,
    UsageLimitExceeded,
    UserError,
)
from ..events import ToolCallsStep, ToolExecutionStarted, ToolProgress, ToolResult
from ..hooks import Substitute, Veto
from ..messages import AssistantMessage, Message, ToolCall, ToolMessage
from ..output import OutputInvalid
from ..tools import Tool, ToolArgumentsError, split_result
from .decide import Final, HandOff, Pause
from .hooks import call_hook
from .live import LiveRun
from .state import Approval

__all__ = ["TurnCalls"]

logger = logging.getLogger("agentkit")

_UNKNOWN_TOOL = "<unknown tool>"
_ENDS_RUN = (UsageLimitExceeded, GuardrailTripped, HookError, UserError)  # in a call or its sub-agent: the run ends
Job = tuple[int, Tool[Any, Any], ToolCall]
ToolEvent = Union[ToolCallsStep, ToolExecutionStarted, ToolProgress, ToolResult]


class _Inline:
    """A lone call run inline (no task, no generator), for a caller that does not watch tool
    events (``run()``, ``iter()``): the :class:`ToolCallsStep`, then nothing more once it ended."""

    __slots__ = ("_step", "_turn")

    def __init__(self, turn: TurnCalls) -> None:
        self._turn: TurnCalls | None = turn
        self._step = True

    def __aiter__(self) -> _Inline:
        return self

    async def __anext__(self) -> ToolEvent:
        turn = self._turn
        if turn is None:
            raise StopAsyncIteration
        if self._step:
            self._step = False
            return turn.begin()
        self._turn = None
        await turn._call(turn.jobs[0], _unwatched)
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._turn = None


def _unwatched(event: object) -> None:
    """Where the events of an inline call go: nobody watches them."""


class _Paused:
    """A job's sub-agent paused for approval: the job is over, without a result."""


_PAUSED = _Paused()


class _Failed:
    """A job raised something that ends the run; the executor re-raises it."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ToolEvents(Protocol):
    """What :meth:`TurnCalls.execute` returns: the turn's tool events; closable (cancels the calls)."""

    def __aiter__(self) -> AsyncIterator[ToolEvent]: ...

    async def aclose(self) -> None: ...


class TurnCalls:
    """The calls of one model turn, from sorting to the retry budgets."""

    def __init__(self, run: LiveRun, calls: list[ToolCall]) -> None:
        self.run = run
        self.calls = calls
        self.results: list[ToolMessage | None] = [None] * len(calls)
        self.jobs: list[Job] = []
        self.failed: set[str] = set()
        self.succeeded: set[str] = set()
        self.final: Final | None = None
        self.handoff: HandOff | None = None
        self.paused: dict[str, ApprovalRequired] = {}
        self.output_error: OutputInvalid | None = None
        self.output_raw: str | None = None

    # -- 1. sort -----------------------------------------------------------------------------
    def sort(self) -> list[ToolResult]:
        """Answer the output tool and unknown tools at once; keep the rest as jobs. Returns the
        events of the calls answered here."""
        spec = self.run.spec
        output_tool = spec.output_tool
        handoffs = spec.handoffs
        for i, call in enumerate(self.calls):
            if output_tool is not None and call.name == output_tool:
                self._final_call(i, call)
                continue
            if handoffs and call.name in handoffs:
                self._handoff_call(i, call)
                continue
            tool = spec.tools.get(call.name)
            if tool is None:
                known = ", ".join([*spec.tools, *handoffs]) or "(none)"
                self._answer(i, call, f"Unknown tool {call.name!r}. Available tools: {known}.", error=True)
                self.failed.add(_UNKNOWN_TOOL)
                continue
            self.jobs.append((i, tool, call))
        if self.final is not None:  # the run is over: don't start side effects the model no longer waits for
            for i, _tool, call in self.jobs:
                self._answer(i, call, "Not executed: the final result was given in the same turn.")
            self.jobs = []
            if self.handoff is not None:
                self._answer(
                    self.handoff.index, self.handoff.call, "Not transferred: the final result was given in the same turn."
                )
                self.handoff = None
        self._cap(spec.tool_limits.max_calls_per_turn)
        return self._answered_events()

    def _cap(self, most: int) -> None:
        """Past ``most`` calls in one turn, the rest are answered, not run (not counted as failures)."""
        if len(self.jobs) <= most:
            return
        for i, _tool, call in self.jobs[most:]:
            text = f"Not executed: at most {most} tool calls run per turn. Call it again in a later turn if it is still needed."
            self._answer(i, call, text, error=True)
        self.jobs = self.jobs[:most]

    def _final_call(self, i: int, call: ToolCall) -> None:
        output = self.run.spec.output
        assert output is not None
        if self.final is not None or self.output_raw is not None:
            self._answer(i, call, "Only one final result is used; this one was ignored.", error=True)
            return
        self.output_raw = call.arguments
        try:
            self.final = Final(output.parse(call.arguments))
            self._answer(i, call, "Final result received.")
        except OutputInvalid as e:
            self.output_error = e
            self._answer(i, call, output.retry_prompt(e.errors), error=True)

    def _handoff_call(self, i: int, call: ToolCall) -> None:
        handoff = self.run.spec.handoffs[call.name]
        if self.handoff is not None:
            self._answer(i, call, f"Not transferred: the conversation goes to {self.handoff.target.name} (one handoff per turn).")
            return
        try:
            value = handoff.parse(call.arguments)
        except ToolArgumentsError as e:
            self._answer(i, call, e.message, error=True)
            self.failed.add(call.name)
            return
        self.handoff = HandOff(handoff, value, call, i)
        self._answer(i, call, f"Transferred to {handoff.name}: it answers from here on.")

    def _answer(self, i: int, call: ToolCall, content: str, *, error: bool = False) -> None:
        self.results[i] = ToolMessage(tool_call_id=call.id, content=content, name=call.name, is_error=error)

    def _answered_events(self) -> list[ToolResult]:
        turn, path = self.run.state.turn, self.run.path
        return [
            ToolResult(m.tool_call_id, m.name or "", m.content, m.is_error, turn, path) for m in self.results if m is not None
        ]

    # -- 2. approve --------------------------------------------------------------------------
    @property
    def needs_decisions(self) -> bool:
        """Whether :meth:`approve` has anything to decide (approvals given, or a tool that requires one)."""
        return bool(self.run.approvals) or any(tool.requires_approval for _i, tool, _c in self.jobs)

    async def approve(self) -> Pause | list[ToolResult]:
        """Keep the approved jobs and answer denied ones (their events are returned); a
        :class:`Pause` when a decision is missing."""
        if not self.needs_decisions:
            return []
        approved: list[Job] = []
        pending: list[ToolCall] = []
        denied: list[ToolResult] = []
        for job in self.jobs:
            i, tool, call = job
            decision = await self._decision(tool, call)
            if decision is None:
                pending.append(call)
            elif decision is True:
                approved.append(job)
            else:
                reason = f": {decision.rstrip('.')}." if isinstance(decision, str) and decision else "."
                text = f"The user denied this call{reason} Do not retry it unchanged."
                self._answer(i, call, text)
                denied.append(ToolResult(call.id, call.name, text, False, self.run.state.turn, self.run.path))
        if pending:
            return Pause(pending)
        for call in self.calls:  # used: an id a later turn repeats gets no decision from this one
            self.run.approvals.pop(call.id, None)
        self.jobs = approved
        return denied

    async def _decision(self, tool: Tool[Any, Any], call: ToolCall) -> Approval | None:
        run = self.run
        decision = run.approvals.get(call.id)  # a decision given for any pending call counts
        if decision is not None or not tool.requires_approval:
            return True if decision is None else decision
        if run.spec.approve is not None:
            answer = run.spec.approve(call, run.tool_context(tool, call))
            decision = await answer if inspect.isawaitable(answer) else answer
        return decision

    # -- 3. execute --------------------------------------------------------------------------
    def execute(self, live: bool = True) -> ToolEvents:
        """Run the jobs concurrently; yield the :class:`ToolCallsStep`, then each start, progress
        report and result as it happens (``live=False``, for a caller that does not watch tool
        events: a lone call runs inline, without a task, and yields only the step)."""
        return self._live() if live or len(self.jobs) > 1 else _Inline(self)

    def begin(self) -> ToolCallsStep:
        """The jobs are about to run: check the tool-call limit and count them."""
        run = self.run
        run.check_tool_calls(len(self.jobs))
        return ToolCallsStep([call for _i, _t, call in self.jobs], run.state.turn, run.path)

    async def _live(self) -> AsyncGenerator[ToolEvent, None]:
        yield self.begin()
        queue: asyncio.Queue[ToolEvent | _Failed | _Paused] = asyncio.Queue()
        slots = asyncio.Semaphore(self.run.spec.tool_limits.max_concurrent)
        tasks = [asyncio.ensure_future(self._job(job, queue.put_nowait, slots)) for job in self.jobs]
        try:
            remaining = len(tasks)
            while remaining:
                event = await queue.get()
                if isinstance(event, _Failed):
                    raise event.error
                if isinstance(event, _Paused):
                    remaining -= 1
                    continue
                if isinstance(event, ToolResult) and event.path is self.run.path:  # not a sub-agent's
                    remaining -= 1
                yield event
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _job(self, job: Job, emit: Callable[[ToolEvent | _Failed | _Paused], None], slots: asyncio.Semaphore) -> None:
        try:
            async with slots:  # at most ToolLimits.max_concurrent calls run at once
                await self._call(job, emit)
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            emit(_Failed(e))

    async def _call(self, job: Job, emit: Callable[[ToolEvent | _Failed | _Paused], None]) -> None:
        i, tool, call = job
        run = self.run
        turn, path = run.state.turn, run.path
        ctx = run.tool_context(tool, call)
        ctx.progress_sink = emit
        hooks = run.spec.hooks
        message = await self._before(ctx, call) if hooks.before_tool_call else None
        ran = message is None  # a vetoed or substituted call is not the tool's failure or success
        if message is None:
            emit(ToolExecutionStarted(call.id, tool.name, call.arguments, turn, path))
            try:
                message = await self._invoke(tool, call, ctx)
            except ApprovalRequired as e:  # a sub-agent (agent.as_tool()) paused: so does this run
                self.paused[call.id] = e
                emit(_PAUSED)
                return
        for hook in hooks.after_tool_call:
            replacement = await call_hook(hook, ctx, call, message)
            if replacement is not None:  # a replaced result is a good one
                message = _result_message(call, replacement)
        if ran:
            (self.failed if message.is_error else self.succeeded).add(tool.name)
        self.results[i] = message
        emit(ToolResult(call.id, tool.name, message.content, message.is_error, turn, path))

    async def _before(self, ctx: RunContext[Any], call: ToolCall) -> ToolMessage | None:
        for hook in self.run.spec.hooks.before_tool_call:
            verdict = await call_hook(hook, ctx, call)
            if isinstance(verdict, Veto):
                return ToolMessage(tool_call_id=call.id, content=verdict.message, name=call.name, is_error=True)
            if isinstance(verdict, Substitute):
                return _result_message(call, verdict.result)
        return None

    async def _invoke(self, tool: Tool[Any, Any], call: ToolCall, ctx: RunContext[Any]) -> ToolMessage:
        try:
            value = await tool.call(call.arguments, ctx)
        except (ToolArgumentsError, ModelRetry) as e:
            return ToolMessage(tool_call_id=call.id, content=e.message, name=call.name, is_error=True)
        except (ApprovalRequired, *_ENDS_RUN):
            raise
        except Exception as e:  # a tool's failure goes back to the model, unless the agent says "raise"
            if self.run.spec.tool_errors == "raise":
                raise self.run.error(
                    ToolExecutionError,
                    f"Tool {tool.name!r} raised {type(e).__name__}: {e}",
                    tool_name=tool.name,
                    tool_call_id=call.id,
                ) from e
            logger.warning("Tool %r raised %s; the error goes back to the model.", tool.name, type(e).__name__, exc_info=True)
            text = f"Error: tool {tool.name!r} raised {type(e).__name__}: {e}. "
            text += "Fix the arguments and call it again, or continue without it."
            return ToolMessage(tool_call_id=call.id, content=text, name=call.name, is_error=True)
        return _result_message(call, value)

    # -- 4. finish ---------------------------------------------------------------------------
    def finish(self) -> list[ToolMessage]:
        """Append the results in call order and count the budgets; the results are returned."""
        run = self.run
        results = [m for m in self.results if m is not None]
        run.state.messages.extend(results)
        if self.calls is run.resumed:  # a resumed turn: some results came before the pause
            _in_call_order(run.state.messages)
        if self.output_error is not None:
            run.count_output_failure(self.output_error, self.output_raw)
        failures = run.state.tool_failures
        for name in self.succeeded - self.failed:
            failures.pop(name, None)
        for name in self.failed:
            failures[name] = failures.get(name, 0) + 1
            self._check_budget(name, failures[name], results)
        if self.paused:
            self._pause()
        return results

    def _pause(self) -> None:
        """Sub-agents paused for approval: pause this run too, their states nested in its own
        (the calls that finished keep their results; the paused ones run again on resume)."""
        run = self.run
        pending: list[ToolCall] = []
        for call_id, paused in self.paused.items():
            run.state.nested[call_id] = paused.state
            pending.extend(paused.pending)
        for usage in (run.state.usage, *run.outer):  # the paused calls run (and are counted) again on resume
            usage.tool_calls -= len(self.paused)
        names = ", ".join(sorted({c.name for c in pending}))
        raise run.error(
            ApprovalRequired,
            f"The run is paused: {len(pending)} call(s) of {names} (in a sub-agent) need approval.",
            pending=pending,
            state=run.snapshot(),
        )

    def _check_budget(self, name: str, count: int, results: list[ToolMessage]) -> None:
        run = self.run
        tool = run.spec.tools.get(name)
        budget = tool.retries if tool is not None and tool.retries is not None else run.spec.tool_retries
        if count > budget:
            last = next((m.content for m in reversed(results) if m.is_error), "")
            what = "calls of unknown tools" if name == _UNKNOWN_TOOL else f"failing calls of tool {name!r}"
            raise run.error(
                ToolRetriesExceeded,
                f"The model kept making {what} ({count} turns in a row; retry budget {budget}). Last error: {last}",
                tool_name=name,
                last_error=last,
            )


def _result_message(call: ToolCall, value: Any) -> ToolMessage:
    """A good result as a tool message: text, and the images and files the value holds (a part
    inside a dict, a nested list or a model is named in the text and sent as a part too)."""
    nested: list[ContentPart] = []
    if isinstance(value, (list, tuple)):
        value = [v if isinstance(v, PART_TYPES) else pull_parts(v, nested) for v in value]
    elif not isinstance(value, PART_TYPES):
        value = pull_parts(value, nested)
    text, parts = split_result(value)
    return ToolMessage(tool_call_id=call.id, content=text, name=call.name, attachments=[*parts, *nested])


def _in_call_order(messages: list[Message]) -> None:
    """The tool results after the last assistant message, put in the order of its calls (a turn
    resumed after a sub-agent's pause appends its results after those that came before)."""
    tail: list[ToolMessage] = []
    for m in reversed(messages):
        if not isinstance(m, ToolMessage):
            break
        tail.insert(0, m)
    start = len(messages) - len(tail)
    turn = messages[start - 1] if start else None
    if isinstance(turn, AssistantMessage):
        order = {call.id: i for i, call in enumerate(turn.tool_calls)}
        tail.sort(key=lambda m: order.get(m.tool_call_id, len(order)))
        messages[start:] = tail
