"""Provider errors, retries and timeouts over real sockets (the loopback server on 127.0.0.1).

Every fault case ends in the right exception (or a success) in bounded time, and leaves no
connection open: the server counts the connections it holds, checked after the failure and
after ``aclose()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import pickle
import socket
import threading
import time

import httpx
import pytest

from agentkit import Agent
from agentkit._http.client import HTTPClient, error_from_response, parse_retry_after
from agentkit.errors import (
    AllModelsFailed,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    RequestTimeoutError,
    RequestTooLargeError,
    ResponseParseError,
    UserError,
    error_class_for_status,
)
from agentkit.messages import UserMessage
from agentkit.models import Mistral, OpenAICompatible, OpenRouter
from agentkit.models.base import ModelRequest
from tests.support.server import Reply, chat_completion

SECRET = "sk-test-secret-123"
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
OK = Reply(body=chat_completion("fine"))


def model_for(server, **kw):
    return OpenAICompatible("loopback-model", base_url=server.url + "/v1", api_key=SECRET, **kw)


@pytest.fixture
def waits(monkeypatch):
    """Make backoff instant; records ``(attempt, retry_after)`` of every wait."""
    recorded: list[tuple[int, float | None]] = []

    def backoff(self, attempt, retry_after):
        recorded.append((attempt, retry_after))
        return 0.0

    monkeypatch.setattr(HTTPClient, "backoff", backoff)
    return recorded


async def open_after(server, timeout: float = 3.0) -> int:
    """The server's open connections once they have had ``timeout`` seconds to drop to zero."""
    for _ in range(int(timeout / 0.01)):
        if not server.open_connections:
            break
        await asyncio.sleep(0.01)
    return server.open_connections


def arrivals(replies):
    """A handler serving ``replies`` in order and recording when each request arrived."""
    times: list[float] = []
    queue = list(replies)

    def handler(request):
        times.append(time.monotonic())
        return queue.pop(0)

    return handler, times


# --- status → exception ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls", "retried"),
    [
        (400, BadRequestError, False),
        (401, AuthenticationError, False),
        (402, PaymentRequiredError, False),
        (403, PermissionDeniedError, False),
        (404, NotFoundError, False),
        (409, BadRequestError, False),
        (408, RequestTimeoutError, True),
        (413, RequestTooLargeError, False),
        (422, BadRequestError, False),
        (429, RateLimitError, True),
        (500, ProviderUnavailableError, True),
        (502, ProviderUnavailableError, True),
        (503, ProviderUnavailableError, True),
        (504, ProviderUnavailableError, True),
        (524, RequestTimeoutError, True),
        (529, ProviderUnavailableError, True),
    ],
)
async def test_each_status_raises_its_error_and_only_transient_ones_are_retried(loopback, waits, status, cls, retried):
    body = {"error": {"message": f"failure {status}", "type": "some_type", "param": None, "code": "some_code"}}
    server = loopback(lambda request: Reply(status, body, headers={"x-request-id": f"req_{status}"}))
    model = model_for(server)  # default max_retries=2
    with pytest.raises(cls) as info:
        await model.request(REQUEST)
    err = info.value
    assert type(err) is cls and isinstance(err, ProviderError)
    assert (err.status, err.provider, err.code, err.type) == (status, "openai-compatible", "some_code", "some_type")
    assert err.message == f"failure {status}" and err.request_id == f"req_{status}"
    assert (
        str(err) == f"openai-compatible HTTP {status}: failure {status} (code=some_code, type=some_type, request_id=req_{status})"
    )
    assert len(server.requests) == (3 if retried else 1)
    assert [attempt for attempt, _ in waits] == ([0, 1] if retried else [])
    assert server.open_connections <= 1  # one kept-alive connection served every attempt
    await model.aclose()
    assert await open_after(server) == 0


def test_error_classes_form_one_hierarchy():
    assert issubclass(APITimeoutError, APIConnectionError)
    assert all(issubclass(error_class_for_status(s), ProviderError) for s in range(300, 600))
    assert error_class_for_status(409) is BadRequestError and error_class_for_status(418) is BadRequestError
    assert error_class_for_status(501) is ProviderUnavailableError and error_class_for_status(599) is ProviderUnavailableError
    assert issubclass(AllModelsFailed, ProviderError)


