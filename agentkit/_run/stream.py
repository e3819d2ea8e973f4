"""What the public run methods hand back: a stream of events, a step-by-step run, their sync
twins, and partial structured output while an answer streams in."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

from .._sync import run_sync
from ..errors import UserError
from ..events import (
    AgentEvent,
    AgentHandoff,
    FinalOutput,
    FinalResultStep,
    ModelRequestStep,
    ModelResponseStep,
    PartialOutput,
    Step,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallsStep,
    ToolCallStarted,
    ToolResultsStep,
)
from ..output import OutputSchema
from .live import LiveRun
from .loop import LoopEvent
from .state import RunResult, RunState

__all__ = ["AgentStream", "SyncAgentStream", "AgentRun"]

OutputT = TypeVar("OutputT")

_STEPS = (ModelRequestStep, ModelResponseStep, ToolCallsStep, ToolResultsStep)  # AgentHandoff is both


class _PartialParser:
    """Best-so-far structured output while the answer streams in (text, or the output tool's arguments)."""

    def __init__(self, output: OutputSchema[Any], output_tool: str | None) -> None:
        self._output = output
        self._tool = output_tool
        self._tool_call_id: str | None = None
        self._buffer: list[str] = []
        self._last: Any = None

    def feed(self, event: LoopEvent) -> PartialOutput[Any] | None:
        if self._tool is None:
            if not isinstance(event, TextDelta):
                return None
            self._buffer.append(event.text)
        elif isinstance(event, ToolCallStarted):
            if event.name == self._tool and self._tool_call_id is None:
                self._tool_call_id = event.tool_call_id
            return None
        elif isinstance(event, ToolCallArgsDelta) and event.tool_call_id == self._tool_call_id:
            self._buffer.append(event.delta)
        else:
            return None
        data, value = self._output.parse_partial("".join(self._buffer))
        if data is None or data == self._last:
            return None
        self._last = data
        return PartialOutput(data, value, event.turn, event.path)


def _parser(run: LiveRun) -> _PartialParser | None:
    output = run.spec.output
    return _PartialParser(output, run.spec.output_tool) if output is not None else None


class AgentStream(Generic[OutputT]):
    """A streaming run: an async iterator of :data:`~agentkit.events.AgentEvent` and an async
    context manager that cleans up (closes the HTTP response, cancels tools) on exit.

    Tool events arrive live: :class:`~agentkit.events.ToolExecutionStarted` as each call starts,
    :class:`~agentkit.events.ToolProgress` as it reports, :class:`~agentkit.events.ToolResult`
    the moment it ends (completion order)."""

    def __init__(self, events: AsyncGenerator[LoopEvent, None], run: LiveRun) -> None:
        self._events = events
        self._run = run
        self._partial = _parser(run)
        self._queued: PartialOutput[Any] | None = None

    async def __aenter__(self) -> AgentStream[OutputT]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AgentStream[OutputT]:
        return self

    async def __anext__(self) -> AgentEvent:
        if self._queued is not None:
            update, self._queued = self._queued, None
            return update
        while True:
            event = await self._events.__anext__()
            if isinstance(event, _STEPS):
                continue
            if isinstance(event, FinalResultStep):
                return FinalOutput(event.output, event.turn, event.usage, event.path)
            if isinstance(event, AgentHandoff):  # the new agent's output type from here on
                self._partial = _parser(self._run)
            elif self._partial is not None and event.path is self._run.path:  # not a sub-agent's text
                self._queued = self._partial.feed(event)
            return event

    async def aclose(self) -> None:
        """Stop the run: close the response being read and cancel what is running."""
        await self._events.aclose()

    async def text(self) -> AsyncIterator[str]:
        """Only the answer's text, as it arrives (the run still completes; see :attr:`result`)."""
        async for event in self:
            if isinstance(event, TextDelta):
                yield event.text

    @property
    def done(self) -> bool:
        """Whether the run has finished with a result."""
        return self._run.result is not None

    @property
    def result(self) -> RunResult[OutputT]:
        """The run's :class:`RunResult`, once the stream has been consumed to the end."""
        if self._run.result is None:
            raise UserError("The run has not finished: iterate the stream to its end before reading .result.")
        return self._run.result


class SyncAgentStream(Generic[OutputT]):
    """:class:`AgentStream` for synchronous code: iterate it; then read :attr:`result`."""

    def __init__(self, stream: AgentStream[OutputT]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[AgentEvent]:
        stream = self._stream

        async def next_event() -> AgentEvent:
            return await stream.__anext__()

        try:
            while True:
                try:
                    event = run_sync(next_event())
                except StopAsyncIteration:
                    return
                yield event
        finally:
            run_sync(stream.aclose())

    def __enter__(self) -> SyncAgentStream[OutputT]:
        return self

    def __exit__(self, *exc: object) -> None:
        run_sync(self._stream.aclose())

    @property
    def result(self) -> RunResult[OutputT]:
        """The run's :class:`RunResult`, once iterated to the end."""
        return self._stream.result


class AgentRun(Generic[OutputT]):
    """A run taken one step at a time (``agent.iter()``)::

        async with agent.iter("Weather in Paris?") as run:
            async for step in run:       # ModelRequestStep, ModelResponseStep, ToolCallsStep, ...
                print(run.state.turn, step)
            print(run.result.output)

    Between steps, :attr:`state` shows the messages, usage and turn so far; ``break`` (or
    :meth:`cancel`) stops the run, closing its response and cancelling running tools.
    """

    def __init__(self, events: AsyncGenerator[LoopEvent, None], run: LiveRun) -> None:
        self._events = events
        self._run = run

    async def __aenter__(self) -> AgentRun[OutputT]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cancel()

    def __aiter__(self) -> AgentRun[OutputT]:
        return self

    async def __anext__(self) -> Step:
        async for event in self._events:
            if isinstance(event, (*_STEPS, AgentHandoff, FinalResultStep)):
                return event
        raise StopAsyncIteration

    async def next(self) -> Step | None:
        """The next step, or None once the run has ended."""
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            return None

    async def cancel(self) -> None:
        """Stop the run here (no-op when it has ended): the response being read is closed and
        running tools are cancelled."""
        await self._events.aclose()

    @property
    def state(self) -> RunState:
        """The run so far: messages, usage, turn, retry counts (live: do not modify it)."""
        return self._run.state

    @property
    def result(self) -> RunResult[OutputT] | None:
        """The :class:`RunResult` once the run has ended with a final answer, else None."""
        return self._run.result
