"""Fixtures of the durable-run tests: a PostgreSQL server of their own (as tests/sessions start one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("dbos", reason="agentkit.durable needs the dbos extra (pip install 'agentkit-loop[dbos]')")

from tests.sessions.services import postgres_server


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 (initdb + pg_ctl in a temporary folder)."""
    with postgres_server() as dsn:
        yield dsn
