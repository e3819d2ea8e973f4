"""Fixtures for the session stores: a real PostgreSQL and a real Redis (started once per test run, on
127.0.0.1 and a free port), and ``store``, which runs a test over every store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agentkit.sessions import Session
from tests.sessions.writer import open_session

STORES = ["memory", "sqlite", "postgres", "redis"]
PERSISTENT = ["sqlite", "postgres", "redis"]


@dataclass
class Store:
    """One store for one test: ``session(name)`` opens a session in it (closed after the test).

    SQLite gets a file of the test's own; Postgres and Redis are shared by the run, so each test's
    session ids (Postgres) or key prefix (Redis) are its own.
    """

    kind: str
    address: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    opened: list[Session] = field(default_factory=list)
    _memory: dict[str, Session] = field(default_factory=dict)

    @property
    def key_prefix(self) -> str:
        return f"t{self.tag}"

    def session_id(self, name: str) -> str:
        return f"{self.tag}-{name}" if self.kind == "postgres" else name

    def session(self, name: str = "s") -> Session:
        if self.kind == "memory":  # the same name is the same session, as in the other stores
            return self._memory.setdefault(name, open_session("memory", "", name, ""))
        session = open_session(self.kind, self.address, self.session_id(name), self.key_prefix)
        self.opened.append(session)
        return session

    async def close(self) -> None:
        for session in self.opened:
            await session.close()  # type: ignore[attr-defined]


def _address(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return str(tmp_path / "sessions.db")
    if kind == "postgres":
        return str(request.getfixturevalue("postgres_dsn"))
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    return ""


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each store in turn (memory, sqlite, postgres, redis)."""
    made = Store(request.param, _address(request.param, request, tmp_path))
    yield made
    await made.close()


@pytest.fixture(params=PERSISTENT)
async def persistent(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each store that outlives the process in turn (sqlite, postgres, redis)."""
    made = Store(request.param, _address(request.param, request, tmp_path))
    yield made
    await made.close()
