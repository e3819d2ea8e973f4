"""Bounds on an answer, in size and in time, through both transports over real sockets.

An endless stream of well-formed chunks, an endless SSE line, a huge JSON body, a body that
trickles forever, retries that would wait past the deadline, a stream that stalls: each stops
with a typed agentkit error naming the option to raise, in bounded time and memory. Every test is
bounded by ``asyncio.wait_for`` too, so that on code without the bounds it fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

import pytest

from agentkit._http import limits as _limits
from agentkit._http.limits import DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_STREAM_BYTES
from agentkit.errors import APITimeoutError, ProviderError, ResponseParseError, StreamEndedEarly, UserError
from agentkit.events import ModelStreamEvent, TextDelta
from agentkit.messages import UserMessage
from agentkit.models import OpenAICompatible
from agentkit.models.base import ModelRequest
from agentkit.models.responses import ResponsesModel
from tests.support.server import Reply, chat_completion
from tests.support.sse import chunk, sse

SSE = "text/event-stream"
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
MiB = 1 << 20
BOUND = 15.0  # seconds any test may take before it counts as hanging


class Endless(Sequence[bytes]):
    """``first``, then ``then`` forever: a reply's chunks that never end."""

    def __init__(self, first: bytes, then: bytes) -> None:
        self.first, self.then = first, then

    def __len__(self) -> int:
        return sys.maxsize

    def __getitem__(self, index: Any) -> Any:
        return self.first if index == 0 else self.then


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def model_for(server: Any, transport: str, **options: Any) -> OpenAICompatible:
    options.setdefault("max_retries", 0)
    return OpenAICompatible("m", base_url=server.url + "/v1", api_key="sk-limits-0123456789", transport=transport, **options)


async def collect(model: Any) -> tuple[list[ModelStreamEvent], ProviderError | None]:
    events: list[ModelStreamEvent] = []

    async def read() -> None:
        async for event in model.stream(REQUEST):
            events.append(event)

    try:
        await asyncio.wait_for(read(), BOUND)
    except ProviderError as error:
        return events, error
    return events, None


def text_chunk(text: str) -> bytes:
    return sse([chunk({"content": text})], done=False)


# --- options ------------------------------------------------------------------------------------------


def test_the_defaults_are_far_above_any_real_answer() -> None:
    limits = OpenAICompatible("m", base_url="http://127.0.0.1:1/v1")._http.limits
    assert limits.max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES == 64 * MiB
    assert limits.max_stream_bytes == DEFAULT_MAX_STREAM_BYTES == 256 * MiB
    assert limits.max_event_bytes == DEFAULT_MAX_EVENT_BYTES == 16 * MiB
    assert limits.request_deadline == 900.0


def test_every_http_model_takes_the_options() -> None:
    options: dict[str, Any] = {
        "max_response_bytes": 1000,
        "max_stream_bytes": 2000,
        "max_event_bytes": 300,
        "request_deadline": 2,
    }
    for model in (
        OpenAICompatible("m", base_url="http://127.0.0.1:1/v1", **options),
        ResponsesModel("m", base_url="http://127.0.0.1:1/v1", **options),
    ):
        limits = model._http.limits
        assert (limits.max_response_bytes, limits.max_stream_bytes, limits.max_event_bytes) == (1000, 2000, 300)
        assert limits.request_deadline == 2.0
    assert OpenAICompatible("m", base_url="http://127.0.0.1:1/v1", request_deadline=None)._http.limits.request_deadline is None


@pytest.mark.parametrize(
    "options",
    [
        {"max_response_bytes": 0},
        {"max_stream_bytes": -1},
        {"max_event_bytes": 1.5},
        {"max_response_bytes": True},
        {"request_deadline": 0},
        {"request_deadline": float("inf")},
        {"request_deadline": "60"},
    ],
)
def test_bad_values_are_user_errors_naming_the_option(options: dict[str, Any]) -> None:
    with pytest.raises(UserError, match=next(iter(options))):
        OpenAICompatible("m", base_url="http://127.0.0.1:1/v1", **options)


# --- size -----------------------------------------------------------------------------------------------


async def test_an_endless_stream_stops_at_max_stream_bytes(loopback: Any, transport: str) -> None:
    server = loopback([Reply(chunks=Endless(text_chunk("a"), text_chunk("b" * 4000) * 16), content_type=SSE)])
    model = model_for(server, transport, max_stream_bytes=2 * MiB)
    events, error = await collect(model)
    assert isinstance(error, ResponseParseError) and "max_stream_bytes=2097152 (2 MiB)" in error.message
    assert "Pass max_stream_bytes=..." in error.message and error.provider == "openai-compatible"
    assert events[0] == TextDelta("a") and 400 < len(events) < 600  # 64 KiB chunks of 16 events up to 2 MiB
    await model.aclose()


