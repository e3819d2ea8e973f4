"""The durable-run tests need the dbos extra (their PostgreSQL is the run's shared ``postgres_dsn`` of tests/conftest.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("dbos", reason="agentkit.durable needs the dbos extra (pip install 'agentkit-loop[dbos]')")
