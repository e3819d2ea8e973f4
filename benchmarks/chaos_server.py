"""An OpenAI-compatible chat-completions server that misbehaves on purpose, for the chaos soak.

Like ``server.py``: a raw asyncio ``Protocol`` with HTTP/1.1 keep-alive, in **its own process**
(``python chaos_server.py [--seed N]``), bound to 127.0.0.1 on a port the OS picks; it prints
``PORT <n>`` on stdout and exits when its standard input closes (so it never outlives the soak).

What a *correct* answer is, from the request:

* the request has tools other than ``final_result`` and no ``tool`` message yet: 1-3 calls of the
  first such tool (``get_weather`` → ``{"city": "Paris"}``, ``get_forecast`` → ``{"city": "Oslo",
  "days": 3}``), ``finish_reason: tool_calls``;
* else ``response_format`` json_schema: :data:`WEATHER` as JSON text;
* else a ``final_result`` tool: a call of it with :data:`WEATHER` as its arguments;
* else the text :data:`TEXT` (multi-byte UTF-8, so byte splits land inside characters).

``"stream": true`` gives the same answer as OpenAI's SSE chunks (text in ~12 pieces, tool-call
arguments in several), a usage chunk when asked for, then ``data: [DONE]``.

Every request draws one fault (``FAULTS``, weights in percent of requests); each fault has
variants drawn uniformly. ``GET /stats`` answers the counts so far as JSON.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import socket
import struct
import sys
import time
from collections import Counter
from typing import Any, Union

from server import serve

HOST = "127.0.0.1"
MAX_HEADER = 64 * 1024

TEXT = "It is sunny ☀️ in Paris — 22 °C, «très agréable»."
WEATHER = {"city": "Paris", "temp_c": 22, "summary": "Sunny ☀️ — «très agréable»"}
TOOL_ARGS = {"get_weather": {"city": "Paris"}, "get_forecast": {"city": "Oslo", "days": 3}}

# fault → weight (percent of requests). The soak's README section quotes this table.
FAULTS: dict[str, float] = {
    "ok": 55.0,  # a correct answer; half of the streamed ones byte-split (below)
    "rate_limit": 7.0,  # 429 with Retry-After: 0.05 (or retry-after-ms: 50 beside Retry-After: 1)
    "server_error": 6.0,  # 500 JSON error / 502 HTML page / 503 with Retry-After 0.05 / 504 empty
    "reset": 5.0,  # connection closed without an answer / RST mid-head / RST mid-body
    "truncated": 4.0,  # Content-Length larger than what is sent, then close; streams: cut short
    "malformed": 4.0,  # 200 with a body (or one SSE event) that is not JSON
    "slow": 7.0,  # the answer dribbled out in 4-10 pieces, 20-60 ms apart
    "stall": 5.0,  # one pause of 0.2-0.5 s (below the client's timeout) before or inside the answer
    "stall_long": 2.0,  # one pause of 2.5 s (beyond the client's timeout) before or inside the answer
    "hostile": 1.0,  # valid JSON of the wrong shape (choices [null], message "hi", tool_calls [1], ...)
    "key_echo": 1.0,  # 200 / 500 / 400 echoing the request's Authorization header, plain or \\u-escaped
}
BYTE_SPLIT = 0.5
"""Share of otherwise correct streamed answers sent byte-split (and of correct JSON answers: 0.2)."""
STALL_LONG = 2.5

Action = Union[bytes, float, str]  # bytes: write; float: sleep; "close"; "abort" (RST)

STATS: Counter[str] = Counter()
_counter = 0


# --- answers ---------------------------------------------------------------------------------


def _next_id() -> int:
    global _counter
    _counter += 1
    return _counter


def plan_answer(request: dict[str, Any], rng: random.Random) -> tuple[str, Any, list[dict[str, Any]] | None]:
    """``(kind, content, tool_calls)`` of the correct answer: kind ``"tools"`` or ``"text"``."""
    tools = [
        t.get("function", {}).get("name")
        for t in request.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    messages = request.get("messages") or []
    answered = any(isinstance(m, dict) and m.get("role") == "tool" for m in messages)
    regular = [name for name in tools if name != "final_result"]
    n = _next_id()
    if regular and not answered:
        name = regular[0]
        calls = [
            {
                "id": f"call_{n:010d}_{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(TOOL_ARGS.get(name, {}), ensure_ascii=False)},
            }
            for i in range(rng.choice((1, 1, 2, 3)))
        ]
        return "tools", None, calls
    response_format = request.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_schema", "json_object"):
        return "text", json.dumps(WEATHER, ensure_ascii=False), None
    if "final_result" in tools:
        call = {
            "id": f"call_{n:010d}_f",
            "type": "function",
            "function": {"name": "final_result", "arguments": json.dumps(WEATHER, ensure_ascii=False)},
        }
        return "tools", None, [call]
    return "text", TEXT, None


def completion(kind: str, content: Any, calls: list[dict[str, Any]] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{_next_id():012d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "chaos",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62},
    }


def _pieces(text: str, rng: random.Random, most: int) -> list[str]:
    """``text`` cut into 1..most pieces at random character positions."""
    if len(text) < 2:
        return [text]
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, most - 1))))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def stream_events(
    kind: str, content: Any, calls: list[dict[str, Any]] | None, request: dict[str, Any], rng: random.Random
) -> list[bytes]:
    """The SSE events (``data: ...\\n\\n`` each) of a correct streamed answer, ``[DONE]`` last."""
    n, created = _next_id(), int(time.time())

    def event(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
        data: dict[str, Any] = {
            "id": f"chatcmpl-{n:012d}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": "chaos",
        }
        data["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if usage is not None:
            data["usage"] = usage
        return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"

    events = [event({"role": "assistant", "content": ""})]
    if calls:
        for index, call in enumerate(calls):
            head = {
                "index": index,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            events.append(event({"tool_calls": [head]}))
            for piece in _pieces(call["function"]["arguments"], rng, 5):
                events.append(event({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        events.append(event({}, "tool_calls"))
    else:
        for piece in _pieces(content, rng, 12):
            events.append(event({"content": piece}))
        events.append(event({}, "stop"))
    if (request.get("stream_options") or {}).get("include_usage"):
        events.append(event(None, usage={"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62}))
    events.append(b"data: [DONE]\n\n")
    return events


# --- HTTP framing ------------------------------------------------------------------------------


def head(status: str, length: int | None, *, keep_alive: bool, content_type: str = "application/json", extra: str = "") -> bytes:
    framing = f"content-length: {length}\r\n" if length is not None else "transfer-encoding: chunked\r\n"
    text = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n{framing}"
        f"connection: {'keep-alive' if keep_alive else 'close'}\r\n{extra}\r\n"
    )
    return text.encode("latin-1")


def http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def chunked(body: bytes, rng: random.Random | None = None) -> bytes:
    """``body`` as HTTP chunks (cut at random byte positions when ``rng`` is given) and the last chunk."""
    if rng is None or len(body) < 2:
        return http_chunk(body) + b"0\r\n\r\n"
    cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, 30))))
    bounds = [0, *cuts, len(body)]
    return b"".join(http_chunk(body[a:b]) for a, b in itertools.pairwise(bounds)) + b"0\r\n\r\n"


def split_writes(data: bytes, rng: random.Random, most: int, gap: tuple[float, float] = (0.0, 0.003)) -> list[Action]:
    """``data`` as several writes cut at random byte positions, with short pauses between them."""
    if len(data) < 2:
        return [data]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, most - 1))))
    bounds = [0, *cuts, len(data)]
    actions: list[Action] = []
    for a, b in itertools.pairwise(bounds):
        if actions:
            actions.append(rng.uniform(*gap))
        actions.append(data[a:b])
    return actions


def _error_json(message: str, kind: str, code: Any) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()


def plan(request: dict[str, Any], headers: dict[str, str], keep_alive: bool, rng: random.Random) -> tuple[list[Action], bool]:
    """The actions that answer ``request`` (a fault drawn from :data:`FAULTS`), and whether to close after."""
    fault = rng.choices(list(FAULTS), weights=list(FAULTS.values()))[0]
    streamed = bool(request.get("stream"))
    kind, content, calls = plan_answer(request, rng)
    if streamed:
        events = stream_events(kind, content, calls, request, rng)
        ok_head = head(
            "200 OK", None, keep_alive=keep_alive, content_type="text/event-stream", extra="cache-control: no-cache\r\n"
        )
    else:
        body = json.dumps(completion(kind, content, calls), ensure_ascii=False).encode()
    variant = ""

    def whole() -> bytes:
        return ok_head + chunked(b"".join(events)) if streamed else head("200 OK", len(body), keep_alive=keep_alive) + body

    actions: list[Action]
    close = not keep_alive
    if fault == "ok":
        if rng.random() < (BYTE_SPLIT if streamed else 0.2):
            variant = "byte_split"
            wire = (
                ok_head + chunked(b"".join(events), rng) if streamed else head("200 OK", len(body), keep_alive=keep_alive) + body
            )
            actions = split_writes(wire, rng, 40)
        else:
            actions = [whole()]
    elif fault == "rate_limit":
        variant = rng.choice(("retry_after_0.05", "retry_after_ms_50"))
        extra = "retry-after: 0.05\r\n" if variant == "retry_after_0.05" else "retry-after: 1\r\nretry-after-ms: 50\r\n"
        error = _error_json("Rate limit reached for requests", "requests", "rate_limit_exceeded")
        actions = [head("429 Too Many Requests", len(error), keep_alive=keep_alive, extra=extra) + error]
    elif fault == "server_error":
        variant = rng.choice(("500_json", "502_html", "503_retry_after", "504_empty"))
        if variant == "500_json":
            error = _error_json("The server had an error while processing your request.", "server_error", None)
            actions = [head("500 Internal Server Error", len(error), keep_alive=keep_alive) + error]
        elif variant == "502_html":
            page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
            actions = [head("502 Bad Gateway", len(page), keep_alive=keep_alive, content_type="text/html") + page]
        elif variant == "503_retry_after":
            error = _error_json("overloaded", "overloaded_error", 503)
            actions = [head("503 Service Unavailable", len(error), keep_alive=keep_alive, extra="retry-after: 0.05\r\n") + error]
        else:
            actions = [head("504 Gateway Timeout", 0, keep_alive=keep_alive)]
    elif fault == "reset":
        variant = rng.choice(("close_no_answer", "rst_mid_head", "rst_mid_body"))
        wire = whole()
        if variant == "close_no_answer":
            actions = ["close"]
        elif variant == "rst_mid_head":
            end = wire.find(b"\r\n\r\n")
            actions = [wire[: rng.randint(1, end)], "abort"]
        else:
            start = wire.find(b"\r\n\r\n") + 4
            actions = [wire[: rng.randint(start, len(wire) - 1)], "abort"]
        close = True
    elif fault == "truncated":
        if streamed:
            variant = rng.choice(("clean_end_no_finish", "close_mid_event", "no_done"))
            if variant == "clean_end_no_finish":  # a well-formed chunked body that stops before the finish
                cut = rng.randint(1, len(events) - 3)
                actions = [ok_head + chunked(b"".join(events[:cut]))]
            elif variant == "close_mid_event":
                data = b"".join(events)
                cut = rng.randint(1, len(data) - 1)
                actions = [ok_head + http_chunk(data[:cut]), "close"]
                close = True
            else:  # the finish reason (and usage) arrive, [DONE] does not: complete enough to accept
                actions = [ok_head + chunked(b"".join(events[:-1]))]
        else:
            variant = "short_content_length"
            actions = [head("200 OK", len(body), keep_alive=keep_alive) + body[: rng.randint(0, len(body) - 1)], "close"]
            close = True
    elif fault == "malformed":
        if streamed:
            variant = rng.choice(("event_cut_json", "event_not_json"))
            bad = (
                b'data: {"id": "chatcmpl-x", "choices": [{"index": 0, "delta": {"content": "hi\n\n'
                if variant == "event_cut_json"
                else b"data: <html>oops</html>\n\n"
            )
            cut = rng.randint(1, len(events) - 1)
            actions = [ok_head + chunked(b"".join(events[:cut]) + bad + b"".join(events[cut:]))]
        else:
            variant = rng.choice(("cut_json", "html_200", "empty_200", "binary_200", "python_repr"))
            bad_body = {
                "cut_json": body[: rng.randint(1, len(body) - 1)],
                "html_200": b"<html><body>Service temporarily unavailable</body></html>",
                "empty_200": b"",
                "binary_200": bytes(rng.randrange(256) for _ in range(64)),
                "python_repr": repr(completion(kind, content, calls)).encode(),
            }[variant]
            actions = [head("200 OK", len(bad_body), keep_alive=keep_alive) + bad_body]
    elif fault == "slow":
        variant = "dribble"
        actions = split_writes(whole(), rng, 10, gap=(0.02, 0.06))
    elif fault in ("stall", "stall_long"):
        pause = rng.uniform(0.2, 0.5) if fault == "stall" else STALL_LONG
        variant = rng.choice(("before_head", "after_head", "mid_body"))
        wire = whole()
        start = wire.find(b"\r\n\r\n") + 4
        at = {"before_head": 0, "after_head": start, "mid_body": rng.randint(start + 1, len(wire) - 1)}[variant]
        actions = [wire[:at], pause, wire[at:]] if at else [pause, wire]
    elif fault == "hostile":
        variant, shape = rng.choice(HOSTILE)
        if streamed:
            bad = b"data: " + json.dumps(shape).encode() + b"\n\n"
            actions = [ok_head + chunked(events[0] + bad + b"".join(events[1:]))]
        else:
            bad_body = json.dumps(shape).encode()
            actions = [head("200 OK", len(bad_body), keep_alive=keep_alive) + bad_body]
    else:  # key_echo
        variant = rng.choice(("200_plain", "200_escaped", "500_plain", "400_escaped"))
        auth = headers.get("authorization", "")
        echoed = "".join(f"\\u{ord(c):04x}" for c in auth) if variant.endswith("escaped") else auth
        text = '{"echo": {"authorization": "' + echoed + '"}, "note": "not a completion"}'
        status = {"200": "200 OK", "500": "500 Internal Server Error", "400": "400 Bad Request"}[variant[:3]]
        data = text.encode()
        actions = [head(status, len(data), keep_alive=keep_alive) + data]
    STATS[f"{fault}/{variant or '-'}/{'stream' if streamed else 'json'}"] += 1
    return actions, close


HOSTILE: list[tuple[str, Any]] = [
    ("choices_null", {"id": "x", "choices": [None]}),
    ("choices_empty", {"id": "x", "choices": []}),
    ("message_string", {"id": "x", "choices": [{"index": 0, "message": "hi", "finish_reason": "stop"}]}),
    ("tool_calls_int", {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": [1]}}]}),
    (
        "function_list",
        {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": [{"id": "c", "function": []}]}}]},
    ),
    (
        "usage_string",
        {
            "id": "x",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": "12k"},
        },
    ),
    ("delta_reasoning_int", {"id": "x", "choices": [{"index": 0, "delta": {"reasoning": 1}}]}),
    ("top_level_list", [1, 2, 3]),
]


# --- the connection ----------------------------------------------------------------------------


class ChaosProtocol(asyncio.Protocol):
    """One connection: parse each request (Content-Length bodies) and play its answer's actions."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each write its own segment

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.task is None:
            self._next()

    def _next(self) -> None:
        while self.transport is not None and self.task is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER:
                    self.transport.close()
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                self.transport.close()
                return
            method, path, version = parts
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            keep_alive = headers.get("connection", "").lower() != "close" if version == "HTTP/1.1" else False
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            actions, close = self._answer(method, path, headers, body, keep_alive)
            if len(actions) == 1 and isinstance(actions[0], bytes) and not close:
                self.transport.write(actions[0])  # the common case: no task
                continue
            self.task = asyncio.get_running_loop().create_task(self._play(actions, close))

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes, keep_alive: bool
    ) -> tuple[list[Action], bool]:
        if method == "GET" and path == "/stats":
            data = json.dumps(dict(STATS)).encode()
            return [head("200 OK", len(data), keep_alive=keep_alive) + data], not keep_alive
        if method != "POST" or path.split("?", 1)[0] != "/v1/chat/completions":
            data = _error_json("not found", "invalid_request_error", 404)
            return [head("404 Not Found", len(data), keep_alive=keep_alive) + data], not keep_alive
        try:
            request = json.loads(body)
            if not isinstance(request, dict):
                raise ValueError
        except ValueError:
            STATS["client_sent_invalid_json"] += 1
            data = _error_json("invalid JSON body", "invalid_request_error", 400)
            return [head("400 Bad Request", len(data), keep_alive=keep_alive) + data], not keep_alive
        return plan(request, headers, keep_alive, self.rng)

    async def _play(self, actions: list[Action], close: bool) -> None:
        try:
            for action in actions:
                if self.transport is None:
                    return
                if isinstance(action, bytes):
                    if action:
                        self.transport.write(action)
                elif isinstance(action, float):
                    await asyncio.sleep(action)
                elif action == "abort":
                    sock = self.transport.get_extra_info("socket")
                    if sock is not None:  # linger 0: close() sends RST instead of FIN
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.transport.abort()
                    self.transport = None
                    return
                elif action == "close":
                    self.transport.close()
                    self.transport = None
                    return
            if close and self.transport is not None:
                self.transport.close()
                self.transport = None
        finally:
            self.task = None
        if self.transport is not None and self.buffer:
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.task is not None:
            self.task.cancel()


async def _main() -> None:
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    if "--faults" in sys.argv:  # e.g. --faults ok=100,slow=5: other weights 0 (to look at one fault alone)
        given = dict(item.split("=") for item in sys.argv[sys.argv.index("--faults") + 1].split(","))
        unknown = set(given) - set(FAULTS)
        if unknown:
            raise SystemExit(f"unknown faults: {sorted(unknown)}")
        for name in FAULTS:
            FAULTS[name] = float(given.get(name, 0))
    rng = random.Random(seed)
    await serve(lambda: ChaosProtocol(rng))


if __name__ == "__main__":
    asyncio.run(_main())
