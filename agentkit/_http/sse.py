"""Reading one streamed (SSE) answer: JSON payloads in, agentkit errors out.

Shared by the chat-completions and Responses API clients, which differ only in what the
payloads mean (their assemblers). Here: the non-SSE fallback (a server that ignored
``stream: true``), ``[DONE]``, payloads that are not JSON, an idle stream
(:class:`~agentkit.errors.APITimeoutError`), a broken connection
(:class:`~agentkit.errors.StreamEndedEarly`, without ``partial``: the caller adds what it
assembled), and reading the end of the body afterwards so the connection can be reused.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from ..errors import APITimeoutError, ResponseParseError, StreamEndedEarly
from .client import HTTPClient
from .transport import RawResponse

__all__ = ["SSEReader", "DRAIN_TIMEOUT"]

DRAIN_TIMEOUT = 1.0
"""Seconds to wait, after the last payload, for the end of the body (so the connection can be reused)."""


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
        content_type = response.headers.get("content-type", "").lower()
        self.is_sse = "text/event-stream" in content_type

    async def json_body(self) -> Any:
        """The whole body of a non-SSE answer, decoded (an ``error`` object in it raises)."""
        with self._errors():
            await self.response.aread()
        response = self.response
        return self._http.decode(RawResponse(response.status_code, response.headers, response.content))

    async def payloads(self) -> AsyncGenerator[tuple[str, Any], None]:
        """``(SSE event name, decoded JSON)`` per event, until ``[DONE]`` or the end of the body.

        When the consumer stops early (``aclose``), the rest of the body is read for at most
        :data:`DRAIN_TIMEOUT` seconds, so the connection goes back to the pool.
        """
        async with aclosing(EventSource(self.response).aiter_sse()) as source:
            try:
                with self._errors():
                    async for sse in source:
                        payload = self._decode(sse)
                        if payload is _DONE:
                            self.saw_done = True
                            break
                        if payload is not None:
                            yield sse.event, payload
            finally:
                with suppress(httpx.HTTPError, asyncio.TimeoutError, StopAsyncIteration):
                    await asyncio.wait_for(_drain(source), DRAIN_TIMEOUT)

    def _decode(self, sse: ServerSentEvent) -> Any:
        data = sse.data
        if not data:
            return None
        if data == "[DONE]":
            return _DONE
        try:
            return json.loads(data)
        except ValueError:
            raise ResponseParseError(
                self._http.redact(f"a stream event is not JSON: {data[:300]}"), provider=self._http.provider
            ) from None

    def _errors(self) -> _MapErrors:
        return _MapErrors(self._http)


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


async def _drain(source: AsyncGenerator[ServerSentEvent, None]) -> None:
    async for _ in source:
        pass
