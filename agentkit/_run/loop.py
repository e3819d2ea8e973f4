"""The loop: a model turn, then :func:`~agentkit._run.decide.decide` — a final answer, tool calls
to run, a re-ask, or a pause — until the run ends. A turn's calls may hand the run to another
agent: the loop goes on with that agent's spec.

There is one implementation and it always yields events: ``agent.run()`` drains it,
``agent.run_stream()`` passes the stream events on, ``agent.iter()`` the steps. What differs is
only the :class:`Driver`: one request per turn (:data:`PLAIN`) or a streamed one with live tool
events (:data:`STREAMING`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, Union

from ..errors import ApprovalRequired, HookError, UnexpectedModelBehavior
from ..events import (
    AgentEvent,
    AgentHandoff,
    FinalResultStep,
    ModelRequestStep,
    ModelResponseStep,
    ModelStreamEvent,
    ResponseComplete,
    Step,
    ToolResult,
    ToolResultsStep,
)
from ..messages import UserMessage
from ..models.base import Model, ModelRequest, ModelResponse
from .decide import CallTools, Decision, Final, HandOff, Pause, Reask, decide
from .guard import GuardedRequest, check_output
from .hooks import call_hook
from .live import LiveRun
from .persist import load, save
from .tool_calls import TurnCalls

logger = logging.getLogger("agentkit")

__all__ = ["run_loop", "drain", "RequestOnce", "stream_request", "Send", "Driver", "PLAIN", "STREAMING", "LoopEvent"]

Send = Callable[[Model, ModelRequest], "ModelEvents"]
"""How one model request is made: it yields the response's events, ending in ``ResponseComplete``."""

LoopEvent = Union[AgentEvent, Step]


class ModelEvents(Protocol):
    """What a :data:`Send` returns: the response's events, ending in ``ResponseComplete``; closable."""

    def __aiter__(self) -> AsyncIterator[ModelStreamEvent]: ...

    async def aclose(self) -> None: ...


class RequestOnce:
    """One plain request: its only event is the complete response.

    A small iterator rather than an async generator: a run keeps one alive per request, and a
    generator's bookkeeping (weak references, finalizer hooks) shows in the garbage collector's
    work when a thousand runs are in flight."""

    __slots__ = ("_model", "_request")

    def __init__(self, model: Model, request: ModelRequest) -> None:
        self._model = model
        self._request: ModelRequest | None = request

    def __aiter__(self) -> RequestOnce:
        return self

    async def __anext__(self) -> ModelStreamEvent:
        request, self._request = self._request, None
        if request is None:
            raise StopAsyncIteration
        return ResponseComplete(await self._model.request(request))

    async def aclose(self) -> None:
        self._request = None


