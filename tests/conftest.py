"""Shared fixtures: loopback HTTP servers whose chat requests are checked against the OpenAI spec."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator

import pytest

from tests.support.server import LoopbackServer, Script
from tests.support.specs import assert_valid_request

# Tests never talk to real providers: make sure no real key leaks in from the environment.
for _var in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "MISTRAL_API_KEY", "OPENAI_BASE_URL", "AGENTKIT_MODEL"):
    os.environ.pop(_var, None)


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    """Start loopback servers: ``server = loopback(handler_or_replies, spec="openai")``.

    At teardown every ``/chat/completions`` body each server received is validated against the
    provider's request schema (pass ``spec=None`` for tests that send deliberately odd bodies).
    """
    started: list[tuple[LoopbackServer, str | None]] = []

    def start(script: Script, spec: str | None = "openai", tls: ssl.SSLContext | None = None) -> LoopbackServer:
        server = LoopbackServer(script, tls=tls).start()
        started.append((server, spec))
        return server

    yield start
    for server, _spec in started:
        server.stop()
    for server, spec in started:
        if spec is None:
            continue
        for request in server.requests:
            if request.path.endswith("/chat/completions") and request.body:
                assert_valid_request(request.json, spec, "chat")
