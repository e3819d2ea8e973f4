"""The optional aiohttp transport (``transport="aiohttp"``, ``pip install 'agentkit[fast]'``).

httpx-aiohttp puts aiohttp behind httpx's interface; this wraps it so its errors come out as the
ones httpcore raises (timeouts, connect errors, a cut body), and the rest of agentkit's HTTP code
needs no special case.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator, Callable

import httpx

from ..errors import UserError

__all__ = ["aiohttp_transport_class", "ssl_context", "MAX_CONNECTIONS", "KEEPALIVE_EXPIRY"]

MAX_CONNECTIONS = 1000
KEEPALIVE_EXPIRY = 15.0


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context for every client agentkit makes (building one costs ~50 ms).

    Same trust as httpx's default: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi.
    """
    return httpx.create_ssl_context()


@functools.cache
def aiohttp_transport_class() -> Callable[[], httpx.AsyncBaseTransport]:
    """The aiohttp transport's factory (raises ``UserError`` when httpx-aiohttp is not installed).

    httpx-aiohttp maps aiohttp's errors loosely (a server that hangs up before answering becomes
    ``ConnectTimeout``; a malformed answer escapes as an aiohttp exception), so its requests and
    bodies are wrapped to raise what httpcore raises for the same fault: timeouts as
    ``ConnectTimeout`` / ``ReadTimeout``, refused connections and TLS failures as ``ConnectError``,
    hang-ups, cut bodies and malformed answers as ``RemoteProtocolError``, socket errors as
    ``ReadError``.
    """
    try:
        import aiohttp
        from httpx_aiohttp import AiohttpTransport
    except ImportError as e:
        raise UserError(f"transport='aiohttp' needs the httpx-aiohttp package ({e}): pip install 'agentkit[fast]'") from None

    def mapped(error: BaseException, request: httpx.Request) -> BaseException | None:
        """The httpx error for an aiohttp one (also when httpx-aiohttp already wrapped it); else None."""
        origin = error.__cause__ if isinstance(error, httpx.HTTPError) else error
        if not isinstance(origin, (aiohttp.ClientError, asyncio.TimeoutError)):
            return None
        message = f"{type(origin).__name__}: {origin}"
        kind: type[httpx.TransportError]
        if isinstance(origin, aiohttp.ConnectionTimeoutError):
            kind = httpx.ConnectTimeout
        elif isinstance(origin, asyncio.TimeoutError):
            kind = httpx.ReadTimeout
        elif isinstance(origin, aiohttp.ClientConnectorError):
            kind = httpx.ConnectError
        elif isinstance(origin, aiohttp.ClientOSError):
            kind = httpx.ReadError
        else:  # ServerDisconnectedError, ClientPayloadError, ClientResponseError (a malformed answer), ...
            kind = httpx.RemoteProtocolError
        return kind(message, request=request)

    class Stream(httpx.AsyncByteStream):
        def __init__(self, stream: httpx.AsyncByteStream, request: httpx.Request) -> None:
            self._stream = stream
            self._request = request

        async def __aiter__(self) -> AsyncIterator[bytes]:
            chunks = self._stream.__aiter__()
            try:
                async for chunk in chunks:
                    yield chunk
            except Exception as e:
                error = mapped(e, self._request)
                if error is None:
                    raise
                raise error from e
            finally:
                close = getattr(chunks, "aclose", None)
                if close is not None:
                    await close()

        async def aclose(self) -> None:
            try:
                await self._stream.aclose()
            except Exception as e:
                error = mapped(e, self._request)
                if error is None:
                    raise
                raise error from e

    class Mapped(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            limits = httpx.Limits(max_connections=MAX_CONNECTIONS, keepalive_expiry=KEEPALIVE_EXPIRY)
            self._inner = AiohttpTransport(verify=ssl_context(), limits=limits)

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            try:
                response = await self._inner.handle_async_request(request)
            except Exception as e:
                error = mapped(e, request)
                if error is None:
                    raise
                raise error from e
            assert isinstance(response.stream, httpx.AsyncByteStream)
            response.stream = Stream(response.stream, request)
            return response

        async def aclose(self) -> None:
            await self._inner.aclose()

    return Mapped
