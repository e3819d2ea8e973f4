"""A real HTTP/1.1 server on 127.0.0.1, in a thread, scripted per test.

Tests give it a handler ``(Request) -> Reply`` (or a list of replies served in order). It records
every request. Replies can stream chunks with pauses, stall, or cut the connection mid-body, so
fault handling is tested over real sockets, not mocked transports.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int] | None = None
    """The client's address and port: requests with the same one came over the same connection."""

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    """What the server answers.

    ``body``: dict/list (sent as JSON), str or bytes. ``chunks``: sent one by one with
    ``chunk_delay`` between them (chunked encoding). ``stall``: never answer (until the server
    stops). ``cut_after``: send headers claiming the full length, then ``cut_after`` bytes of the
    body, then close the socket.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    chunks: Sequence[bytes] | None = None
    chunk_delay: float = 0.0
    delay: float = 0.0
    stall: bool = False
    cut_after: int | None = None


Handler = Callable[[Request], Reply]
Script = Union[Handler, Iterable[Reply]]


class LoopbackServer:
    """``with LoopbackServer(handler) as server: server.url``; ``server.requests`` records traffic."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        if callable(script):
            self._handler: Handler = script
        else:
            replies = list(script)

            def next_reply(_request: Request) -> Reply:
                if not replies:
                    return Reply(500, {"error": {"message": "loopback server: script exhausted"}})
                return replies.pop(0)

            self._handler = next_reply
        self.requests: list[Request] = []
        self.connections_accepted = 0
        self.chunks_sent = 0  # ``Reply.chunks`` written, over all replies
        self.streams_abandoned = 0  # chunked replies the client hung up on before their end
        self._stop = threading.Event()
        self._open = 0
        self._lock = threading.Lock()
        server = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._open += 1
                    server.connections_accepted += 1

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    with server._lock:
                        server._open -= 1

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(self.command, self.path, headers, body, tuple(self.client_address[:2]))
                server.requests.append(request)
                reply = server._handler(request)
                server._send(self, reply)

        class _Server(ThreadingHTTPServer):
            request_queue_size = 256

            def handle_error(self, request: Any, client_address: Any) -> None:
                """A client that hung up (a cancelled run) is not an error worth a traceback on
                stderr, where it would land in whatever a test captures (CliRunner's stderr)."""
                if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
                    return
                super().handle_error(request, client_address)

            def get_request(self) -> tuple[Any, Any]:
                sock, address = super().get_request()
                if tls is None:
                    return sock, address
                sock.settimeout(5)  # a client that never finishes the handshake does not hang the server
                try:
                    wrapped = tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    sock.close()
                    raise
                wrapped.settimeout(None)
                return wrapped, address

        self._tls = tls
        self._httpd = _Server(("127.0.0.1", 0), _H)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host}:{port}"

    @property
    def open_connections(self) -> int:
        """Connections the server currently holds open."""
        with self._lock:
            return self._open

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connections_used(self) -> int:
        """How many connections carried requests (unlike ``connections_accepted``, a stray connection
        that sent nothing, such as another process probing ports on a busy machine, does not count)."""
        return len({r.peer for r in self.requests})

    def bodies(self, path_suffix: str = "") -> list[Any]:
        """Decoded JSON bodies of the recorded requests whose path ends with ``path_suffix``."""
        return [r.json for r in self.requests if r.path.endswith(path_suffix)]

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.stall:
            self._stop.wait(30)
            h.close_connection = True
            return
        if reply.delay:
            time.sleep(reply.delay)
        body = reply.body
        content_type = reply.content_type
        if isinstance(body, (dict, list)):
            payload = json.dumps(body).encode()
            content_type = content_type or "application/json"
        elif isinstance(body, str):
            payload = body.encode()
        elif body is None:
            payload = b""
        else:
            payload = bytes(body)
        h.send_response(reply.status)
        if content_type:
            h.send_header("Content-Type", content_type)
        for key, value in reply.headers.items():
            h.send_header(key, value)
        if reply.chunks is not None:
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            try:
                for chunk in reply.chunks:
                    if self._stop.is_set():
                        break
                    if chunk:
                        h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        h.wfile.flush()
                    with self._lock:
                        self.chunks_sent += 1
                    if reply.chunk_delay:
                        self._stop.wait(reply.chunk_delay)  # cut short when the server stops
                h.wfile.write(b"0\r\n\r\n")
                h.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                h.close_connection = True
                with self._lock:
                    self.streams_abandoned += 1
            return
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if reply.cut_after is not None:
            h.wfile.write(payload[: reply.cut_after])
            h.wfile.flush()
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            h.close_connection = True
            return
        h.wfile.write(payload)
        h.wfile.flush()


def chat_completion(
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    *,
    usage: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    model: str = "loopback-model",
) -> dict[str, Any]:
    """An OpenAI chat-completions response body."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop")}],
        "usage": usage or {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def call(name: str, arguments: Any, id: str = "call_1") -> dict[str, Any]:
    """One tool call as the OpenAI API sends it (``arguments`` dict → JSON text; str as is)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": id, "type": "function", "function": {"name": name, "arguments": text}}
