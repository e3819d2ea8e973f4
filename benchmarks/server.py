"""A minimal OpenAI-compatible chat-completions server for the benchmark.

Raw asyncio ``Protocol`` + HTTP/1.1 keep-alive, no framework, so that the server answers
instantly and is never the bottleneck. It runs as its own process (``python server.py``),
binds 127.0.0.1 on a port the OS picks, and prints ``PORT <n>`` on stdout.

``POST /v1/chat/completions``:

* no message with role ``tool`` in ``messages``: a call to ``get_weather({"city": "Paris"})``
  (``finish_reason: tool_calls``);
* otherwise: the final text ``"It is sunny."`` (``finish_reason: stop``).

The server exits when its standard input closes, so it never outlives the benchmark that
started it (even if that process is killed).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

HOST = "127.0.0.1"
MAX_HEADER = 64 * 1024

_counter = 0


def completion(messages: list[dict]) -> dict:
    """The answer to a request with these ``messages`` (also used in-process by the profiler)."""
    global _counter
    _counter += 1
    n = _counter
    prompt_tokens = 60 + 18 * len(messages)
    if any(isinstance(m, dict) and m.get("role") == "tool" for m in messages):
        message: dict = {"role": "assistant", "content": "It is sunny.", "refusal": None}
        finish, completion_tokens = "stop", 4
    else:
        message = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {
                    "id": f"call_{n:012d}",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        }
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


def _response(status: str, body: bytes, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class ChatProtocol(asyncio.Protocol):
    """One connection: parse requests (Content-Length bodies), answer each in turn."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
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
            self._send(self._handle(method, path, body, keep_alive), close=not keep_alive)

    def _handle(self, method: str, path: str, body: bytes, keep_alive: bool) -> bytes:
        if path.split("?", 1)[0] != "/v1/chat/completions":
            return _response("404 Not Found", b'{"error": {"message": "not found", "code": 404}}', keep_alive)
        if method != "POST":
            return _response("405 Method Not Allowed", b'{"error": {"message": "use POST", "code": 405}}', keep_alive)
        try:
            request = json.loads(body)
            messages = request["messages"]
        except (ValueError, KeyError, TypeError):
            return _response("400 Bad Request", b'{"error": {"message": "invalid JSON body", "code": 400}}', keep_alive)
        return _response("200 OK", json.dumps(completion(messages)).encode(), keep_alive)

    def _send(self, data: bytes, *, close: bool) -> None:
        assert self.transport is not None
        self.transport.write(data)
        if close:
            self.transport.close()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def _main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(ChatProtocol, HOST, 0, backlog=4096, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    stop = loop.create_future()

    def _done(*_: object) -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _done)
    # Exit when the parent goes away: it holds the other end of our stdin pipe.
    if not sys.stdin.isatty():
        loop.add_reader(sys.stdin.fileno(), lambda: _done() if not os.read(sys.stdin.fileno(), 4096) else None)
    print(f"PORT {port}", flush=True)
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(_main())