# --- the providers' error bodies -------------------------------------------------------------


OPENROUTER_RAW = (
    "google/gemini-2.0-flash-exp:free is temporarily rate-limited upstream. Please retry shortly, "
    "or add your own key to accumulate your rate limits: https://openrouter.ai/settings/integrations"
)


@pytest.mark.parametrize(
    ("provider", "status", "body", "cls", "message", "code", "kind"),
    [
        pytest.param(
            "openai",
            400,
            {
                "error": {
                    "message": "Invalid 'messages[0].role'",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": None,
                }
            },
            BadRequestError,
            "Invalid 'messages[0].role'",
            None,
            "invalid_request_error",
            id="openai",
        ),
        pytest.param(
            "openrouter",
            429,
            {
                "error": {
                    "code": 429,
                    "message": "Provider returned error",
                    "metadata": {"raw": OPENROUTER_RAW, "provider_name": "Google"},
                },
                "user_id": "user_2wT5ElBE4Es3R4QrNLpZiXICmQP",
            },
            RateLimitError,
            f"Provider returned error: {OPENROUTER_RAW} (upstream provider: Google)",
            429,
            None,
            id="openrouter-raw-text",
        ),
        pytest.param(
            "openrouter",
            400,
            {
                "error": {
                    "code": 400,
                    "message": "Provider returned error",
                    "metadata": {
                        "raw": json.dumps({"object": "error", "message": "Tool schema is invalid", "type": "invalid_request"}),
                        "provider_name": "Mistral",
                    },
                },
                "user_id": "user_1",
            },
            BadRequestError,
            "Provider returned error: Tool schema is invalid (upstream provider: Mistral)",
            400,
            None,
            id="openrouter-raw-json",
        ),
        pytest.param(
            "openrouter",
            402,
            {"error": {"code": 402, "message": "Insufficient credits. Add more using https://openrouter.ai/credits"}},
            PaymentRequiredError,
            "Insufficient credits. Add more using https://openrouter.ai/credits",
            402,
            None,
            id="openrouter-credits",
        ),
        pytest.param(
            "mistral",
            400,
            {"object": "error", "message": "Invalid model: mistral-nope", "type": "invalid_model", "param": None, "code": "1500"},
            BadRequestError,
            "Invalid model: mistral-nope",
            "1500",
            "invalid_model",
            id="mistral-string-code",
        ),
        pytest.param(
            "mistral",
            422,
            {
                "object": "error",
                "message": {
                    "detail": [
                        {"type": "missing", "loc": ["body", "messages", 0, "content"], "msg": "Field required", "input": {}},
                        {"type": "extra_forbidden", "loc": ["body", "seed"], "msg": "Extra inputs are not permitted"},
                    ]
                },
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
            BadRequestError,
            "body.messages.0.content: Field required; body.seed: Extra inputs are not permitted",
            None,
            "invalid_request_error",
            id="mistral-422-detail-object",
        ),
        pytest.param(
            "mistral",
            429,
            {"message": "Requests rate limit exceeded"},
            RateLimitError,
            "Requests rate limit exceeded",
            None,
            None,
            id="mistral-bare-429",
        ),
    ],
)
async def test_provider_error_bodies_give_the_providers_own_message(loopback, provider, status, body, cls, message, code, kind):
    server = loopback([Reply(status, body, headers={"x-kong-request-id": "kong-1"})], spec=provider)
    base_url = server.url + "/v1"
    if provider == "openai":
        model = model_for(server, max_retries=0)
    elif provider == "openrouter":
        model = OpenRouter("mistralai/mistral-large-2512", api_key=SECRET, base_url=base_url, max_retries=0)
    else:
        model = Mistral("mistral-large-latest", api_key=SECRET, base_url=base_url, max_retries=0)
    with pytest.raises(cls) as info:
        await model.request(REQUEST)
    err = info.value
    assert err.message == message
    assert (err.status, err.code, err.type, err.request_id) == (status, code, kind, "kong-1")
    assert err.provider == ("openai-compatible" if provider == "openai" else provider)
    assert err.body == body
    await model.aclose()


@pytest.mark.parametrize(
    ("error", "cls", "status", "attempts"),
    [
        ({"code": 502, "message": "Upstream died mid-answer"}, ProviderUnavailableError, 502, 2),
        ({"code": 429, "message": "Rate limited upstream"}, RateLimitError, 429, 2),
        ({"code": 400, "message": "Bad tool schema"}, BadRequestError, 400, 1),
        ({"code": "server_error", "message": "Something broke"}, ProviderError, 200, 1),
    ],
)
async def test_an_error_object_inside_a_200_body_is_an_error(loopback, waits, error, cls, status, attempts):
    server = loopback(lambda request: Reply(200, {"error": error, "user_id": "u1"}))
    model = model_for(server, max_retries=1)
    with pytest.raises(cls) as info:
        await model.request(REQUEST)
    assert type(info.value) is cls
    assert info.value.status == status and info.value.message == error["message"] and info.value.code == error["code"]
    assert len(server.requests) == attempts  # retried like the same HTTP status
    await model.aclose()


async def test_error_null_and_error_next_to_choices_are_answers(loopback):
    with_null = {**chat_completion("a"), "error": None}
    with_both = {**chat_completion("b"), "error": {"message": "ignored"}}
    server = loopback([Reply(body=with_null), Reply(body=with_both)])
    model = model_for(server)
    assert (await model.request(REQUEST)).message.content == "a"
    assert (await model.request(REQUEST)).message.content == "b"
    await model.aclose()


# --- the API key never shows -------------------------------------------------------------------


async def test_the_key_never_shows_even_when_the_provider_echoes_it(loopback):
    echo = {
        "error": {
            "message": f"Incorrect API key provided: {SECRET}. You can find your API key at ...",
            "type": "invalid_request_error",
            "param": SECRET,
            "code": "invalid_api_key",
        }
    }
    html_echo = f"<html><body><h1>403 Forbidden</h1><p>key {SECRET} is blocked</p></body></html>"
    not_json = f"oops {SECRET}"
    server = loopback(
        [Reply(401, echo), Reply(403, html_echo, content_type="text/html"), Reply(200, not_json, content_type="text/plain")]
    )
    base_url = server.url + "/v1"
    models = [
        model_for(server, max_retries=0),
        OpenRouter("mistralai/mistral-nemo", api_key=SECRET, base_url=base_url),
        Mistral("mistral-small-latest", api_key=SECRET, base_url=base_url),
    ]
    errors = []
    for cls in (AuthenticationError, PermissionDeniedError, ResponseParseError):
        with pytest.raises(cls) as info:
            await models[0].request(REQUEST)
        errors.append(info.value)
    assert "Incorrect API key provided: ***" in errors[0].message and errors[0].body["error"]["param"] == "***"
    assert "key *** is blocked" in errors[1].message
    assert "oops ***" in errors[2].message
    for err in errors:
        restored = pickle.loads(pickle.dumps(err))
        assert type(restored) is type(err) and str(restored) == str(err) and restored.status == err.status
        for text in (str(err), repr(err), err.message, json.dumps(err.body), repr(err.args), str(restored)):
            assert SECRET not in text
    for model in models:
        assert SECRET not in repr(model) and SECRET not in str(model)
        await model.aclose()


def test_error_from_response_redacts_and_reads_every_header():
    headers = {"retry-after": "7", "request-id": "r-9"}
    err = error_from_response(429, json.dumps({"error": f"slow down {SECRET}"}).encode(), headers, "ollama", SECRET)
    assert isinstance(err, RateLimitError)
    assert (err.message, err.retry_after, err.request_id, err.provider) == ("slow down ***", 7.0, "r-9", "ollama")
    unknown = error_from_response(500, b'{"weird": true}', {}, "p")
    assert unknown.message == 'HTTP 500 with an unrecognised body: {"weird": true}'
    assert error_from_response(404, b'{"detail": "Not Found"}', {}, "p").message == "Not Found"


# --- retries ----------------------------------------------------------------------------------


async def test_429_without_retry_after_is_retried_with_backoff_then_succeeds(loopback, waits):
    server = loopback([Reply(429, {"error": {"message": "slow down"}}), OK])
    model = model_for(server)
    started = time.monotonic()
    response = await model.request(REQUEST)
    assert response.message.content == "fine"
    assert time.monotonic() - started < 5
    assert waits == [(0, None)]
    assert len(server.requests) == 2 and server.open_connections <= 1
    await model.aclose()
    assert await open_after(server) == 0


async def test_429_with_retry_after_passes_the_wait_to_backoff(loopback, waits):
    server = loopback([Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "3"}), OK])
    model = model_for(server)
    assert (await model.request(REQUEST)).message.content == "fine"
    assert waits == [(0, 3.0)]
    await model.aclose()
    assert await open_after(server) == 0


