"""Reading one streamed (SSE) answer: JSON payloads in, agentkit errors out.

Shared by the chat-completions and Responses API clients, which differ only in what the
payloads mean (their assemblers). Here: the non-SSE fallback (a server that ignored
``stream: true``), ``[DONE]``, payloads that are not JSON, an idle stream
(:class:`~agentkit.errors.APITimeoutError`), a broken connection
(:class:`~agentkit.errors.StreamEndedEarly`, without ``partial``: the caller adds what it
assembled), reading the end of the body afterwards so the connection can be reused, and the
bounds of :mod:`~agentkit._http.limits`: ``max_stream_bytes`` in all, ``max_event_bytes`` per
line or event, and the request's deadline (checked at every read, and a read that waits past it
is cancelled).

The SSE format is read straight from the bytes (UTF-8 never has a CR or LF inside a character):
lines end at ``\\r\\n``, ``\\r`` or ``\\n``; ``data:`` lines accumulate until a blank line ends the
event; ``event:`` names it; comments (``:``) and other fields are ignored; an event the body ends
in the middle of is dropped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress
from typing import Any

import httpx

from ..errors import APITimeoutError, ResponseParseError, StreamEndedEarly
from .client import HTTPClient
from .limits import WATCH, Watch
from .transport import RawResponse, read_capped

__all__ = ["SSEReader", "DRAIN_TIMEOUT", "DRAIN_BYTES"]

DRAIN_TIMEOUT = 1.0
"""Seconds to wait, after the last payload, for the end of the body (so the connection can be reused)."""
DRAIN_BYTES = 1 << 20
"""Bytes read at most after the last payload; a longer tail closes the connection instead."""


class SSEReader:
    """The JSON payloads of one streaming response.

    >>> reader = SSEReader(response, http)
    >>> if not reader.is_sse:
    ...     data = await reader.json_body()            # one JSON answer instead of a stream
    >>> async for event_name, payload in reader.payloads():
    ...     ...                                        # ends at [DONE] or at the end of the body
    >>> reader.saw_done
    """

    def __init__(self, response: httpx.Response, http: HTTPClient) -> None:
        self.response = response
        self.saw_done = False
        self._http = http
        self._watch: Watch | None = response.extensions.get(WATCH)
        content_type = response.headers.get("content-type", "").lower()
        self.is_sse = "text/event-stream" in content_type

    async def json_body(self) -> Any:
        """The whole body of a non-SSE answer, decoded (an ``error`` object in it raises)."""
        http = self._http
        watched = self._watch
        if watched is not None:
            self._check(watched)
            watched.task = asyncio.current_task()
        try:
            with self._errors():
                content, truncated = await read_capped(self.response, http.limits.max_response_bytes)
        except asyncio.CancelledError as e:
            if watched is not None and watched.caused(e):
                raise http.limits.deadline_passed(http.provider) from None
            raise
        finally:
            if watched is not None:
                watched.task = None
        if truncated:
            raise http.limits.too_large("the response body", "max_response_bytes", http.provider)
        response = self.response
        return http.decode(RawResponse(response.status_code, response.headers, content))

    async def payloads(self) -> AsyncGenerator[tuple[str, Any], None]:
        """``(SSE event name, decoded JSON)`` per event, until ``[DONE]`` or the end of the body.

        When the consumer stops early (``aclose``), the rest of the body is read for at most
        :data:`DRAIN_TIMEOUT` seconds and :data:`DRAIN_BYTES`, so the connection goes back to the pool.
        """
        limits = self._http.limits
        max_total = limits.max_stream_bytes
        watched = self._watch
        events = _Events(limits.max_event_bytes)
        total = 0
        chunks = self.response.aiter_bytes()
        drain = False
        try:
            with self._errors():
                if watched is not None:
                    self._check(watched)
                    watched.task = asyncio.current_task()  # cancelled if the deadline passes while it waits
                async for chunk in chunks:
                    if watched is not None:
                        watched.task = None
                        self._check(watched)
                    total += len(chunk)
                    if total > max_total:
                        raise limits.too_large("the stream", "max_stream_bytes", self._http.provider)
                    for name, data in events.feed(chunk):
                        payload = self._decode(data)
                        if payload is _DONE:
                            self.saw_done = drain = True
                            return
                        yield name, payload
                    if watched is not None:
                        self._check(watched)
                        watched.task = asyncio.current_task()
        except _TooLong as e:
            raise limits.too_large(str(e), "max_event_bytes", self._http.provider) from None
        except asyncio.CancelledError as e:
            if watched is not None and watched.caused(e):
                raise limits.deadline_passed(self._http.provider) from None
            raise
        except GeneratorExit:  # the consumer stopped early: read the rest so the connection can be reused
            drain = True
            raise
        finally:
            await self._end(chunks, drain)

    async def _end(self, chunks: AsyncIterator[bytes], drain: bool) -> None:
        """After the last payload: read what is left (when ``drain``), then close the byte iterator."""
        watched = self._watch
        if watched is not None:
            watched.task = None
            drain = drain and not watched.expired
        if drain:
            with suppress(httpx.HTTPError, asyncio.TimeoutError):
                await asyncio.wait_for(_drain(chunks), DRAIN_TIMEOUT)
        close = getattr(chunks, "aclose", None)
        if close is not None:
            with suppress(httpx.HTTPError):
                await close()

    def _check(self, watched: Watch) -> None:
        if watched.expired:
            raise self._http.limits.deadline_passed(self._http.provider)

    def _decode(self, data: bytes) -> Any:
        if data == b"[DONE]":
            return _DONE
        try:
            return json.loads(data)
        except UnicodeDecodeError:  # not UTF-8: what can be read of it
            text = data.decode("utf-8", "replace")
        except (ValueError, RecursionError):
            text = None
        if text is not None:
            try:
                return json.loads(text)
            except (ValueError, RecursionError):
                pass
        shown = data[:300].decode("utf-8", "replace")
        raise ResponseParseError(
            self._http.redact(f"a stream event is not JSON: {shown}"), provider=self._http.provider
        ) from None

    def _errors(self) -> _MapErrors:
        return _MapErrors(self._http)


class _TooLong(Exception):
    """A line or an event over ``max_event_bytes`` (its text says which)."""


class _Events:
    """Bytes → complete SSE events ``(name, data)`` (lines end at CR, LF or CRLF).

    Events without data are skipped; an unfinished line is kept for the next chunk. An unfinished
    line, or the lines of one event, over ``limit`` bytes raise :class:`_TooLong`.
    """

    __slots__ = ("_cr", "_data", "_name", "_parts", "_pending", "_size", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: list[bytes] = []  # the unfinished line
        self._pending = 0  # its size
        self._cr = False  # the last chunk ended with CR: an LF first in the next one belongs to it
        self._name = ""
        self._data: list[bytes] = []
        self._size = 0  # of the event's lines so far

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        for line in self._lines(chunk):
            if not line:  # a blank line ends the event
                data = self._data
                if data:
                    joined = data[0] if len(data) == 1 else b"\n".join(data)
                    if joined:
                        out.append((self._name, joined))
                    self._data = []
                self._name, self._size = "", 0
                continue
            self._size += len(line)
            if self._size > self.limit:
                raise _TooLong("an event of the stream")
            if line[0] == 58:  # b":": a comment
                continue
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                self._data.append(value)
            elif field == b"event":
                self._name = value.decode("utf-8", "replace")
        return out

    def _lines(self, chunk: bytes) -> list[bytes]:
        if self._cr:
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._cr = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        tail = lines.pop()
        parts = self._parts
        if parts and lines:
            parts.append(lines[0])
            lines[0] = b"".join(parts)
            parts.clear()
            self._pending = 0
        if tail:
            parts.append(tail)
            self._pending += len(tail)
            if self._pending > self.limit:
                raise _TooLong("a line of the stream")
        return lines


class _MapErrors:
    """httpx errors while reading a stream → agentkit's (timeouts: idle; others: broken)."""

    def __init__(self, http: HTTPClient) -> None:
        self._http = http

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if isinstance(error, httpx.TimeoutException):
            raise APITimeoutError(f"the stream went idle ({type(error).__name__})", provider=self._http.provider) from None
        if isinstance(error, httpx.RequestError):  # the connection broke, or the body could not be decoded
            message = self._http.redact(f"the connection broke mid-stream ({type(error).__name__}: {error})")
            raise StreamEndedEarly(message, provider=self._http.provider) from None


_DONE = object()


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > DRAIN_BYTES:
            return
