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


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server of the test run's own (initdb + pg_ctl in a temporary folder), started once."""
    from tests.sessions.services import postgres_server

    with postgres_server() as dsn:
        yield dsn


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A redis-server of the test run's own (no persistence), started once for sessions, limiters and the CLI."""
    from tests.sessions.services import redis_server

    with redis_server() as url:
        yield url


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