async def test_a_real_retry_after_of_one_second_is_honoured(loopback):
    handler, times = arrivals([Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "1"}), OK])
    server = loopback(handler)
    model = model_for(server)
    started = time.monotonic()
    assert (await model.request(REQUEST)).message.content == "fine"
    assert 0.95 <= times[1] - times[0] < 3
    assert time.monotonic() - started < 5
    await model.aclose()
    assert await open_after(server) == 0


async def test_retry_after_ms_is_preferred_and_retry_after_is_capped(loopback):
    handler, times = arrivals(
        [
            Reply(429, {"error": {"message": "a"}}, headers={"retry-after-ms": "250", "Retry-After": "30"}),
            Reply(
                503, {"error": {"message": "b"}}, headers={"Retry-After": email.utils.formatdate(time.time() + 3600, usegmt=True)}
            ),
            OK,
        ]
    )
    server = loopback(handler)
    model = model_for(server)
    model._http.max_retry_wait = 0.3  # an hour's Retry-After waits 0.3 s
    started = time.monotonic()
    assert (await model.request(REQUEST)).message.content == "fine"
    assert 0.2 <= times[1] - times[0] < 1.5
    assert 0.25 <= times[2] - times[1] < 1.5
    assert time.monotonic() - started < 5
    await model.aclose()


