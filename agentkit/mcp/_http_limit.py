"""A size limit on the messages an MCP server sends over HTTP.

The SDK reads a JSON answer whole (``response.aread()``), however long: a 200 MB result took
200 MB and more before anything looked at it. :func:`limit_responses` gives the SDK's HTTP client
a response hook that wraps each response's byte stream in a counter: a JSON (or any other) body
may have at most ``max_message_bytes`` bytes, an event stream at most that many bytes per event
(a listening stream may carry any number of events). Past it the stream raises
:func:`oversize_error`'s exception, which the SDK reports as the error of the request the answer
belonged to, and closes the response: the rest is never read. ``oversize_message`` finds that
error in what the SDK makes of it, so the call fails as a call over stdio fails on an oversized
message.

The hook also asks for uncompressed answers (``Accept-Encoding: identity``): the limit counts
bytes as they arrive.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["limit_responses", "oversize_message", "too_large"]

_OVERSIZE = re.compile(
    r"the MCP server sent a message of [^;]*max_message_bytes=[\d,]+[^;]*; "
    r"it was (?:skipped|not read) \(its answer is too large\)"
)
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")  # a blank line, with one of SSE's line endings throughout
_errors: dict[str, type[Exception]] = {}


def too_large(limit: int) -> str:
    """What the call of a request whose answer passed ``limit`` bytes fails with (over HTTP)."""
    return (
        f"the MCP server sent a message of more than max_message_bytes={limit:,} bytes; "
        "it was not read (its answer is too large)"
    )


def oversize_message(message: str) -> str | None:
    """The oversized-message error (of either transport) inside an error message the SDK built, if it is one."""
    found = _OVERSIZE.search(message)
    return found[0] if found else None


class _EventSizes:
    """The sizes of the events of an event stream, fed in chunks (an event ends at a blank line)."""

    def __init__(self) -> None:
        self.size = 0  # of the event being read, so far
        self.tail = b""  # the last bytes seen: a blank line may begin in one chunk and end in the next

    def largest(self, chunk: bytes) -> int:
        """The largest size of an event that ``chunk`` ends or continues."""
        data = self.tail + chunk
        start = len(self.tail)  # where the bytes not counted yet begin
        largest = 0
        for end in _EVENT_END.finditer(data):
            if end.end() > start:
                largest = max(largest, self.size + end.end() - start)
                self.size, start = 0, end.end()
        self.size += len(data) - start
        self.tail = data[-3:]
        return max(largest, self.size)


def _error_class(httpx: Any) -> type[Exception]:
    """An exception the SDK reports with its message: its HTTP library's ``StreamError`` (JSON) and ``SSEError`` (events)."""
    name = httpx.__name__
    if name not in _errors:
        bases: list[type[Exception]] = [httpx.StreamError]
        sse = getattr(httpx, "SSEError", None)
        if sse is None:  # httpx (mcp 1.x) reads events with httpx-sse
            sse = getattr(importlib.import_module("httpx_sse"), "SSEError", None)
        if isinstance(sse, type) and issubclass(sse, Exception):
            bases.append(sse)
        _errors[name] = type("MessageTooLarge", tuple(bases), {"__module__": __name__})
    return _errors[name]


def limit_responses(client: Any, limit: int) -> Any:
    """Make ``client`` (the SDK's ``httpx`` or ``httpx2`` ``AsyncClient``) stop reading any answer past ``limit`` bytes."""
    httpx = importlib.import_module(type(client).__module__.partition(".")[0])
    error = _error_class(httpx)

    class Counted(httpx.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, stream: Any, events: bool, declared: str | None) -> None:
            self.stream, self.events, self.declared = stream, events, declared

        async def __aiter__(self) -> AsyncIterator[bytes]:
            if self.declared is not None and self.declared.isdigit() and int(self.declared) > limit:
                raise error(too_large(limit))  # its Content-Length says so: not a byte is read
            sizes = _EventSizes() if self.events else None
            size = 0
            async for chunk in self.stream:
                size = sizes.largest(chunk) if sizes is not None else size + len(chunk)
                if size > limit:
                    raise error(too_large(limit))
                yield chunk

        async def aclose(self) -> None:
            await self.stream.aclose()

    async def count(response: Any) -> None:
        events = response.headers.get("content-type", "").lower().startswith("text/event-stream")
        response.stream = Counted(response.stream, events, None if events else response.headers.get("content-length"))

    client.headers["Accept-Encoding"] = "identity"
    client.event_hooks["response"].append(count)
    return client