async def test_an_endless_sse_line_stops_at_max_event_bytes_in_bounded_memory(loopback: Any, transport: str) -> None:
    start = b'data: {"choices": [{"index": 0, "delta": {"content": "'
    server = loopback([Reply(chunks=Endless(start, b"x" * 65536), content_type=SSE)])
    model = model_for(server, transport, max_event_bytes=MiB)
    tracemalloc.start()
    try:
        events, error = await collect(model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(error, ResponseParseError) and "max_event_bytes=1048576 (1 MiB)" in error.message
    assert "a line of the stream" in error.message and events == []
    assert peak < 12 * MiB, peak
    assert server.chunks_sent < 200  # it stopped reading: the server was held back
    await model.aclose()


async def test_an_endless_event_of_many_lines_stops_at_max_event_bytes(loopback: Any, transport: str) -> None:
    server = loopback([Reply(chunks=Endless(b": hi\n", b'data: {"x": 1}\n' * 4096), content_type=SSE)])
    model = model_for(server, transport, max_event_bytes=MiB)
    _, error = await collect(model)
    assert isinstance(error, ResponseParseError) and "an event of the stream" in error.message
    assert "max_event_bytes" in error.message
    await model.aclose()


async def test_a_huge_json_body_stops_at_max_response_bytes_in_bounded_memory(loopback: Any, transport: str) -> None:
    server = loopback([Reply(chunks=Endless(b'{"choices": [', b'{"message": {"content": "x"}},' * 2048))])
    model = model_for(server, transport, max_response_bytes=2 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseParseError, match=r"the response body is larger than max_response_bytes=2097152") as info:
            await asyncio.wait_for(model.request(REQUEST), BOUND)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "Pass max_response_bytes=..." in info.value.message and info.value.status == 200
    assert peak < 16 * MiB, peak
    assert server.chunks_sent < 200
    await model.aclose()


def _declares(length: int, sent: bytes, content_type: str = "application/json") -> tuple[str, threading.Event]:
    """A server that answers with ``Content-Length: length``, sends ``sent`` and waits: ``(url, done)``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    done = threading.Event()

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
                connection.sendall(head.encode() + sent)
                connection.settimeout(BOUND)
                try:
                    while connection.recv(65536):  # until the client hangs up
                        pass
                except OSError:
                    pass
                done.set()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", done


async def test_a_body_whose_content_length_is_over_the_limit_is_not_read(transport: str) -> None:
    url, done = _declares(400_000_000, b'{"choices": [' + b" " * 60000)  # 400 MB promised: over the 64 MiB default
    model = model_for(type("S", (), {"url": url})(), transport)
    started = time.perf_counter()
    with pytest.raises(ResponseParseError, match="max_response_bytes=67108864 \\(64 MiB\\)"):
        await asyncio.wait_for(model.request(REQUEST), BOUND)
    assert time.perf_counter() - started < 3
    await model.aclose()
    assert await asyncio.to_thread(done.wait, 5)  # the connection was dropped, not kept for another request


async def test_a_non_sse_answer_to_a_stream_request_is_bounded_too(loopback: Any, transport: str) -> None:
    server = loopback([Reply(chunks=Endless(b'{"choices": [', b" " * 65536), content_type="application/json")])
    model = model_for(server, transport, max_response_bytes=MiB)
    _, error = await collect(model)
    assert isinstance(error, ResponseParseError) and "max_response_bytes=1048576" in error.message
    await model.aclose()


async def test_answers_within_the_limits_are_untouched(loopback: Any, transport: str) -> None:
    text = "y" * 100_000
    body = sse([chunk({"content": text}), chunk({}, finish_reason="stop")])
    pieces = [body[i : i + 999] for i in range(0, len(body), 999)]
    server = loopback([Reply(body=chat_completion(text)), Reply(chunks=pieces, content_type=SSE)])
    longest = max(len(line) for line in body.split(b"\n"))  # each limit exactly reached, none passed
    length = len(json.dumps(chat_completion(text)))  # the server's JSON body
    model = model_for(server, transport, max_response_bytes=length, max_stream_bytes=len(body), max_event_bytes=longest)
    assert (await model.request(REQUEST)).message.content == text
    events, error = await collect(model)
    assert error is None and "".join(e.text for e in events if isinstance(e, TextDelta)) == text
    assert server.connections_accepted == 1  # the connection was reused: both bodies were read to their end
    await model.aclose()


# --- time -----------------------------------------------------------------------------------------------


async def test_an_endless_stream_of_well_formed_chunks_stops_at_the_deadline(loopback: Any, transport: str) -> None:
    server = loopback([Reply(chunks=Endless(text_chunk("a"), text_chunk("b") * 20), chunk_delay=0.001, content_type=SSE)])
    model = model_for(server, transport, request_deadline=0.6)
    started = time.perf_counter()
    events, error = await collect(model)
    elapsed = time.perf_counter() - started
    assert isinstance(error, APITimeoutError) and not isinstance(error, StreamEndedEarly)
    assert "request_deadline=0.6 s" in error.message and "Pass request_deadline=..." in error.message
    assert 0.6 <= elapsed < 2.5 and len(events) > 20
    await model.aclose()


async def test_a_stalled_stream_stops_at_the_deadline_before_its_idle_timeout(loopback: Any, transport: str) -> None:
    server = loopback([Reply(chunks=[text_chunk("a"), text_chunk("b")], chunk_delay=30, content_type=SSE)])
    model = model_for(server, transport, request_deadline=0.5, idle_timeout=30)
    started = time.perf_counter()
    events, error = await collect(model)
    assert isinstance(error, APITimeoutError) and "request_deadline" in error.message
    assert 0.5 <= time.perf_counter() - started < 2.5 and events == [TextDelta("a")]
    await model.aclose()


async def test_a_body_that_trickles_forever_stops_at_the_deadline(loopback: Any, transport: str) -> None:
    server = loopback([Reply(chunks=Endless(b'{"choices": [', b" "), chunk_delay=0.02)])
    model = model_for(server, transport, request_deadline=0.5, timeout=30)
    started = time.perf_counter()
    with pytest.raises(APITimeoutError, match=r"request_deadline=0\.5 s"):
        await asyncio.wait_for(model.request(REQUEST), BOUND)
    assert 0.5 <= time.perf_counter() - started < 2.5
    await model.aclose()


async def test_retries_and_their_waits_count_against_the_deadline(loopback: Any, transport: str) -> None:
    busy = Reply(503, {"error": {"message": "busy"}}, headers={"Retry-After": "20"})
    server = loopback([busy, busy, busy])
    model = model_for(server, transport, request_deadline=0.5, max_retries=2)
    started = time.perf_counter()
    with pytest.raises(APITimeoutError, match="retries and the whole stream included"):
        await asyncio.wait_for(model.request(REQUEST), BOUND)
    assert time.perf_counter() - started < 2.5 and len(server.requests) == 1  # stopped during the 20 s wait
    await model.aclose()


async def test_the_deadline_never_cancels_the_consumer_of_a_stream(loopback: Any, transport: str) -> None:
    server = loopback([Reply(chunks=[text_chunk("a"), sse([chunk({"content": "b"}), chunk({}, finish_reason="stop")])],
                             chunk_delay=0.05, content_type=SSE)])  # fmt: skip
    model = model_for(server, transport, request_deadline=0.3)
    seen: list[ModelStreamEvent] = []
    slept = False
    with pytest.raises(APITimeoutError, match="request_deadline"):
        async for event in model.stream(REQUEST):
            seen.append(event)
            await asyncio.sleep(0.6)  # the deadline passes here: this wait is not cut short
            slept = True
    assert seen == [TextDelta("a")] and slept
    await model.aclose()


async def test_a_caller_cancelling_or_timing_out_is_not_turned_into_a_deadline_error(loopback: Any, transport: str) -> None:
    server = loopback([Reply(stall=True), Reply(stall=True), Reply(body=chat_completion("fine"))])
    model = model_for(server, transport, request_deadline=0.3)
    with pytest.raises(asyncio.TimeoutError):  # the caller's own timeout, shorter than the deadline
        await asyncio.wait_for(model.request(REQUEST), 0.1)
    task = asyncio.ensure_future(model.request(REQUEST))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.4)  # past the deadline of both: nothing is left to fire
    assert (await asyncio.wait_for(model.request(REQUEST), BOUND)).message.content == "fine"
    current = asyncio.current_task()
    assert current is not None and (getattr(current, "cancelling", lambda: 0)() == 0)
    assert not _limits._registry[asyncio.get_running_loop()].watches
    await model.aclose()


async def test_requests_within_the_deadline_leave_nothing_behind(loopback: Any, transport: str) -> None:
    server = loopback(lambda request: Reply(body=chat_completion("ok")))
    model = model_for(server, transport, request_deadline=0.2)
    for _ in range(5):  # together longer than one deadline: each request has its own
        assert (await model.request(REQUEST)).message.content == "ok"
        await asyncio.sleep(0.06)
    deadlines = _limits._registry[asyncio.get_running_loop()]
    assert not deadlines.watches
    await asyncio.sleep(0.1)
    assert not deadlines._scheduled  # no timer runs while no request is in flight
    await model.aclose()


def test_a_deadline_watches_without_a_timer_per_request() -> None:
    """The cost on the hot path: no ``call_at`` per request (one coarse tick while any is in flight)."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        calls = 0
        original = loop.call_later

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return original(*args, **kwargs)

        loop.call_later = counting  # type: ignore[method-assign]
        task = asyncio.current_task()
        for _ in range(1000):
            _limits.watch(900.0, task).close()
        return calls

    assert asyncio.run(main()) == 1