@pytest.mark.parametrize("max_retries", [0, 1, 3])
async def test_a_503_storm_makes_exactly_max_retries_plus_one_attempts(loopback, waits, max_retries):
    server = loopback(lambda request: Reply(503, {"error": {"message": "overloaded"}}, headers={"retry-after-ms": "5"}))
    model = model_for(server, max_retries=max_retries)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailableError) as info:
        await model.request(REQUEST)
    assert time.monotonic() - started < 5
    assert len(server.requests) == max_retries + 1
    assert waits == [(attempt, 0.005) for attempt in range(max_retries)]
    assert info.value.message == "overloaded" and info.value.retry_after == 0.005
    assert server.open_connections <= 1
    await model.aclose()
    assert await open_after(server) == 0


def test_backoff_is_exponential_with_jitter_and_capped():
    client = HTTPClient(base_url="http://127.0.0.1:1", headers={}, provider="p", max_retry_wait=3.0)
    for attempt in range(4):
        delays = {client.backoff(attempt, None) for _ in range(50)}
        low, high = 0.25 * 2**attempt, min(0.5 * 2**attempt, 3.0)
        assert all(min(low, 3.0) <= d <= high for d in delays)
        assert len(delays) > 1 or low >= 3.0  # jitter
    assert client.backoff(9, None) == 3.0
    assert client.backoff(0, 2.5) == 2.5 and client.backoff(0, 120.0) == 3.0 and client.backoff(0, -1.0) == 0.0


