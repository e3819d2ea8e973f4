"""Bounds on one answer, in size and in time, each ending in a typed agentkit error (and what an
answer of the wrong shape raises: :data:`MALFORMED`).

* Size: ``max_response_bytes`` caps a whole (non-streamed) body, ``max_stream_bytes`` all the
  bytes of a stream, ``max_event_bytes`` one SSE line or event. A body whose ``Content-Length``
  says it is too large is refused before it is read. Passing one raises
  :class:`~agentkit.errors.ResponseParseError` naming the option.
* Time: ``request_deadline`` bounds one request from its first attempt to the end of its answer
  (retries, the waits between them and a whole stream included). Passing it raises
  :class:`~agentkit.errors.APITimeoutError` naming the option.

The deadline costs no timer per request: one :class:`_Deadlines` per event loop holds the
requests in flight and checks them on a coarse tick (an eighth of the shortest deadline, at most
one second) while any is in flight. A request whose deadline passed is cancelled where it waits
for the network (never while a stream's consumer holds control: it is stopped at its next read),
and the cancellation is turned into the typed error; any other cancellation passes through.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass
from typing import Any

from ..errors import APITimeoutError, ResponseParseError, UserError

__all__ = [
    "Limits",
    "Watch",
    "watch",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_STREAM_BYTES",
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_REQUEST_DEADLINE",
    "MALFORMED",
    "WATCH",
    "json_snippet",
]

MiB = 1024 * 1024
DEFAULT_MAX_RESPONSE_BYTES = 64 * MiB
"""A whole (non-streamed) answer: real ones are kilobytes, a few megabytes with logprobs."""
DEFAULT_MAX_STREAM_BYTES = 256 * MiB
"""All the bytes of one stream: 128k output tokens of Responses API events are ~35 MB."""
DEFAULT_MAX_EVENT_BYTES = 16 * MiB
"""One SSE line or event (a whole response object in the final Responses API event, at most)."""
DEFAULT_REQUEST_DEADLINE = 900.0
"""Seconds for one request from its first attempt to its last byte (retries and whole streams included)."""
_MAX_TICK = 1.0

MALFORMED = (AttributeError, TypeError, ValueError, LookupError, ArithmeticError, RecursionError)
"""What parsing an answer of the wrong shape raises (pydantic's ``ValidationError`` is a ``ValueError``):
models catch these around their parsing and raise :meth:`HTTPClient.malformed` instead."""

WATCH = "agentkit.deadline"
"""The key of a streaming response's ``extensions`` that holds its request's :class:`~.limits.Watch`."""


def json_snippet(data: Any, limit: int = 300) -> str:
    """The start of ``data`` as JSON (its repr if it cannot be dumped), at most ``limit`` characters."""
    try:
        text = json.dumps(data, ensure_ascii=False, default=repr)
    except (ValueError, TypeError, RecursionError):
        text = f"(a {type(data).__name__} that cannot be shown as JSON)"
    return text[:limit] + ("..." if len(text) > limit else "")


@dataclass(frozen=True)
class Limits:
    """The bounds of one client's answers (see the module docstring); checked by :meth:`make`."""

    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_stream_bytes: int = DEFAULT_MAX_STREAM_BYTES
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    request_deadline: float | None = DEFAULT_REQUEST_DEADLINE

    @classmethod
    def make(
        cls,
        max_response_bytes: int | None = None,
        max_stream_bytes: int | None = None,
        max_event_bytes: int | None = None,
        request_deadline: float | None = DEFAULT_REQUEST_DEADLINE,
    ) -> Limits:
        """Limits from options (None: the default size; ``request_deadline=None``: no deadline), or ``UserError``."""
        sizes = {
            "max_response_bytes": DEFAULT_MAX_RESPONSE_BYTES if max_response_bytes is None else max_response_bytes,
            "max_stream_bytes": DEFAULT_MAX_STREAM_BYTES if max_stream_bytes is None else max_stream_bytes,
            "max_event_bytes": DEFAULT_MAX_EVENT_BYTES if max_event_bytes is None else max_event_bytes,
        }
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UserError(f"{name} must be a positive number of bytes, not {value!r}.")
        deadline = request_deadline
        if deadline is not None:
            if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not 0 < deadline < float("inf"):
                raise UserError(f"request_deadline must be a positive number of seconds or None (no deadline), not {deadline!r}.")
            deadline = float(deadline)
        return cls(request_deadline=deadline, **sizes)

    def too_large(self, what: str, option: str, provider: str) -> ResponseParseError:
        """The error for an answer over the size ``option`` allows (``what``: "the response body", ...)."""
        limit: int = getattr(self, option)
        return ResponseParseError(
            f"{what} is larger than {option}={limit} ({_size(limit)}); reading stopped there. "
            f"Pass {option}=... to the model to allow more.",
            status=200,
            provider=provider,
        )

    def deadline_passed(self, provider: str) -> APITimeoutError:
        """The error for a request that passed ``request_deadline``."""
        return APITimeoutError(
            f"the request took longer than request_deadline={self.request_deadline:g} s (retries and the whole "
            "stream included) and was stopped. Pass request_deadline=... (seconds, or None for no deadline) "
            "to the model to allow more.",
            provider=provider,
        )


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{n} bytes"


class Watch:
    """The deadline of one request in flight.

    ``task`` is the task to cancel when the deadline passes: set while the request waits for the
    network, None while it does not (a stream's consumer holding control). ``expired`` is set
    either way, for the next read to see.
    """

    __slots__ = ("_cancelled", "_owner", "deadline", "expired", "task")

    def __init__(self, deadline: float, task: asyncio.Task[object] | None, owner: _Deadlines) -> None:
        self.deadline = deadline
        self.task = task
        self.expired = False
        self._cancelled: asyncio.Task[object] | None = None
        self._owner = owner

    def _expire(self) -> None:
        self.expired = True
        task = self.task
        # a task already being cancelled (by its caller, an outer timeout) is left to that
        if task is not None and not task.done() and not _cancelling(task):
            self._cancelled = task
            task.cancel(_MESSAGE)

    def caused(self, error: BaseException) -> bool:
        """Whether ``error`` (a ``CancelledError`` being handled) is this deadline's doing (then it is consumed).

        False when something else cancelled the task too: that cancellation goes on.
        """
        task = self._cancelled
        if task is None or not isinstance(error, asyncio.CancelledError):
            return False
        self._cancelled = None
        uncancel = getattr(task, "uncancel", None)  # Python 3.11+: cancellations are counted
        if uncancel is None:
            return error.args[:1] == (_MESSAGE,)
        return bool(uncancel() == 0)

    def close(self) -> None:
        """The request is over: stop watching it."""
        self._owner.watches.discard(self)
        task = self._cancelled
        uncancel = getattr(task, "uncancel", None)
        if uncancel is not None:  # cancelled, but it finished before the cancellation reached it
            self._cancelled = None
            uncancel()


_MESSAGE = "agentkit: request_deadline passed"


def _cancelling(task: asyncio.Task[object]) -> bool:
    """Whether ``task`` is being cancelled already (always False on Python 3.10, which does not count)."""
    cancelling = getattr(task, "cancelling", None)
    return cancelling is not None and bool(cancelling())


class _Deadlines:
    """The requests in flight on one event loop, checked every ``tick`` seconds while there are any."""

    # no reference to the loop: the registry's value would keep its weak key alive

    def __init__(self) -> None:
        self.watches: set[Watch] = set()
        self.tick = _MAX_TICK
        self._scheduled = False

    def add(self, loop: asyncio.AbstractEventLoop, seconds: float, task: asyncio.Task[object] | None) -> Watch:
        entry = Watch(loop.time() + seconds, task, self)
        self.watches.add(entry)
        if seconds < self.tick * 8:
            self.tick = max(seconds / 8, 0.001)
        if not self._scheduled:
            self._scheduled = True
            loop.call_later(self.tick, self._sweep, loop)
        return entry

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        passed = [w for w in self.watches if w.deadline <= now]
        for entry in passed:
            self.watches.discard(entry)
            entry._expire()
        self._scheduled = bool(self.watches)
        if self._scheduled:
            loop.call_later(self.tick, self._sweep, loop)


_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = weakref.WeakKeyDictionary()


def watch(seconds: float, task: asyncio.Task[object] | None) -> Watch:
    """Start watching a request of the running event loop that must end within ``seconds``.

    ``task`` (the current one, usually) is cancelled if the deadline passes while it is set on the
    watch; :meth:`Watch.caused` tells that cancellation apart, :meth:`Watch.close` ends the watch.
    """
    loop = asyncio.get_running_loop()
    deadlines = _registry.get(loop)
    if deadlines is None:
        deadlines = _registry[loop] = _Deadlines()
    return deadlines.add(loop, seconds, task)
