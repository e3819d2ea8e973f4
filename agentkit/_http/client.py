"""The HTTP client of every provider request (chat models, embeddings): one connection pool per
event loop, retries, typed errors.

* Retries with exponential backoff and jitter on 408, 429, 5xx (529 included), connection errors
  and timeouts, honouring ``Retry-After`` / ``retry-after-ms`` (capped). Never on other 4xx.
* Errors become :mod:`agentkit.errors` exceptions carrying the provider's own message; an error
  object inside an HTTP 200 body is an error too.
* The API key is redacted from every message that leaves this module. A key that comes from an
  environment variable is looked up at the first request when it was not set at construction:
  a missing key raises :class:`~agentkit.errors.MissingAPIKeyError` then, before anything is sent.
* A client that does not retry 429s (``retry_rate_limits=False``) raises
  :class:`~agentkit.errors.RateLimitError` at once, for callers that pace requests themselves;
  :meth:`HTTPClient.with_retry_rate_limits` makes one that shares this client's connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import random
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal, TypedDict, TypeVar

import httpx

from ..errors import (
    APIConnectionError,
    MissingAPIKeyError,
    ProviderError,
    RateLimitError,
    ResponseParseError,
    UserError,
)
from .errors import error_from_response, parse_retry_after, redact, register_secrets, request_id, snippet, transport_error
from .limits import DEFAULT_REQUEST_DEADLINE, MALFORMED, WATCH, Limits, json_snippet, watch
from .transport import AiohttpSender, HttpxSender, RawResponse, Sender, aiohttp_available, read_capped, require_aiohttp

__all__ = [
    "HTTPClient",
    "ClientOptions",
    "Transport",
    "TRANSPORT_ENV",
    "connect",
    "error_from_response",
    "parse_retry_after",
    "DEFAULT_TIMEOUT",
    "Limits",
    "MALFORMED",
    "WATCH",
    "json_snippet",
]

T = TypeVar("T")
IsFinal = Callable[[ProviderError], bool] | None
"""What says an error is final, not to be retried (``None``: retry as configured)."""
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
RETRY_STATUSES = frozenset({408, 429})  # and every status >= 500
RETRY_LISTENERS: list[Callable[[str, ProviderError, float, int], None]] = []
"""Called before each wait between two attempts with (provider, error, seconds, attempt from 1):
instrumentation adds the retry to the current span."""
WAIT_LISTENERS: list[Callable[[str, float], None]] = []
"""Called before a wait that is no retry (``run_many``'s rate limiter holding a request back) with
(provider, seconds): the run log draws it on the request's timeline."""
logger = logging.getLogger("agentkit")

Transport = Literal["httpx", "aiohttp"]
TRANSPORT_ENV = "AGENTKIT_HTTP_TRANSPORT"
"""Environment variable choosing the transport (``httpx`` or ``aiohttp``) when none is passed."""
_TRANSPORTS: tuple[Transport, ...] = ("httpx", "aiohttp")


class ClientOptions(TypedDict, total=False):
    """Options every HTTP model accepts as keyword arguments.

    Attributes:
        headers: extra headers for every request.
        http_client: an ``httpx.AsyncClient`` of yours to send requests with (not closed by agentkit).
        max_retries: retries on 408/429/5xx/connection errors (default 2; 0 turns them off).
        retry_rate_limits: retry a 429 like the other statuses (default True). False raises
            :class:`~agentkit.errors.RateLimitError` at the first 429, for a caller that paces
            its requests itself (``run_many`` does, through ``Model.with_rate_limit_retries``).
        max_retry_wait: cap in seconds on any single wait between retries (default 60).
        timeout: seconds, or an ``httpx.Timeout`` to set connect and read timeouts apart.
        idle_timeout: for streams, the longest wait between two chunks (default: the read timeout).
        strict_settings: raise instead of warning when a setting is not accepted by the provider.
        transport: what sends the requests of the clients agentkit makes. ``"aiohttp"``
            (the default; aiohttp and httpx-aiohttp are dependencies): aiohttp, 2x cheaper in CPU than httpx for one
            request at a time and 5-8x under hundreds in flight, where httpcore's pool
            bookkeeping dominates; same retries, timeouts, proxies, streaming and errors, but no
            write timeout. ``"httpx"``: httpx's own transport (httpcore). ``None`` (default):
            the ``AGENTKIT_HTTP_TRANSPORT`` environment variable when set, else ``"aiohttp"``
            when it is installed, else ``"httpx"``. Not allowed together with ``http_client``
            (a caller's client always sends its own requests).
        max_response_bytes: the largest whole (non-streamed) answer read, in bytes (default
            64 MiB); a larger one raises :class:`~agentkit.errors.ResponseParseError`, unread
            when its ``Content-Length`` says so.
        max_stream_bytes: the most bytes one stream may send in all (default 256 MiB); then
            :class:`~agentkit.errors.ResponseParseError`.
        max_event_bytes: the longest SSE line or event of a stream, in bytes (default 16 MiB);
            then :class:`~agentkit.errors.ResponseParseError`.
        request_deadline: seconds one request may take in all, from its first attempt to the
            last byte of its answer: retries, the waits between them and a whole stream
            included (default 900; None: no deadline). Then
            :class:`~agentkit.errors.APITimeoutError`. ``timeout`` and ``idle_timeout`` bound
            each wait; this bounds the whole.
    """

    headers: dict[str, str]
    http_client: httpx.AsyncClient
    max_retries: int
    retry_rate_limits: bool
    max_retry_wait: float
    timeout: float | httpx.Timeout
    idle_timeout: float
    strict_settings: bool
    transport: Transport | None
    max_response_bytes: int
    max_stream_bytes: int
    max_event_bytes: int
    request_deadline: float | None


def connect(
    model_name: str,
    base_url: str,
    api_key: str | None,
    provider: str,
    options: ClientOptions,
    *,
    key_env: str | None = None,
    key_label: str | None = None,
) -> HTTPClient:
    """Check a model's name and endpoint and build its :class:`HTTPClient` (raises ``UserError``).

    With ``key_env``, a key is required: ``api_key``, else that environment variable, read now
    or, when it is not set yet, at the first request (which then raises
    :class:`~agentkit.errors.MissingAPIKeyError` naming it, ``key_label`` as the provider).
    """
    if not isinstance(model_name, str) or not model_name:
        raise UserError(f"model_name must be a non-empty string, not {model_name!r}.")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise UserError(f"base_url must be an http(s) URL such as 'http://127.0.0.1:8000/v1', not {base_url!r}.")
    key = api_key or (os.environ.get(key_env) if key_env else None) or None
    headers = {"content-type": "application/json", "accept": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    headers.update(options.get("headers") or {})
    return HTTPClient(
        base_url=base_url,
        headers=headers,
        provider=provider,
        secret=key,
        key_env=None if key else key_env,
        key_label=key_label,
        timeout=options.get("timeout"),
        max_retries=options.get("max_retries", 2),
        retry_rate_limits=options.get("retry_rate_limits", True),
        max_retry_wait=options.get("max_retry_wait", 60.0),
        http_client=options.get("http_client"),
        idle_timeout=options.get("idle_timeout"),
        transport=options.get("transport"),
        limits=Limits.make(
            options.get("max_response_bytes"),
            options.get("max_stream_bytes"),
            options.get("max_event_bytes"),
            options.get("request_deadline", DEFAULT_REQUEST_DEADLINE),
        ),
    )


class HTTPClient:
    """POSTs JSON to one provider, with retries and typed errors.

    Args:
        base_url: the API root, e.g. ``https://api.openai.com/v1``.
        headers: headers for every request (the Authorization header among them).
        provider: the provider's name, for errors.
        secret: the API key, redacted from any error text.
        key_env: the environment variable to read the key from at the first request, when it was
            not known at construction (the ``Authorization`` header is added then); unset at that
            point, the request raises :class:`~agentkit.errors.MissingAPIKeyError` before sending.
        key_label: the provider's name in that error (default: ``provider``).
        timeout: seconds or an ``httpx.Timeout`` (connect and read timeouts apart); applied to a
            caller's ``http_client`` too when given.
        max_retries: retries after the first attempt (0 turns retrying off).
        retry_rate_limits: whether a 429 is retried (False: raised at once).
        max_retry_wait: cap in seconds on any single wait, including ``Retry-After``.
        http_client: an ``httpx.AsyncClient`` of the caller's, used as is (not closed by us).
        idle_timeout: for streams, the longest wait between two chunks (default: the read timeout).
        transport: ``"httpx"`` or ``"aiohttp"`` (see :class:`ClientOptions`); ``None``: the
            ``AGENTKIT_HTTP_TRANSPORT`` environment variable, else ``"aiohttp"`` when installed,
            else ``"httpx"``.
        limits: the bounds on an answer's size and a request's time (default: :class:`~.limits.Limits`'
            defaults; see ``max_response_bytes`` ... ``request_deadline`` in :class:`ClientOptions`).
    """

    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str],
        provider: str,
        secret: str | None = None,
        key_env: str | None = None,
        key_label: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        retry_rate_limits: bool = True,
        max_retry_wait: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
        idle_timeout: float | None = None,
        transport: Transport | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.limits = limits or Limits()
        if transport is not None and http_client is not None:
            raise UserError("transport= chooses how agentkit's own clients send requests: pass it or http_client=, not both.")
        self.transport: Transport = _choose_transport(transport)
        if self.transport == "aiohttp" and http_client is None and not aiohttp_available():
            require_aiohttp()  # a missing install fails here, not at the first request (aiohttp loads at the first one)
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.provider = provider
        self._secret = secret
        register_secrets(secret, headers)  # hidden from every error, whatever answer echoes them
        self._key_env = key_env  # set while the key is still to be read from the environment
        self._key_label = key_label or provider
        self.timeout = (
            timeout if isinstance(timeout, httpx.Timeout) else (DEFAULT_TIMEOUT if timeout is None else httpx.Timeout(timeout))
        )
        # a caller's client keeps its own timeout unless one was given here
        self._request_timeout: Any = self.timeout if http_client is None or timeout is not None else httpx.USE_CLIENT_DEFAULT
        if max_retries < 0:
            raise UserError(f"max_retries must be >= 0 (0 turns retrying off), not {max_retries}.")
        self.max_retries = max_retries
        self.retry_rate_limits = retry_rate_limits
        self.max_retry_wait = max_retry_wait
        self._user_sender = HttpxSender(http_client, owned=False) if http_client is not None else None
        # clients are bound to the event loop they were first used on: one sender per loop
        self._senders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Sender] = weakref.WeakKeyDictionary()

    def with_retry_rate_limits(self, enabled: bool) -> HTTPClient:
        """This client, or a copy of it that retries 429s or not as ``enabled`` says.

        The copy shares this client's connection pools (closing either closes them) and everything
        else; only its handling of a 429 differs.
        """
        if enabled == self.retry_rate_limits:
            return self
        # the same _senders dict: one pool per event loop for both. Not copy.copy(): it goes through
        # copyreg, where agentkit.ray registers a reducer that leaves the connections behind (for pickling)
        clone = object.__new__(HTTPClient)
        clone.__dict__.update(self.__dict__)
        clone.retry_rate_limits = enabled
        return clone

    def sender(self) -> Sender:
        """What sends this client's requests on the running event loop (created on first use)."""
        if self._user_sender is not None:
            return self._user_sender
        loop = asyncio.get_running_loop()
        sender = self._senders.get(loop)
        if sender is None or sender.is_closed:
            sender = AiohttpSender(self.base_url) if self.transport == "aiohttp" else HttpxSender.new(self.timeout)
            self._senders[loop] = sender
        return sender

    async def aclose(self) -> None:
        """Close the clients we own (a caller's client is left open).

        A client made on another event loop that is still running (``run_sync``'s background
        loop) is closed on that loop, without waiting for it; one whose loop has ended cannot be.
        """
        current = asyncio.get_running_loop()
        senders = list(self._senders.items())
        self._senders.clear()
        for loop, sender in senders:
            if loop is current:
                await sender.aclose()
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(sender.aclose(), loop)  # not awaited: that loop may be blocked on us

    async def post_json(
        self, path: str, body: dict[str, Any], extra_headers: dict[str, str] | None = None, *, final: IsFinal = None
    ) -> Any:
        """POST ``body`` to ``path`` and return the decoded JSON answer, retrying as configured
        (all within ``request_deadline``).

        ``final``: says which errors not to retry, because the caller has a better next step than
        the same request again (the chat model's next ``response_format`` form): raised at once.
        """
        url, content, headers = self._request(path, body, extra_headers)
        deadline = self.limits.request_deadline
        once = functools.partial(self._post_once, url, content, headers, self._request_timeout)
        if deadline is None:
            return await self._with_retries(once, final)
        watched = watch(deadline, asyncio.current_task())
        try:
            return await self._with_retries(once, final)
        except asyncio.CancelledError as e:
            if watched.caused(e):
                raise self.limits.deadline_passed(self.provider) from None
            raise
        finally:
            watched.close()

    @asynccontextmanager
    async def stream(
        self, path: str, body: dict[str, Any], extra_headers: dict[str, str] | None = None, *, final: IsFinal = None
    ) -> AsyncIterator[httpx.Response]:
        """POST ``body`` and yield the open streaming response; it is closed when the block exits.

        Failures before the first byte of a 2xx answer are retried like :meth:`post_json` (but
        not those ``final`` says are final); the
        read timeout of a stream is ``idle_timeout`` (the longest silence between chunks). The
        ``request_deadline`` runs from here to the end of the block: :class:`~.sse.SSEReader`
        checks it as it reads (the response's ``extensions[WATCH]``).
        """
        timeout = self._request_timeout
        if self.idle_timeout is not None:
            timeout = httpx.Timeout(
                self.timeout.connect, read=self.idle_timeout, write=self.timeout.write, pool=self.timeout.pool
            )
        url, content, headers = self._request(path, body, extra_headers)
        deadline = self.limits.request_deadline
        watched = None if deadline is None else watch(deadline, asyncio.current_task())
        try:
            try:
                response = await self._with_retries(lambda: self._open_once(url, content, headers, timeout), final)
            except asyncio.CancelledError as e:
                if watched is not None and watched.caused(e):
                    raise self.limits.deadline_passed(self.provider) from None
                raise
            if watched is not None:
                watched.task = None  # from now on the reader sets it while it waits for bytes
                response.extensions[WATCH] = watched
            try:
                yield response
            finally:
                await response.aclose()
        finally:
            if watched is not None:
                watched.close()

    def chunk_error(self, data: dict[str, Any]) -> ProviderError:
        """The exception for an ``error`` object inside a 200 answer or stream chunk."""
        error = data.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        status = code if isinstance(code, int) and 400 <= code < 600 else 200
        return error_from_response(status, json.dumps(data).encode(), {}, self.provider, self._secret)

    def _request(
        self, path: str, body: dict[str, Any], extra_headers: dict[str, str] | None
    ) -> tuple[str, bytes, Mapping[str, str]]:
        if self._key_env is not None:
            self._read_key(self._key_env)
        headers = {**self.headers, **extra_headers} if extra_headers else self.headers
        return self.base_url + path, json.dumps(body, ensure_ascii=False).encode(), headers

    def _read_key(self, env_var: str) -> None:
        """The key from ``env_var`` into the headers, or :class:`MissingAPIKeyError` (nothing is sent)."""
        key = os.environ.get(env_var)
        if not key:
            raise MissingAPIKeyError(self._key_label, env_var)
        self._secret = key
        register_secrets(key)
        self.headers = {"authorization": f"Bearer {key}", **self.headers}  # a caller's own header still wins
        self._key_env = None

    async def _with_retries(self, once: Callable[[], Awaitable[T]], final: IsFinal = None) -> T:
        attempt = 0
        while True:
            try:
                return await once()
            except ProviderError as error:
                if attempt >= self.max_retries or not _retryable(error, self.retry_rate_limits):
                    raise
                if final is not None and final(error):
                    raise
                wait = self.backoff(attempt, error.retry_after)
                attempt += 1
                _retrying(self.provider, error, wait, attempt, self.max_retries)
                await asyncio.sleep(wait)

    async def _post_once(self, url: str, content: bytes, headers: Mapping[str, str], timeout: Any) -> Any:
        try:
            response = await self.sender().post(url, content, headers, timeout, self.limits.max_response_bytes)
        except httpx.RequestError as e:
            raise self._transport_error(e, url) from None
        if response.status < 300:
            if response.truncated:
                raise self.limits.too_large("the response body", "max_response_bytes", self.provider)
            return self.decode(response)  # an error inside a 200 body raises, and is retried like its status
        raise error_from_response(
            response.status, response.content, response.headers, self.provider, self._secret, url=url, base_url=self.base_url
        )

    async def _open_once(self, url: str, content: bytes, headers: Mapping[str, str], timeout: Any) -> httpx.Response:
        try:
            response = await self.sender().open_stream(url, content, headers, timeout)
        except httpx.RequestError as e:
            raise self._transport_error(e, url) from None
        if response.status_code < 300:
            return response
        try:
            content = (await read_capped(response, self.limits.max_response_bytes))[0]  # an error page: its start will do
        except httpx.RequestError:
            content = b""
        finally:
            await response.aclose()
        raise error_from_response(
            response.status_code, content, response.headers, self.provider, self._secret, url=url, base_url=self.base_url
        )

    def _transport_error(self, e: httpx.RequestError, url: str) -> ProviderError:
        # connect/read errors and timeouts, a connection cut mid-body, bad encodings: the URL named, no secrets in it
        return transport_error(e, url, self.base_url, self.provider, self._secret)

    def decode(self, response: RawResponse) -> Any:
        """Decode a 2xx body; an ``error`` object inside it becomes the matching exception."""
        status = response.status
        try:
            data = json.loads(response.content)
        except (ValueError, RecursionError):  # RecursionError: arrays or objects nested thousands deep
            raise ResponseParseError(
                self.redact(f"the response is not JSON: {snippet(response.content)}"),
                status=status,
                provider=self.provider,
                request_id=request_id(response.headers),
            ) from None
        if isinstance(data, dict) and data.get("error") and not data.get("choices"):
            code = data["error"].get("code") if isinstance(data["error"], dict) else None
            status = code if isinstance(code, int) and 400 <= code < 600 else status
            raise error_from_response(status, response.content, response.headers, self.provider, self._secret)
        return data

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry ``attempt`` (0-based): Retry-After, else 0.5·2^n with jitter (both capped)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_wait)
        delay: float = 0.5 * (2.0**attempt) * (0.5 + random.random() / 2)
        return min(delay, self.max_retry_wait)

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced by ``***``."""
        return redact(text, self._secret)

    def malformed(self, what: str, data: Any, error: BaseException | None = None) -> ResponseParseError:
        """The error for a decoded answer that is not what the API defines: ``what`` it should have
        been, the Python error that showed it (if any), and the start of the answer (key redacted)."""
        why = ""
        if error is not None:
            detail = str(error).split("\n", 1)[0][:200]
            errors = getattr(error, "errors", None)  # pydantic's ValidationError: which field, and why
            if callable(errors):
                with contextlib.suppress(Exception):
                    first = errors()[0]
                    detail = f"{'.'.join(map(str, first['loc']))}: {first['msg']}"[:200]
            why = f" ({type(error).__name__}: {detail})" if detail else f" ({type(error).__name__})"
        text = self.redact(json_snippet(data))
        return ResponseParseError(self.redact(f"{what}{why}: {text}"), status=200, provider=self.provider, body=text)


def _choose_transport(transport: str | None) -> Transport:
    where = "transport"
    if transport is None:
        transport = os.environ.get(TRANSPORT_ENV, "").strip().lower() or ("aiohttp" if aiohttp_available() else "httpx")
        where = TRANSPORT_ENV
    for known in _TRANSPORTS:
        if transport == known:
            return known
    raise UserError(f"{where} must be 'httpx' or 'aiohttp', not {transport!r}.")


def _retrying(provider: str, error: ProviderError, wait: float, attempt: int, retries: int) -> None:
    what = "rate limited" if isinstance(error, RateLimitError) else type(error).__name__
    if error.status is not None and not isinstance(error, RateLimitError):
        what += f" (HTTP {error.status})"
    logger.warning("%s: %s; retry %d of %d in %.1f s.", provider, what, attempt, retries, wait)
    for listener in RETRY_LISTENERS:
        listener(provider, error, wait, attempt)


def _retryable(error: ProviderError, retry_rate_limits: bool) -> bool:
    if isinstance(error, APIConnectionError):
        return True
    if isinstance(error, RateLimitError) and not retry_rate_limits:
        return False  # the caller paces requests and handles the 429 itself
    return error.status is not None and (error.status in RETRY_STATUSES or error.status >= 500)
