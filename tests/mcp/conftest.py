"""Fixtures for the MCP tests: the demo server over streamable HTTP, served by uvicorn in a thread on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class HTTPServer:
    """A running demo server: its MCP endpoint and every request it got (``{"method": ..., "headers": {...}}``)."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def http_server() -> Iterator[HTTPServer]:
    import uvicorn

    from tests.mcp.demo_server import build

    app = build().streamable_http_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    served = HTTPServer(f"http://127.0.0.1:{port}/mcp")

    async def recording_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            served.requests.append({"method": scope["method"], "headers": headers})
        await app(scope, receive, send)

    config = uvicorn.Config(recording_app, log_level="warning", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the demo MCP server did not start")
        time.sleep(0.02)
    try:
        yield served
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
