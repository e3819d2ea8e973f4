"""A durable run on a PostgreSQL system database (production's): killed inside a tool, restarted,
resumed from its last step."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.durable.harness import ShopServer, Worker, effects, run_server


def test_a_run_killed_inside_a_tool_resumes_on_postgres(postgres_dsn: str, tmp_path: Path) -> None:
    db = postgres_dsn.rsplit("/", 1)[0] + "/agentkit_durable"  # DBOS creates its system database
    server = ShopServer()
    running = run_server(server)
    try:
        Worker(db, running.url + "/v1", "pg-run", tmp_path / "effects", "buy a book", "lookup").killed_itself(timeout=60)
        result = Worker(db, running.url + "/v1", "pg-run", tmp_path / "effects", "buy a book").result(timeout=60)
    finally:
        running.stop()
    assert result["output"] == "done: book costs 5 | charged 5"
    assert result["requests"] == 2 and result["tool_calls"] == 2
    assert server.received == server.answered == Counter({"1 messages": 1, "4 messages": 1})
    assert effects(tmp_path / "effects") == Counter({"start lookup": 2, "end lookup": 1, "start charge": 1, "end charge": 1})