def test_retry_after_parsing():
    def parse(**headers):
        return parse_retry_after(httpx.Headers(headers))

    assert parse() is None
    assert parse(**{"retry-after": "2"}) == 2.0 and parse(**{"retry-after": "0.5"}) == 0.5
    assert parse(**{"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse(**{"retry-after-ms": "junk", "retry-after": "9"}) == 9.0
    assert 8 < parse(**{"retry-after": email.utils.formatdate(time.time() + 10, usegmt=True)}) <= 10
    assert 8 < parse(**{"retry-after": email.utils.formatdate(time.time() + 10)[:-5] + "-0000"}) <= 10
    assert parse(**{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse(**{"retry-after": "-3"}) == 0.0
    for junk in ("soon", "nan", "inf"):
        assert parse(**{"retry-after": junk}) is None


def test_max_retries_must_not_be_negative():
    with pytest.raises(UserError, match="max_retries"):
        OpenAICompatible("m", base_url="http://127.0.0.1:1/v1", max_retries=-1)


# --- broken connections and timeouts ------------------------------------------------------------


async def test_a_connection_cut_mid_body_is_retried_then_succeeds(loopback, waits):
    server = loopback([Reply(body=chat_completion("x" * 200), cut_after=20), OK])
    model = model_for(server)
    assert (await model.request(REQUEST)).message.content == "fine"
    assert len(server.requests) == 2 and waits == [(0, None)]
    await model.aclose()
    assert await open_after(server) == 0


async def test_connections_cut_every_time_end_in_api_connection_error(loopback, waits):
    server = loopback(lambda request: Reply(body=chat_completion("x" * 200), cut_after=20))
    model = model_for(server)
    started = time.monotonic()
    with pytest.raises(APIConnectionError) as info:
        await model.request(REQUEST)
    assert time.monotonic() - started < 5
    assert type(info.value) is APIConnectionError and info.value.status is None
    # httpcore: "peer closed connection without sending complete message body"; aiohttp: ClientPayloadError
    assert info.value.message.startswith("RemoteProtocolError: ")
    assert len(server.requests) == 3
    assert await open_after(server) == 0  # broken connections are closed, not pooled
    await model.aclose()


async def test_a_server_that_never_answers_times_out_is_retried_then_raises(loopback, waits):
    release = threading.Event()

    def never(request):
        release.wait(10)  # "never" for the client; released at the end to prove it hung up
        return OK

    server = loopback(never)
    model = model_for(server, timeout=0.3, max_retries=2)
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        await model.request(REQUEST)
    elapsed = time.monotonic() - started
    assert 0.8 <= elapsed < 5  # three read timeouts of 0.3 s
    assert len(server.requests) == 3 and [a for a, _ in waits] == [0, 1]
    assert info.value.message.startswith("ReadTimeout: ") and info.value.status is None
    release.set()
    assert await open_after(server) == 0  # the client hung up on each timed-out connection
    await model.aclose()


async def test_a_stalled_answer_is_retried_then_succeeds(loopback, waits):
    server = loopback([Reply(stall=True), OK])
    model = model_for(server, timeout=httpx.Timeout(5.0, read=0.3))
    started = time.monotonic()
    assert (await model.request(REQUEST)).message.content == "fine"
    assert time.monotonic() - started < 5
    assert len(server.requests) == 2
    await model.aclose()


async def test_connect_timeout_is_its_own_setting(waits):
    # A listener whose accept queue is full drops new SYNs: connecting hangs until the timeout.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    model = OpenAICompatible("m", base_url=f"http://127.0.0.1:{port}/v1", timeout=httpx.Timeout(30.0, connect=0.2), max_retries=1)
    try:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await model.request(REQUEST)
        assert time.monotonic() - started < 5
        assert info.value.message.startswith("ConnectTimeout")
        assert len(waits) == 1  # retried once
    finally:
        await model.aclose()
        for s in (*fillers, listener):
            s.close()


async def test_connection_refused_is_retried_then_raises(waits):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = OpenAICompatible("m", base_url=f"http://127.0.0.1:{port}/v1", api_key=SECRET)
    started = time.monotonic()
    with pytest.raises(APIConnectionError) as info:
        await model.request(REQUEST)
    assert time.monotonic() - started < 5
    assert type(info.value) is APIConnectionError and info.value.message.startswith("ConnectError")
    assert [a for a, _ in waits] == [0, 1]
    assert SECRET not in str(info.value)
    await model.aclose()


def test_timeouts_are_configurable():
    def timeout_of(**kw):
        return OpenAICompatible("m", base_url="http://127.0.0.1:1/v1", **kw)._http.timeout

    assert timeout_of(timeout=2.5) == httpx.Timeout(2.5)
    custom = httpx.Timeout(60.0, connect=1.0, read=5.0)
    assert timeout_of(timeout=custom) is custom
    default = timeout_of()
    assert default.connect == 10.0 and default.read == 600.0


async def test_a_callers_client_gets_the_timeout_and_is_left_open(loopback):
    server = loopback([Reply(stall=True), OK])
    async with httpx.AsyncClient(timeout=30.0) as mine:
        model = model_for(server, http_client=mine, timeout=0.3, max_retries=0)
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            await model.request(REQUEST)
        assert time.monotonic() - started < 5
        await model.aclose()
        assert not mine.is_closed
        untimed = model_for(server, http_client=mine)  # no timeout given: the client's own is used
        assert (await untimed.request(REQUEST)).message.content == "fine"


# --- bodies that are not what they should be ---------------------------------------------------------


async def test_invalid_json_in_a_200_body_is_a_parse_error_with_a_snippet(loopback, waits):
    server = loopback(
        [Reply(200, '{"id": "chatcmpl-1", "choices": [{"message": {"content": "trunc', headers={"x-request-id": "r1"})]
    )
    model = model_for(server)
    with pytest.raises(ResponseParseError) as info:
        await model.request(REQUEST)
    err = info.value
    assert err.status == 200 and err.request_id == "r1"
    assert '"choices": [{"message": {"content": "trunc' in err.message
    assert len(server.requests) == 1 and waits == []
    await model.aclose()
    assert await open_after(server) == 0


NGINX_502 = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center>
</body>
</html>
"""

CLOUDFLARE_524 = """<!DOCTYPE html><html><head><title>api.example.com | 524: A timeout occurred</title>
<style>body{font-family:sans-serif} .x{color:red}</style><script>window.cf = {"ray": "abc"};</script></head>
<body><!-- cf error page --><h1>A timeout occurred&nbsp;&mdash; Error code 524</h1>
<p>The origin web server timed out responding to this request.</p></body></html>"""


async def test_html_error_pages_from_proxies_become_their_text(loopback, waits):
    server = loopback(
        [
            *[Reply(502, NGINX_502, content_type="text/html") for _ in range(3)],
            *[Reply(524, CLOUDFLARE_524, content_type="text/html", headers={"cf-ray": "8a1b-AMS"}) for _ in range(3)],
        ]
    )
    model = model_for(server)
    with pytest.raises(ProviderUnavailableError) as info:
        await model.request(REQUEST)
    assert info.value.message == "HTTP 502 with a non-JSON body: 502 Bad Gateway 502 Bad Gateway nginx/1.25.3"
    assert info.value.body == NGINX_502
    with pytest.raises(RequestTimeoutError) as info_524:
        await model.request(REQUEST)
    message = info_524.value.message
    assert "A timeout occurred \u2014 Error code 524" in message and "origin web server timed out" in message
    for hidden in ("<", "font-family", "window.cf", "cf error page", "&nbsp;"):
        assert hidden not in message
    assert info_524.value.request_id == "8a1b-AMS"
    assert len(server.requests) == 6  # both retried
    await model.aclose()
    assert await open_after(server) == 0


async def test_empty_bodies(loopback, waits):
    server = loopback([Reply(200, b""), Reply(503, b""), Reply(503, "  \n"), Reply(503, b"")])
    model = model_for(server)
    with pytest.raises(ResponseParseError, match="empty body"):
        await model.request(REQUEST)
    with pytest.raises(ProviderUnavailableError) as info:
        await model.request(REQUEST)
    assert info.value.message == "HTTP 503 with an empty body"
    assert len(server.requests) == 4
    await model.aclose()
    assert await open_after(server) == 0


# --- connections across event loops -------------------------------------------------------------------


async def test_aclose_also_closes_the_connection_run_sync_opened(loopback):
    server = loopback(lambda request: OK)
    agent = Agent(model_for(server))
    result = await asyncio.to_thread(agent.run_sync, "on the background loop")
    assert result.output == "fine"
    assert (await agent.run("on this loop")).output == "fine"
    assert server.open_connections == 2  # one kept-alive connection per event loop
    await agent.aclose()
    assert await open_after(server) == 0
    assert (await agent.run("usable again after aclose")).output == "fine"
    await agent.aclose()
    assert await open_after(server) == 0
