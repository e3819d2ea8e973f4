"""A minimal OpenAI-compatible chat-completions server for the benchmark.

Raw asyncio ``Protocol`` + HTTP/1.1 keep-alive, no framework, so that the server answers
instantly and is never the bottleneck. It runs as its own process (``python server.py``),
binds 127.0.0.1 on a port the OS picks, and prints ``PORT <n>`` on stdout.

``POST /v1/chat/completions``:

* no message with role ``tool`` after the last ``user`` message: a call to
  ``get_weather({"city": "Paris"})`` (``finish_reason: tool_calls``), so that each new user turn of
  a stored conversation (``sessions.py``) makes the same tool round trip;
* otherwise: the final text ``"It is sunny."`` (``finish_reason: stop``);
* model ``bench-handoff`` (the multi-agent benchmark, ``multi_agent.py``): no tool message yet → a
  call to ``transfer_to_weather`` (no arguments); one → a call to ``get_weather``; two or more → the
  final text ``"It is sunny."``;
* model ``bench-lead``: no tool message → a call to the tool ``weather_agent`` with
  ``{"input": "Weather in Paris?"}``; otherwise the final text ``"The weather agent says: <the
  last tool message's content>"`` (so the sub-agent's answer is seen to come through);
* ``"stream": true``: an SSE stream (chunked transfer encoding, OpenAI chunk format, a usage
  chunk when ``stream_options.include_usage``, then ``data: [DONE]``) of ``STREAM_CHUNKS``
  small text chunks. A model name ``bench-pause<ms>`` sends the role chunk and the first text
  chunk at once, then waits ``<ms>`` before the rest (to measure time to the first event).

``--count FILE``: on exit, write the number of chat requests per model name to ``FILE`` (JSON).

``--rate-limit N``: at most N requests per second (a token bucket holding ``N/20`` tokens);
above that, ``429`` with ``Retry-After`` (whole seconds) and ``retry-after-ms``, as OpenAI sends.

The server exits when its standard input closes, so it never outlives the benchmark that
started it (even if that process is killed).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

HOST = "127.0.0.1"
MAX_HEADER = 64 * 1024
STREAM_CHUNKS = 2000


class TokenBucket:
    """``rate`` requests per second, bursts of at most ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()
        self.accepted = self.rejected = 0

    def take(self) -> float:
        """0 if the request may go, else the seconds until a token is free."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.accepted += 1
            return 0.0
        self.rejected += 1
        return (1 - self.tokens) / self.rate


LIMITER: TokenBucket | None = None
COUNTS: dict[str, int] | None = None
"""Chat requests (not streamed) per model name, with ``--count FILE``."""


def _chunk(n: int, created: int, delta: dict, finish: str | None = None) -> bytes:
    data = {
        "id": f"chatcmpl-{n:016d}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": "bench",
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def stream_events(include_usage: bool) -> tuple[list[bytes], Any]:
    """The SSE events of one streamed answer: role, ``STREAM_CHUNKS`` text chunks, finish, usage, [DONE].

    Returns the first two events (the role chunk and the first text chunk) and a function that
    builds the rest, so that a paused stream's first chunk goes out before the rest is built.
    """
    global _counter
    _counter += 1
    n, created = _counter, int(time.time())
    first = [_chunk(n, created, {"role": "assistant", "content": ""}), _chunk(n, created, {"content": "w0 "})]

    def rest() -> list[bytes]:
        events = [_chunk(n, created, {"content": f"w{i} "}) for i in range(1, STREAM_CHUNKS)]
        events.append(_chunk(n, created, {}, "stop"))
        if include_usage:
            usage = {"prompt_tokens": 20, "completion_tokens": STREAM_CHUNKS, "total_tokens": 20 + STREAM_CHUNKS}
            data = {
                "id": f"chatcmpl-{n:016d}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": "bench",
                "choices": [],
                "usage": usage,
            }
            events.append(b"data: " + json.dumps(data).encode() + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        return events

    return first, rest


def _http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


_counter = 0


def _tool_call(n: int, name: str, arguments: str) -> dict:
    return {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [{"id": f"call_{n:012d}", "type": "function", "function": {"name": name, "arguments": arguments}}],
    }


def _multi_agent_step(model: str, messages: list[dict], n: int) -> dict | None:
    """The answer of the multi-agent modes (``bench-handoff``, ``bench-lead``); None for other models."""
    if model not in ("bench-handoff", "bench-lead"):
        return None
    tools = [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]
    if model == "bench-handoff":
        if not tools:
            return _tool_call(n, "transfer_to_weather", "{}")
        if len(tools) == 1:
            return _tool_call(n, "get_weather", '{"city": "Paris"}')
        return {"role": "assistant", "content": "It is sunny.", "refusal": None}
    if not tools:
        return _tool_call(n, "weather_agent", '{"input": "Weather in Paris?"}')
    content = tools[-1].get("content")
    if isinstance(content, list):  # content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return {"role": "assistant", "content": f"The weather agent says: {content}", "refusal": None}


def _tool_answered(messages: list[dict]) -> bool:
    """Whether a tool result follows the last user message (the current turn has called its tool)."""
    for m in reversed(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role == "tool":
            return True
        if role == "user":
            return False
    return False


def completion(messages: list[dict], model: str = "bench") -> dict:
    """The answer to a request with these ``messages`` (also used in-process by the profiler)."""
    global _counter
    _counter += 1
    n = _counter
    prompt_tokens = 60 + 18 * len(messages)
    message: dict | None = _multi_agent_step(model, messages, n)
    if message is not None:
        finish, completion_tokens = ("tool_calls", 16) if message.get("tool_calls") else ("stop", 4)
    elif _tool_answered(messages):
        message = {"role": "assistant", "content": "It is sunny.", "refusal": None}
        finish, completion_tokens = "stop", 4
    else:
        message = _tool_call(n, "get_weather", '{"city": "Paris"}')
        finish, completion_tokens = "tool_calls", 16
    return {
        "id": f"chatcmpl-{n:016d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "bench",
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }


def _response(status: str, body: bytes, keep_alive: bool, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        f"{extra}"
        "\r\n"
    )
    return head.encode("latin-1") + body


class ChatProtocol(asyncio.Protocol):
    """One connection: parse requests (Content-Length bodies), answer each in turn."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.streaming: asyncio.Task | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.streaming is not None:
            return  # a stream is being written; what follows is handled after it
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER:
                    self._send(_response("431 Request Header Fields Too Large", b"{}", False), close=True)
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                self._send(_response("400 Bad Request", b'{"error": {"message": "bad request line"}}', False), close=True)
                return
            method, path, version = parts
            length = 0
            keep_alive = version == "HTTP/1.1"
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection":
                    v = value.strip().lower()
                    keep_alive = v != "close" if version == "HTTP/1.1" else v == "keep-alive"
            total = end + 4 + length
            if len(self.buffer) < total:
                return  # wait for the rest of the body
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            answer = self._handle(method, path, body, keep_alive)
            if isinstance(answer, bytes):
                self._send(answer, close=not keep_alive)
            else:  # a stream: written by a task; the client sends nothing more until it has ended
                self.streaming = asyncio.get_running_loop().create_task(self._stream(*answer, keep_alive))
                return

    async def _stream(self, answer: tuple[list[bytes], Any], pause: float, keep_alive: bool) -> None:
        events, rest = answer
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            f"transfer-encoding: chunked\r\nconnection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        ).encode()
        if self.transport is None:
            self.streaming = None
            return
        if pause:
            self.transport.write(head + _http_chunk(events[0] + events[1]))
            await asyncio.sleep(pause)
            events, head = [], b""
        events += rest()
        if self.transport is None:
            self.streaming = None
            return
        self.transport.write(head + b"".join(_http_chunk(e) for e in events) + b"0\r\n\r\n")
        self.streaming = None
        if not keep_alive:
            self.transport.close()
            self.transport = None
        elif self.buffer:
            self.data_received(b"")

    def _handle(self, method: str, path: str, body: bytes, keep_alive: bool) -> bytes | tuple[Any, float]:
        if path.split("?", 1)[0] != "/v1/chat/completions":
            return _response("404 Not Found", b'{"error": {"message": "not found", "code": 404}}', keep_alive)
        if method != "POST":
            return _response("405 Method Not Allowed", b'{"error": {"message": "use POST", "code": 405}}', keep_alive)
        try:
            request = json.loads(body)
            messages = request["messages"]
        except (ValueError, KeyError, TypeError):
            return _response("400 Bad Request", b'{"error": {"message": "invalid JSON body", "code": 400}}', keep_alive)
        if LIMITER is not None:
            wait = LIMITER.take()
            if wait:
                headers = f"retry-after: {math.ceil(wait)}\r\nretry-after-ms: {math.ceil(wait * 1000)}\r\n"
                error = b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}'
                return _response("429 Too Many Requests", error, keep_alive, headers)
        if request.get("stream"):
            model = str(request.get("model", ""))
            pause = int(model.rsplit("pause", 1)[1]) / 1000 if "pause" in model else 0.0
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            return stream_events(include_usage), pause
        model = request.get("model")
        model = model if isinstance(model, str) else "bench"
        if COUNTS is not None:
            COUNTS[model] = COUNTS.get(model, 0) + 1
        return _response("200 OK", json.dumps(completion(messages, model)).encode(), keep_alive)

    def _send(self, data: bytes, *, close: bool) -> None:
        assert self.transport is not None
        self.transport.write(data)
        if close:
            self.transport.close()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(protocol_factory: Callable[[], asyncio.Protocol]) -> None:
    """Serve on 127.0.0.1 on a free port (printed as ``PORT n``) until SIGTERM/SIGINT or the parent
    goes away (it holds the other end of our stdin pipe). Shared with ``chaos_server.py``."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol_factory, HOST, 0, backlog=4096, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    stop = loop.create_future()

    def _done(*_: object) -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _done)
    if not sys.stdin.isatty():
        loop.add_reader(sys.stdin.fileno(), lambda: _done() if not os.read(sys.stdin.fileno(), 4096) else None)
    print(f"PORT {port}", flush=True)
    async with server:
        await stop


async def _main() -> None:
    global LIMITER
    if "--rate-limit" in sys.argv:
        rate = float(sys.argv[sys.argv.index("--rate-limit") + 1])
        LIMITER = TokenBucket(rate, max(1.0, rate / 20))
    await serve(ChatProtocol)
    if LIMITER is not None:
        print(f"RATE accepted={LIMITER.accepted} rejected={LIMITER.rejected}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    count_file = sys.argv[sys.argv.index("--count") + 1] if "--count" in sys.argv else None
    if count_file is not None:
        COUNTS = {}
    asyncio.run(_main())
    if count_file is not None:
        with open(count_file, "w") as f:
            json.dump(COUNTS, f)
