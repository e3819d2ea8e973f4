"""Input and output guardrails in the loop.

A new run's first model request is wrapped in :class:`GuardedRequest`: the ``run_first``
guardrails finish before it is sent; the others run beside it, in a task, while another task
reads the response. A trip cancels the reading task at once (the HTTP connection closes, even
while the caller is busy with an event) and the run raises
:class:`~agentkit.errors.GuardrailTripped`. The response's last event
(:class:`~agentkit.events.ResponseComplete`) waits for every guardrail to pass, so nothing of
the first answer is acted on before. :func:`check_output` runs the output guardrails before the
result is returned. Runs without guardrails never get here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Union

from .._guardrail_calls import Check, Tripped, first_trip
from ..errors import GuardrailTripped
from ..events import ModelStreamEvent, ResponseComplete
from ..messages import UserMessage
from .live import LiveRun

if TYPE_CHECKING:
    from .loop import ModelEvents

__all__ = ["GuardedRequest", "check_output", "run_input"]


class _End:
    """The response's events ended (the reading task put this last)."""


class _Raise:
    """The request failed (or a guardrail tripped): raise ``error`` to the caller."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = _End()
_Item = Union[ModelStreamEvent, _End, _Raise]


def run_input(run: LiveRun) -> Any:
    """What input guardrails check: the prompt when the run got one, else its messages (a copy).

    A run started with a prompt has it as its last message, and counts it among its new
    messages; a run started with ``messages=`` alone has no new message yet."""
    state = run.state
    messages = state.messages
    last = messages[-1] if messages else None
    if state.new_message_index < len(messages) and isinstance(last, UserMessage) and isinstance(last.content, str):
        return last.content
    return list(messages)


def _tripped(run: LiveRun, kind: str, tripped: Tripped) -> GuardrailTripped:
    name, result = tripped
    reason = f": {result.message}" if result.message else "."
    message = f"The {kind} guardrail {name!r} tripped{reason}"
    return run.error(GuardrailTripped, message, guardrail=name, kind=kind, info=result.info)


async def check_output(run: LiveRun, output: Any) -> None:
    """Run the agent's output guardrails (at once) on the final output; raise when one trips."""
    checks: list[Check] = [(g.name, g.function) for g in run.spec.output_guardrails]
    tripped = await first_trip(checks, "output", run.context(), output)
    if tripped is not None:
        raise _tripped(run, "output", tripped)


class GuardedRequest:
    """The first request's events (a :data:`~agentkit._run.loop.Send` result), with the run's
    input guardrails raced against them."""

    __slots__ = ("_error", "_events", "_guards", "_iter", "_queue", "_reader", "_run", "_started")

    def __init__(self, run: LiveRun, events: ModelEvents) -> None:
        self._run = run
        self._events = events
        self._iter: AsyncIterator[ModelStreamEvent] | None = None  # set: no guardrail left, events read directly
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._guards: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._started = False

    def __aiter__(self) -> GuardedRequest:
        return self

    async def __anext__(self) -> ModelStreamEvent:
        if not self._started:
            self._started = True
            await self._start()
        if self._iter is not None:
            return await self._iter.__anext__()
        item = await self._queue.get() if self._error is None else _END
        if self._error is not None:  # a guardrail tripped (or raised): whatever was read is dropped
            raise self._error
        if isinstance(item, (_End, _Raise, ResponseComplete)):  # nothing of the answer is acted on before they all pass
            error = await self._settled()
            if error is not None:  # a trip explains a failed request better than its error
                if isinstance(item, ResponseComplete):  # dropped, but its tokens were spent
                    self._run.add_usage(item.response.usage)
                raise error
            if isinstance(item, _Raise):
                raise item.error
            if isinstance(item, _End):
                raise StopAsyncIteration
        return item

    async def _settled(self) -> BaseException | None:
        """Wait for the guardrails to end: the trip (or a guardrail's error), or None when they passed."""
        assert self._guards is not None
        await asyncio.wait((self._guards,))
        return self._error

    async def _start(self) -> None:
        """The ``run_first`` guardrails, then the request beside the others (or alone)."""
        run = self._run
        guardrails = run.spec.input_guardrails
        value = run_input(run)
        first: list[Check] = [(g.name, g.function) for g in guardrails if g.run_first]
        beside: list[Check] = [(g.name, g.function) for g in guardrails if not g.run_first]
        if first:
            tripped = await first_trip(first, "input", run.context(), value)
            if tripped is not None:
                raise _tripped(run, "input", tripped)
        if not beside:
            self._iter = self._events.__aiter__()
            return
        self._reader = asyncio.ensure_future(self._read())
        self._guards = asyncio.ensure_future(self._watch(beside, value))

    async def _read(self) -> None:
        """Read the response into the queue (in a task of its own, so a trip can cancel it)."""
        put = self._queue.put_nowait
        try:
            async for event in self._events:
                put(event)
        except Exception as e:
            put(_Raise(e))
            return
        put(_END)

    async def _watch(self, checks: list[Check], value: Any) -> None:
        """Run the guardrails; on a trip (or an error) cancel the request at once."""
        run = self._run
        try:
            tripped = await first_trip(checks, "input", run.context(), value)
            if tripped is None:
                return
            self._error = _tripped(run, "input", tripped)
        except Exception as e:  # a guardrail that raised: GuardrailError
            self._error = e
        assert self._reader is not None
        self._reader.cancel()
        self._queue.put_nowait(_END)  # wakes a caller waiting for the next event

    async def aclose(self) -> None:
        """Cancel what still runs (the request, the guardrails) and close the response."""
        tasks = [task for task in (self._guards, self._reader) if task is not None]
        for task in tasks:
            if task is not self._reader or self._error is None:  # a trip cancelled the reader: once
                task.cancel()  # (twice would cut short its closing of the response)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._events.aclose()
