"""Fixtures for the MCP tests: the demo server over streamable HTTP on 127.0.0.1, served by uvicorn in a
thread (``http_server``) or in a process of its own, answering with SSE or with JSON bodies (``http_process``)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
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


@pytest.fixture
def http_process(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start the demo server in a process of its own: ``url = http_process(json_response=True)``.

    Its own process, so that what the server spends building a huge answer is not counted as the
    client's memory. Stopped at teardown.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(*, json_response: bool) -> str:
        port_file = tmp_path / f"port-{len(started)}"
        demo = str(Path(__file__).with_name("demo_server.py"))
        process = subprocess.Popen(
            [sys.executable, demo, "--http", str(port_file), *(["--json"] if json_response else [])],
            stdout=subprocess.DEVNULL,
        )
        started.append(process)
        deadline = time.monotonic() + 60
        while not port_file.exists():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the demo MCP server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{port_file.read_text()}/mcp"

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
