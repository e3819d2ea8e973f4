"""What sends the bytes: httpx's own transport (httpcore), or aiohttp (the default: a dependency).

:class:`~.client.HTTPClient` does retries, errors and redaction; a *sender* here does one POST
and returns its status, headers and body, or opens a stream as an ``httpx.Response`` for the SSE
reader. Both senders raise httpx's exceptions for the same faults (``ConnectError``,
``ConnectTimeout``, ``ReadTimeout``, ``RemoteProtocolError``, ``ReadError``), so nothing above
this module has a special case for either.

* :class:`HttpxSender`: an ``httpx.AsyncClient`` (agentkit's own, or a caller's ``http_client``).
* :class:`AiohttpSender`: one ``aiohttp.ClientSession``. Plain POSTs go to aiohttp directly, with
  no httpx request or response objects (that layer costs more CPU than aiohttp's whole request);
  streams go through httpx-aiohttp's transport *on the same session* (one pool), so they read
  like any httpx stream. Its connections read the socket into one buffer of the session's
  (:func:`_read_into_buffer`), not into a new 256 KiB ``bytes`` per read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import mmap
import ssl
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from ..errors import UserError

if TYPE_CHECKING:
    import aiohttp
    from aiohttp.client_proto import ResponseHandler

__all__ = [
    "RawResponse",
    "Sender",
    "read_capped",
    "HttpxSender",
    "AiohttpSender",
    "aiohttp_available",
    "require_aiohttp",
    "ssl_context",
    "MAX_CONNECTIONS",
    "MAX_KEEPALIVE",
    "KEEPALIVE_EXPIRY",
]

MAX_CONNECTIONS = 1000
"""Connections per client at most (both transports)."""
MAX_KEEPALIVE = 100
"""Idle connections httpx's pool keeps (httpcore scans all of them for every request)."""
KEEPALIVE_EXPIRY = 15.0
"""Seconds an idle connection is kept (both transports)."""
READ_BUFFER_BYTES = 256 * 1024
"""Bytes one socket read of the aiohttp transport takes at most (asyncio's own ``recv`` size), into its session's buffer."""


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context for every client agentkit makes (building one costs ~50 ms).

    Same trust as httpx's default: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi.
    """
    return httpx.create_ssl_context()


@functools.cache
def aiohttp_available() -> bool:
    """Whether the aiohttp transport can be used (aiohttp and httpx-aiohttp, dependencies, installed), without importing it."""
    return all(importlib.util.find_spec(name) is not None for name in ("aiohttp", "httpx_aiohttp"))


def require_aiohttp() -> None:
    """Raise ``UserError`` saying what to install when aiohttp or httpx-aiohttp is missing."""
    try:
        import aiohttp  # noqa: F401
        import httpx_aiohttp  # noqa: F401
    except ImportError as e:
        raise UserError(f"transport='aiohttp' needs the httpx-aiohttp package ({e}): pip install 'agentkit-loop[fast]'") from None


@dataclass(frozen=True)
class RawResponse:
    """A whole (non-streamed) answer: what :class:`~.client.HTTPClient` decodes or turns into an error."""

    status: int
    headers: Mapping[str, str]
    """Case-insensitive (``httpx.Headers`` or aiohttp's ``CIMultiDictProxy``)."""
    content: bytes
    truncated: bool = False
    """The body was longer than the sender's ``max_bytes``: ``content`` is its start (empty for a 2xx
    answer whose ``Content-Length`` said so: it is not read at all), and the connection is closed."""


class Sender(Protocol):
    """Sends requests for one event loop (see the module docstring)."""

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` ran (a closed sender is replaced by a new one)."""
        ...

    async def post(self, url: str, content: bytes, headers: Mapping[str, str], timeout: Any, max_bytes: int) -> RawResponse:
        """POST ``content`` and read the whole answer, or its first ``max_bytes`` (then ``truncated``)."""
        ...

    async def open_stream(self, url: str, content: bytes, headers: Mapping[str, str], timeout: Any) -> httpx.Response:
        """POST ``content`` and return the response with its body unread (the caller closes it)."""
        ...

    async def aclose(self) -> None:
        """Close the connections (a caller's ``http_client`` is left open)."""
        ...


class HttpxSender:
    """Requests through an ``httpx.AsyncClient``; ``owned=False`` for a caller's client (never closed here)."""

    def __init__(self, client: httpx.AsyncClient, *, owned: bool = True) -> None:
        self.client = client
        self._owned = owned

    @classmethod
    def new(cls, timeout: httpx.Timeout) -> HttpxSender:
        """agentkit's own httpx client: the shared TLS context and agentkit's pool limits."""
        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE, keepalive_expiry=KEEPALIVE_EXPIRY
        )
        return cls(httpx.AsyncClient(timeout=timeout, verify=ssl_context(), limits=limits))

    @property
    def is_closed(self) -> bool:
        return self.client.is_closed and self._owned

    async def post(self, url: str, content: bytes, headers: Mapping[str, str], timeout: Any, max_bytes: int) -> RawResponse:
        request = self.client.build_request("POST", url, content=content, headers=headers, timeout=timeout)
        response = await self.client.send(request, stream=True)
        try:
            body, truncated = await read_capped(response, max_bytes)
        finally:
            await response.aclose()  # closes the connection when the body was not read to its end
        return RawResponse(response.status_code, response.headers, body, truncated)

    async def open_stream(self, url: str, content: bytes, headers: Mapping[str, str], timeout: Any) -> httpx.Response:
        request = self.client.build_request("POST", url, content=content, headers=headers, timeout=timeout)
        return await self.client.send(request, stream=True)

    async def aclose(self) -> None:
        if self._owned:
            await self.client.aclose()


class AiohttpSender:
    """Requests to one API root through one ``aiohttp.ClientSession`` (made on the running loop).

    Proxies come from ``HTTP(S)_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY``, as with httpx, read once
    here rather than by aiohttp's ``trust_env`` (which looks them up, and ``~/.netrc``, in a worker
    thread for every request: 4 thread hops per tool round trip). httpx's write timeout has no
    aiohttp equivalent and is not applied.
    """

    def __init__(self, base_url: str) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_EXPIRY, ssl=ssl_context())
        _read_into_buffer(connector)
        self._aiohttp = aiohttp
        self.session = aiohttp.ClientSession(connector=connector)
        self.proxy, self.proxy_auth = _env_proxy(base_url)
        proxy = None
        if self.proxy is not None:
            auth = (self.proxy_auth.login, self.proxy_auth.password) if self.proxy_auth else None
            proxy = httpx.Proxy(str(self.proxy), auth=auth)
        self._streams = httpx.AsyncClient(transport=_MappedTransport(self.session, proxy))
        # dropped without aclose() (an agent never closed, a finished asyncio.run): close the
        # sockets then, instead of aiohttp's "Unclosed client session" error in the log
        weakref.finalize(self, _close_quietly, self.session)

    @property
    def is_closed(self) -> bool:
        return self.session.closed

    async def post(
        self, url: str, content: bytes, headers: Mapping[str, str], timeout: httpx.Timeout, max_bytes: int
    ) -> RawResponse:
        # the same timeout mapping as httpx-aiohttp's; aiohttp has no write timeout
        client_timeout = self._aiohttp.ClientTimeout(sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool)
        with _httpx_errors():
            async with self.session.post(
                url,
                data=content,
                headers=headers,
                timeout=client_timeout,
                allow_redirects=False,
                proxy=self.proxy,
                proxy_auth=self.proxy_auth,
            ) as response:
                length = response.content_length
                if length is not None and length <= max_bytes and "content-encoding" not in response.headers:
                    return RawResponse(response.status, response.headers, await response.read())  # bounded by its length
                if length is not None and length > max_bytes and response.status < 300:
                    response.close()
                    return RawResponse(response.status, response.headers, b"", True)
                parts: list[bytes] = []
                size = 0
                async for data in response.content.iter_any():  # chunked, or compressed: counted as it arrives
                    size += len(data)
                    if size > max_bytes:
                        parts.append(data[: len(data) - (size - max_bytes)])
                        response.close()
                        return RawResponse(response.status, response.headers, b"".join(parts), True)
                    parts.append(data)
                return RawResponse(response.status, response.headers, b"".join(parts))

    async def open_stream(self, url: str, content: bytes, headers: Mapping[str, str], timeout: Any) -> httpx.Response:
        request = self._streams.build_request("POST", url, content=content, headers=headers, timeout=timeout)
        return await self._streams.send(request, stream=True)

    async def aclose(self) -> None:
        await self._streams.aclose()  # closes the session too


async def read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """An open response's body, or its first ``max_bytes`` and True when it is longer.

    A 2xx answer whose ``Content-Length`` is over ``max_bytes`` is not read at all. The caller
    closes the response (which drops the connection when the body was not read to its end).
    """
    length = response.headers.get("content-length")
    if length is not None and response.status_code < 300 and length.isdigit() and int(length) > max_bytes:
        return b"", True
    parts: list[bytes] = []
    size = 0
    async for data in response.aiter_bytes():
        size += len(data)
        if size > max_bytes:
            parts.append(data[: len(data) - (size - max_bytes)])
            return b"".join(parts), True
        parts.append(data)
    return b"".join(parts), False


def _read_into_buffer(connector: aiohttp.BaseConnector) -> None:
    """Make ``connector``'s connections read the socket into one buffer of the connector's own.

    For a plain ``asyncio.Protocol`` like aiohttp's, asyncio reads with ``sock.recv(256 KiB)`` (over
    TLS, ``SSLObject.read(256 KiB)``): a new 256 KiB ``bytes`` per read, shrunk in place to what
    came. glibc serves it from its main heap once its mmap threshold has risen above 256 KiB, which
    it does the first time the process frees a larger block (the interned-strings table does at
    import time). Every read then needs a free run of 256 KiB, and what the heap holds next to the
    shrunk answers breaks such runs up, so the heap kept growing with free space nobody used: +1 MB
    per 10,000 runs of the chaos soak (``benchmarks/chaos.py``), RSS +11 % over 100,000 runs with
    nothing alive. A ``BufferedProtocol`` is read with ``recv_into`` instead: here into a buffer
    made once per connector (an anonymous mmap, outside the heap; only the pages a read reached are
    resident), copied out as a ``bytes`` of the size read. One buffer serves all the connector's
    connections: they are read on its event loop, one at a time, and each read is copied out before
    the next. A connector whose protocol factory is not aiohttp's usual one is left as it is.
    """
    from aiohttp.client_proto import ResponseHandler

    factory = getattr(connector, "_factory", None)
    if isinstance(factory, functools.partial) and factory.func is ResponseHandler:
        buffer = memoryview(mmap.mmap(-1, READ_BUFFER_BYTES))
        handler = functools.partial(_buffered_handler(), *factory.args, **factory.keywords, read_buffer=buffer)
        connector._factory = handler


@functools.cache
def _buffered_handler() -> Callable[..., ResponseHandler]:
    """aiohttp's ``ResponseHandler``, read into a given buffer (see :func:`_read_into_buffer`)."""
    from aiohttp.client_proto import ResponseHandler

    class BufferedResponseHandler(ResponseHandler, asyncio.BufferedProtocol):
        def __init__(self, loop: asyncio.AbstractEventLoop, read_buffer: memoryview) -> None:
            super().__init__(loop)
            self._agentkit_read_buffer = read_buffer

        def get_buffer(self, sizehint: int) -> memoryview:
            return self._agentkit_read_buffer

        def buffer_updated(self, nbytes: int) -> None:
            self.data_received(self._agentkit_read_buffer[:nbytes].tobytes())

    return BufferedResponseHandler


def _env_proxy(base_url: str) -> tuple[Any, Any]:
    """``(proxy URL, proxy BasicAuth)`` from the environment for ``base_url``, or ``(None, None)``."""
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    try:
        return get_env_proxy_for_url(URL(base_url))
    except LookupError:
        return None, None


def _close_quietly(session: aiohttp.ClientSession) -> None:
    connector = session.connector
    close = getattr(connector, "_close", None)  # the synchronous part of aiohttp's connector.close()
    if connector is None or connector.closed or close is None:
        return
    with contextlib.suppress(Exception):  # a loop already closed: nothing is left to close
        close()


@contextlib.contextmanager
def _httpx_errors(request: httpx.Request | None = None) -> Iterator[None]:
    """Re-raise an aiohttp error as the httpx error httpcore raises for the same fault (others pass through)."""
    try:
        yield
    except Exception as e:
        error = _httpx_error(e, request)
        if error is None:
            raise
        raise error from e


def _httpx_error(error: BaseException, request: httpx.Request | None = None) -> BaseException | None:
    """The httpx error httpcore raises for the same fault as an aiohttp one (also one httpx-aiohttp wrapped); else None.

    httpx-aiohttp maps aiohttp's errors loosely (a server that hangs up before answering becomes
    ``ConnectTimeout``; a malformed answer escapes as an aiohttp exception), so: timeouts as
    ``ConnectTimeout`` / ``ReadTimeout``, refused connections and TLS failures as ``ConnectError``,
    hang-ups, cut bodies and malformed answers as ``RemoteProtocolError``, socket errors as ``ReadError``.
    """
    import aiohttp

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


class _MappedStream(httpx.AsyncByteStream):
    """httpx-aiohttp's response body, raising httpcore's errors."""

    def __init__(self, stream: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._stream.__aiter__()
        try:
            with _httpx_errors(self._request):
                async for chunk in chunks:
                    yield chunk
        finally:
            close: Callable[[], Any] | None = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    async def aclose(self) -> None:
        with _httpx_errors(self._request):
            await self._stream.aclose()


class _MappedTransport(httpx.AsyncBaseTransport):
    """httpx-aiohttp's transport on a given session, raising httpcore's errors."""

    def __init__(self, session: aiohttp.ClientSession, proxy: httpx.Proxy | None) -> None:
        from httpx_aiohttp import AiohttpTransport

        # verify: else it builds a TLS context of its own (unused: the session has one)
        self._inner = AiohttpTransport(client=session, verify=ssl_context(), proxy=proxy)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _httpx_errors(request):
            response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _MappedStream(response.stream, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
