"""The HTTP behaviours that matter, through both transports: httpx's own (httpcore) and aiohttp.

``transport="aiohttp"`` puts httpx-aiohttp's transport behind the same httpx client; everything
agentkit promises about retries, timeouts, broken connections, streams, closing and keeping the
key secret must hold the same through it. Real sockets: the loopback server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from agentkit import Agent, tool
from agentkit._http import client as _http
from agentkit._http.client import TRANSPORT_ENV, HTTPClient
from agentkit.errors import (
    APIConnectionError,
    APITimeoutError,
    ProviderError,
    ProviderUnavailableError,
    StreamEndedEarly,
    UserError,
)
from agentkit.events import ModelStreamEvent, ResponseComplete, TextDelta
from agentkit.messages import UserMessage
from agentkit.models import OpenAICompatible
from agentkit.models.base import ModelRequest
from tests.support.server import Reply, call, chat_completion
from tests.support.sse import chunk, sse, text_stream

pytest.importorskip("httpx_aiohttp")

SECRET = "sk-transport-secret-5b1e"
SSE = "text/event-stream"
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
OK = Reply(body=chat_completion("fine"))


@tool
def get_weather(city: str) -> str:
    """Get the current weather.

    Args:
        city: City name, e.g. "Paris".
    """
    return f"Sunny, 22 C in {city}"


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(transport: str) -> Any:
    def model_for(server: Any, **options: Any) -> OpenAICompatible:
        model = OpenAICompatible("loopback-model", base_url=server.url + "/v1", api_key=SECRET, transport=transport, **options)
        assert model._http.transport == transport
        return model

    return model_for


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float | None]]:
    """Retries without sleeping; records ``(attempt, retry_after)`` of each wait."""
    recorded: list[tuple[int, float | None]] = []

    def backoff(self: HTTPClient, attempt: int, retry_after: float | None) -> float:
        recorded.append((attempt, retry_after))
        return 0.0

    monkeypatch.setattr(HTTPClient, "backoff", backoff)
    return recorded


def assert_secret_free(error: BaseException) -> None:
    texts = [str(error), repr(error), *map(str, error.args), repr(getattr(error, "body", None))]
    assert not any(SECRET in t for t in texts), texts


async def open_after(server: Any, timeout: float = 3.0) -> int:
    for _ in range(int(timeout / 0.01)):
        if not server.open_connections:
            break
        await asyncio.sleep(0.01)
    return int(server.open_connections)


async def collect(model: OpenAICompatible) -> tuple[list[ModelStreamEvent], ProviderError | None]:
    events: list[ModelStreamEvent] = []
    try:
        async for event in model.stream(REQUEST):
            events.append(event)
    except ProviderError as error:
        return events, error
    return events, None


def text_of(events: list[ModelStreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# --- choosing the transport -------------------------------------------------------------------


def test_the_default_is_aiohttp_when_installed_and_the_environment_variable_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    def chosen(**kw: Any) -> str:
        return OpenAICompatible("m", base_url="http://127.0.0.1:1/v1", **kw)._http.transport

    monkeypatch.delenv(TRANSPORT_ENV, raising=False)
    assert chosen() == "aiohttp"  # aiohttp is a dependency of agentkit-loop
    monkeypatch.setattr(_http, "aiohttp_available", lambda: False)
    assert chosen() == "httpx"  # an environment without aiohttp
    monkeypatch.setenv(TRANSPORT_ENV, " AIOHTTP ")
    assert chosen() == "aiohttp"
    assert chosen(transport="httpx") == "httpx"  # the argument wins
    assert chosen(http_client=httpx.AsyncClient()) == "aiohttp"  # recorded, unused: a caller's client sends
    monkeypatch.setenv(TRANSPORT_ENV, "curl")
    with pytest.raises(UserError, match=TRANSPORT_ENV):
        chosen()
    with pytest.raises(UserError, match="'httpx' or 'aiohttp'"):
        chosen(transport="requests")
    with pytest.raises(UserError, match="not both"):
        chosen(transport="aiohttp", http_client=httpx.AsyncClient())


def test_aiohttp_available_looks_without_importing() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from agentkit._http.transport import aiohttp_available; "
        "assert aiohttp_available(); assert 'aiohttp' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_httpx_aiohttp_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "httpx_aiohttp", None)
    monkeypatch.setattr("agentkit._http.client.aiohttp_available", lambda: False)  # (checked without importing)
    with pytest.raises(UserError, match=r"pip install 'agentkit-loop\[fast\]'"):
        OpenAICompatible("m", base_url="http://127.0.0.1:1/v1", transport="aiohttp")


# --- the behaviours, through both -------------------------------------------------------------


async def test_a_full_agent_run_with_a_tool(loopback: Any, make: Any) -> None:
    server = loopback(
        [Reply(body=chat_completion(None, [call("get_weather", {"city": "Paris"})])), Reply(body=chat_completion("Sunny."))]
    )
    agent = Agent(make(server), tools=[get_weather])
    result = await agent.run("Weather in Paris?")
    assert result.output == "Sunny." and result.usage.requests == 2 and result.usage.tool_calls == 1
    assert server.requests[1].json["messages"][-1]["content"] == "Sunny, 22 C in Paris"
    assert server.connections_accepted == 1  # kept alive between the two turns
    await agent.aclose()
    assert await open_after(server) == 0


async def test_429_with_retry_after_then_success(loopback: Any, make: Any, waits: Any) -> None:
    server = loopback([Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "7"}), OK])
    model = make(server)
    response = await model.request(REQUEST)
    assert response.message.content == "fine" and waits == [(0, 7.0)] and len(server.requests) == 2
    await model.aclose()


async def test_a_503_storm_makes_max_retries_plus_one_attempts(loopback: Any, make: Any, waits: Any) -> None:
    server = loopback(lambda request: Reply(503, {"error": {"message": f"busy {SECRET}"}}))
    model = make(server, max_retries=2)
    with pytest.raises(ProviderUnavailableError) as raised:
        await model.request(REQUEST)
    assert len(server.requests) == 3 and raised.value.status == 503 and "busy ***" in raised.value.message
    assert_secret_free(raised.value)
    await model.aclose()


async def test_a_read_timeout_is_an_api_timeout_error_in_bounded_time(loopback: Any, make: Any, waits: Any) -> None:
    server = loopback([Reply(stall=True), Reply(stall=True)])
    model = make(server, timeout=0.3, max_retries=1)
    started = time.perf_counter()
    with pytest.raises(APITimeoutError) as raised:
        await model.request(REQUEST)
    assert 0.5 <= time.perf_counter() - started < 4 and len(server.requests) == 2
    assert "ReadTimeout" in str(raised.value)
    assert_secret_free(raised.value)
    await model.aclose()


@pytest.mark.parametrize("cut_after", [0, 20])
async def test_a_connection_cut_mid_body_is_a_connection_error_and_retried(
    loopback: Any, make: Any, waits: Any, cut_after: int
) -> None:
    server = loopback(lambda request: Reply(body=chat_completion("x" * 200), cut_after=cut_after))
    model = make(server, max_retries=1)
    with pytest.raises(APIConnectionError) as raised:
        await model.request(REQUEST)
    assert not isinstance(raised.value, APITimeoutError)  # aiohttp's own mapping calls some of these timeouts
    assert "RemoteProtocolError" in str(raised.value) and len(server.requests) == 2
    assert_secret_free(raised.value)
    await model.aclose()


async def test_a_server_that_hangs_up_before_answering_is_a_connection_error(make: Any, waits: Any) -> None:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def hang_up() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    model = make(type("S", (), {"url": f"http://127.0.0.1:{port}"})(), max_retries=1)
    try:
        with pytest.raises(APIConnectionError) as raised:
            await model.request(REQUEST)
        assert not isinstance(raised.value, APITimeoutError)  # httpx-aiohttp alone calls this a ConnectTimeout
        assert_secret_free(raised.value)
    finally:
        await model.aclose()
        thread.join(timeout=5)
        listener.close()


async def test_connection_refused_is_a_connection_error(make: Any, waits: Any) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    model = make(type("S", (), {"url": f"http://127.0.0.1:{port}"})(), max_retries=1)
    with pytest.raises(APIConnectionError) as raised:
        await model.request(REQUEST)
    assert not isinstance(raised.value, APITimeoutError) and "ConnectError" in str(raised.value)
    assert len(waits) == 1
    await model.aclose()


async def test_a_stream_in_one_byte_chunks_gives_the_same_events(loopback: Any, make: Any, transport: str) -> None:
    data = sse(text_stream("Hel", "lo", " wörld"))
    server = loopback(
        [
            Reply(chunks=[data], content_type=SSE),
            Reply(chunks=[data[i : i + 1] for i in range(len(data))], content_type=SSE),
        ]
    )
    model = make(server)
    whole, error = await collect(model)
    assert error is None
    bytewise, error = await collect(model)
    assert error is None and bytewise == whole
    assert text_of(whole) == "Hello wörld" and isinstance(whole[-1], ResponseComplete)
    assert whole[-1].response.usage.total_tokens == 13
    await model.aclose()


async def test_a_stream_cut_mid_body_is_stream_ended_early(loopback: Any, make: Any) -> None:
    data = sse([chunk({"role": "assistant", "content": ""}), chunk({"content": "Hello"})], done=False)
    server = loopback([Reply(body=data + b'data: {"id": ', content_type=SSE, cut_after=len(data) + 5)])
    model = make(server)
    events, raised = await collect(model)
    assert text_of(events) == "Hello"
    assert isinstance(raised, StreamEndedEarly) and raised.partial.message.content == "Hello"
    assert_secret_free(raised)
    assert len(server.requests) == 1
    await model.aclose()


async def test_an_idle_stream_times_out_in_bounded_time(loopback: Any, make: Any) -> None:
    first = sse([chunk({"content": "a"})], done=False)
    server = loopback([Reply(chunks=[first, sse([chunk({"content": "b"})])], chunk_delay=30, content_type=SSE)])
    model = make(server, idle_timeout=0.3, max_retries=0)
    started = time.perf_counter()
    events, raised = await collect(model)
    assert time.perf_counter() - started < 3
    assert text_of(events) == "a"
    assert isinstance(raised, APITimeoutError) and not isinstance(raised, StreamEndedEarly)
    await model.aclose()


async def test_leaving_a_stream_early_then_aclose_leaves_no_connection_open(loopback: Any, make: Any) -> None:
    server = loopback([OK, Reply(chunks=[sse(text_stream("a", "b", "c"))], content_type=SSE)])
    model = make(server)
    assert (await model.request(REQUEST)).message.content == "fine"
    stream = model.stream(REQUEST)
    async for event in stream:
        assert event == TextDelta("a")
        break
    await stream.aclose()  # the rest of the body is drained, the connection goes back to the pool
    assert server.open_connections == 1 and server.connections_accepted == 1
    await model.aclose()
    assert await open_after(server) == 0


async def test_the_aiohttp_session_shares_the_tls_context_and_the_pool_size() -> None:
    from agentkit._http.transport import AiohttpSender, ssl_context

    model = OpenAICompatible("m", base_url="https://127.0.0.1:1/v1", transport="aiohttp")
    sender = model._http.sender()
    assert isinstance(sender, AiohttpSender)
    connector = sender.session.connector
    assert connector is not None and connector.limit == 1000
    assert connector._ssl is ssl_context()  # type: ignore[attr-defined]
    assert not sender.session.trust_env  # the proxy is read once (below), not per request in a thread
    await model.aclose()
    assert sender.is_closed


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """``(id of the read buffer, bytes read)`` of each read of the aiohttp transport."""
    from agentkit._http import transport as _transport

    handler: Any = _transport._buffered_handler()
    recorded: list[tuple[int, int]] = []
    buffer_updated = handler.buffer_updated

    def counted(self: Any, nbytes: int) -> None:
        recorded.append((id(self.get_buffer(-1)), nbytes))
        buffer_updated(self, nbytes)

    monkeypatch.setattr(handler, "buffer_updated", counted)
    return recorded


async def test_aiohttp_connections_read_into_one_buffer_of_the_session(loopback: Any, reads: list[tuple[int, int]]) -> None:
    """Not a new 256 KiB bytes per socket read (asyncio's recv for a plain Protocol), which fragments
    glibc's heap (benchmarks/chaos.py): recv_into one buffer per session, answers of any size intact."""
    from agentkit._http import transport as _transport

    big = "x" * (3 * _transport.READ_BUFFER_BYTES + 12345)  # several reads, the last one partial
    server = loopback(
        [Reply(body=chat_completion(big)), Reply(chunks=[sse(text_stream("buffered", " reads"))], content_type=SSE)]
    )
    model = OpenAICompatible("m", base_url=server.url + "/v1", api_key=SECRET, transport="aiohttp")
    sender = model._http.sender()
    assert isinstance(sender, _transport.AiohttpSender)
    connector: Any = sender.session.connector
    buffer = connector._factory.keywords["read_buffer"]
    assert buffer.nbytes == _transport.READ_BUFFER_BYTES and not buffer.readonly
    assert isinstance(connector._factory(), asyncio.BufferedProtocol)
    assert (await model.request(REQUEST)).message.content == big
    assert len(reads) >= 4 and sum(n for _, n in reads) > len(big)
    events, error = await collect(model)
    assert error is None and text_of(events) == "buffered reads"
    assert {buffer_id for buffer_id, _ in reads} == {id(buffer)}  # one buffer, reused
    other = OpenAICompatible("m", base_url=server.url + "/v1", transport="aiohttp")._http.sender()
    assert isinstance(other, _transport.AiohttpSender)
    assert other.session.connector._factory.keywords["read_buffer"] is not buffer  # type: ignore[union-attr]
    await other.aclose()
    await model.aclose()


async def test_proxies_from_the_environment_are_used_for_requests_and_streams(
    loopback: Any, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = loopback([OK, Reply(chunks=[sse(text_stream("via", " proxy"))], content_type=SSE)], spec=None)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    model = OpenAICompatible("m", base_url="http://api.example.invalid/v1", api_key=SECRET, transport=transport)  # type: ignore[arg-type]
    assert (await model.request(REQUEST)).message.content == "fine"
    events, error = await collect(model)
    assert error is None and text_of(events) == "via proxy"
    # an HTTP proxy gets the absolute URL of the API
    assert [r.path for r in proxy.requests] == ["http://api.example.invalid/v1/chat/completions"] * 2
    await model.aclose()


async def test_no_proxy_bypasses_the_proxy(loopback: Any, transport: str, monkeypatch: pytest.MonkeyPatch, waits: Any) -> None:
    proxy = loopback([OK], spec=None)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "api.example.invalid")
    model = OpenAICompatible(
        "m",
        base_url="http://api.example.invalid/v1",
        api_key=SECRET,
        transport=transport,
        max_retries=0,  # type: ignore[arg-type]
    )
    with pytest.raises(APIConnectionError):  # straight to a host that does not exist
        await model.request(REQUEST)
    assert proxy.requests == []
    await model.aclose()


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(loopback: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An HTTPS loopback server whose certificate a test CA signed; yields ``(server, ca_file)``."""
    import ssl

    from agentkit._http import transport as _transport

    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = loopback([OK, Reply(chunks=[sse(text_stream("over", " tls"))], content_type=SSE)], tls=context)
    _transport.ssl_context.cache_clear()  # the shared context is built once per process: rebuild it with this test's trust
    with ca.cert_pem.tempfile() as ca_file:
        yield server, ca_file
    _transport.ssl_context.cache_clear()


async def test_https_with_the_ca_from_ssl_cert_file(tls_server: Any, transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    server, ca_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    model = OpenAICompatible("m", base_url=server.url + "/v1", api_key=SECRET, transport=transport)  # type: ignore[arg-type]
    assert server.url.startswith("https://")
    assert (await model.request(REQUEST)).message.content == "fine"
    events, error = await collect(model)
    assert error is None and text_of(events) == "over tls"
    assert server.connections_accepted == 1  # the stream reused the TLS connection of the request
    await model.aclose()


async def test_a_large_answer_over_tls_through_the_read_buffer(
    loopback: Any, monkeypatch: pytest.MonkeyPatch, reads: Any
) -> None:
    """asyncio's TLS layer reads a BufferedProtocol's answer into its buffer too (SSLObject.read into it)."""
    import ssl

    from agentkit._http import transport as _transport

    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    big = "é" * (_transport.READ_BUFFER_BYTES + 999)  # two-byte characters, cut across reads
    server = loopback([Reply(body=chat_completion(big))], tls=context)
    _transport.ssl_context.cache_clear()
    try:
        with ca.cert_pem.tempfile() as ca_file:
            monkeypatch.setenv("SSL_CERT_FILE", ca_file)
            model = OpenAICompatible("m", base_url=server.url + "/v1", api_key=SECRET, transport="aiohttp")
            assert (await model.request(REQUEST)).message.content == big
            assert len(reads) >= 2
            await model.aclose()
    finally:
        _transport.ssl_context.cache_clear()


async def test_an_untrusted_certificate_is_a_connection_error(
    tls_server: Any, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ca_file = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    model = OpenAICompatible(
        "m", base_url=server.url + "/v1", api_key=SECRET, transport=transport, max_retries=0  # type: ignore[arg-type]
    )
    with pytest.raises(APIConnectionError, match=r"(?i)certificate") as info:
        await model.request(REQUEST)
    assert_secret_free(info.value)
    assert server.requests == []
    await model.aclose()


def test_an_agent_never_closed_leaves_no_unclosed_session_error(loopback: Any, transport: str) -> None:
    """Sessions dropped without aclose() (a script's asyncio.run, run_sync) close quietly, without aiohttp's error log."""
    import subprocess
    import sys

    server = loopback([OK, OK])
    code = f"""
import asyncio, gc
from agentkit import Agent
from agentkit.models import OpenAICompatible
url = {server.url + "/v1"!r}
agent = Agent(OpenAICompatible("m", base_url=url, transport={transport!r}))
print(agent.run_sync("hi").output)
async def main():
    print((await Agent(OpenAICompatible("m", base_url=url, transport={transport!r})).run("hi")).output)
asyncio.run(main())
gc.collect()
"""
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["fine", "fine"]
    assert "Unclosed" not in done.stderr and "Traceback" not in done.stderr, done.stderr