def stream_request(model: Model, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
    """One streamed request: every delta, then the complete response."""
    return model.stream(request)


@dataclass(frozen=True)
class Driver:
    """How a run meets its caller: how each model request is made (``send``), and whether tool
    events must arrive live (``live_tools``: a stream shows each start, progress report and
    result as it happens; ``run()`` and ``iter()`` only see a turn's results, so a lone call
    runs inline, without a task of its own)."""

    send: Send
    live_tools: bool


PLAIN = Driver(RequestOnce, live_tools=False)
"""``run()`` and ``iter()``: one request per turn."""

STREAMING = Driver(stream_request, live_tools=True)
"""``run_stream()``: streamed requests, live tool events."""


async def run_loop(
    run: LiveRun, driver: Driver, connect: Callable[[LiveRun], Awaitable[None]] | None = None
) -> AsyncGenerator[LoopEvent, None]:
    """The whole run, with the run-level hooks around it; ``run.result`` is set at the end.

    ``connect`` (when given) runs first: the agent connects its toolsets there. Only the model's
    events and the tools' events come from nested iterators; every other step is a plain call,
    so an event passes through two generators at most.
    """
    state, hooks = run.state, run.spec.hooks
    event: LoopEvent | None = None  # one name for every event: a finished turn's last one is not kept alive
    run.live_tools = driver.live_tools
    try:
        await _start(run, connect)
        hooks = run.spec.hooks
        decision: Decision | None = CallTools(run.resumed) if run.resumed else None  # a resumed run starts with its calls
        while not isinstance(decision, Final):
            if decision is None:
                request = next_request(run)
                request = await _prepare(run, request) if hooks.processors or hooks.before_model_request else request
                yield ModelRequestStep(request, state.turn, run.path)
                response = None
                events = driver.send(run.spec.model, request)
                if run.spec.input_guardrails and state.turn == 1 and not run.resumed:  # a new run's first request
                    events = GuardedRequest(run, events)
                try:
                    async for event in events:
                        event.turn = state.turn
                        event.path = run.path
                        yield event
                        if isinstance(event, ResponseComplete):
                            response = event.response
                finally:
                    await events.aclose()
                del events, request  # not kept alive through the tool calls
                event = None
                decision = take_response(run, response)
                if hooks.after_model_response or run.session is not None:
                    await _after_response(run, response)
                yield ModelResponseStep(response, state.turn, run.path)  # type: ignore[arg-type]  # take_response raised if None
            else:
                assert isinstance(decision, CallTools)  # Pause is raised by approve_calls, never decided here
                turn = TurnCalls(run, decision.calls)
                for event in turn.sort() + (await approve_calls(run, turn) if turn.needs_decisions else []):
                    yield event
                if turn.jobs:
                    executed = turn.execute(driver.live_tools)
                    try:
                        async for event in executed:
                            yield event
                    finally:
                        await executed.aclose()
                    del executed
                event = None
                step = ToolResultsStep(turn.finish(), state.turn, run.path)
                await save(run)  # stored before the step is seen: a caller may stop there
                yield step
                if turn.handoff is not None:
                    yield await hand_off(run, turn.handoff)
                    hooks = run.spec.hooks
                decision = turn.final
                del turn  # not kept alive through the next model request
        await _finish(run, decision.output)
        yield FinalResultStep(decision.output, state.turn, state.usage, run.path)
    except Exception as error:
        await _failed(run, error)
        raise
    finally:
        _untraced(run)


async def drain(events: AsyncGenerator[LoopEvent, None]) -> None:
    """Run the loop to its end, ignoring its events (``agent.run()``); closed whatever happens."""
    try:
        async for _ in events:
            pass
    finally:
        await events.aclose()


async def _start(run: LiveRun, connect: Callable[[LiveRun], Awaitable[None]] | None) -> None:
    if connect is not None:
        await connect(run)
    name = run.state.agent
    if name is not None and name != run.spec.label:  # resumed after a handoff: with the agent it was with
        await run.enter(run.find_agent(name), name)
    if run.session is not None and not run.resumed:
        await load(run)
    for hook in run.spec.hooks.on_run_start:
        await call_hook(hook, run.context())


async def _finish(run: LiveRun, output: Any) -> None:
    """The output guardrails, the result, then ``on_run_end`` (before the last step: a caller may stop there)."""
    if run.spec.output_guardrails:
        await check_output(run, output)
    run.finish(output)
    for hook in run.spec.hooks.on_run_end:
        await call_hook(hook, run.context(), run.result)


def _untraced(run: LiveRun) -> None:
    """Instrumented: end the spans a cancellation, an early stop or a hook's error left open; logged
    (the run log is imported): mark a run no hook ended as cancelled."""
    if run.trace is not None:
        run.trace.abandon()
    runlog = sys.modules.get("agentkit.runlog")
    if runlog is not None:
        runlog.abandoned(run)


async def _failed(run: LiveRun, error: Exception) -> None:
    if run.session is not None:  # what happened before the error (or the pause) is kept
        try:
            await save(run)
        except Exception:
            logger.exception("The run failed, and storing its last messages in the session failed too.")
    if isinstance(error, HookError):
        return
    for hook in run.spec.hooks.on_error:
        await call_hook(hook, run.context(), error)


def next_request(run: LiveRun) -> ModelRequest:
    """The next model request (limits checked, the turn counted), before history processors and hooks."""
    run.check_request()
    spec, state = run.spec, run.state
    state.turn += 1
    return ModelRequest(state.messages, spec.tool_defs, run.settings, spec.native, spec.output_tool)


def take_response(run: LiveRun, response: ModelResponse | None) -> Decision | None:
    """The response into the history and the usage; the decision it leads to (None after a
    :class:`Reask`: the correction request is in the history, the model is asked again)."""
    if response is None:
        raise run.error(UnexpectedModelBehavior, "the model's stream ended without a response")
    state = run.state
    run.add_usage(response.usage)
    run.model_name = response.model_name
    message = response.message
    state.messages.append(message)
    decision = decide(run.spec, message)
    if isinstance(decision, CallTools):
        run.answered_call()
    elif isinstance(decision, Reask):
        run.count_output_failure(decision.error, decision.raw)
        state.messages.append(UserMessage(content=decision.prompt))
        return None
    return decision


async def _after_response(run: LiveRun, response: ModelResponse | None) -> None:
    await save(run)  # the answer (and a re-ask) stored before the hooks see it
    for hook in run.spec.hooks.after_model_response:
        await call_hook(hook, run.context(), response)


async def _prepare(run: LiveRun, request: ModelRequest) -> ModelRequest:
    hooks = run.spec.hooks
    ctx = run.context()
    if hooks.processors:
        request.messages = await hooks.process_history(ctx, list(request.messages))
    for hook in hooks.before_model_request:
        changed = await call_hook(hook, ctx, request)
        if changed is not None:
            if not isinstance(changed, ModelRequest):
                raise HookError(
                    f"Hook {hook[0]} must return a ModelRequest or None, not {type(changed).__name__}.",
                    hook=hook[0],
                    messages=run.state.messages,
                    usage=run.state.usage,
                )
            request = changed
    return request


async def hand_off(run: LiveRun, handoff: HandOff) -> AgentHandoff:
    """The model called a handoff tool: tell ``on_handoff``, then go on with the target agent."""
    target = handoff.target
    run.check_handoff(target.name, handoff.call.id)
    if target.on_handoff is not None:
        ctx = run.context()
        ctx.tool_name, ctx.tool_call_id = handoff.call.name, handoff.call.id
        await target.notify(ctx, handoff.value)
    source, to = await run.hand_off(target.agent, target.name, target.input_filter)
    run.saved = len(run.state.messages)  # the session keeps the whole record; the filter only changes what the target sees
    return AgentHandoff(source, to, handoff.call.id, run.state.turn, run.path)


async def approve_calls(run: LiveRun, turn: TurnCalls) -> list[ToolResult]:
    """Approve one turn's sorted calls, or pause the run when a decision is missing; the events
    of the denied calls."""
    approved = await turn.approve()
    if isinstance(approved, Pause):
        names = ", ".join(sorted({c.name for c in approved.pending}))
        raise run.error(
            ApprovalRequired,
            f"The run is paused: {len(approved.pending)} call(s) of {names} need approval.",
            pending=approved.pending,
            state=run.snapshot(),
        )
    return approved
