"""Two processes resume the same dead run at once (two workers restarted together, both on DBOS's
default executor id, so each recovers the run at launch): DBOS gives the run to the last one to
claim it and the other waits for its result. The side effect that was cut short stays in doubt in
both: it is never run again, and both report the same result."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from agentkit.durable import IN_DOUBT
from tests.durable.harness import ShopServer, Worker, effects, run_server


def test_two_processes_resuming_one_run_at_once_run_no_side_effect_twice(tmp_path: Path) -> None:
    server = ShopServer()
    running = run_server(server)
    db, url = f"sqlite:///{tmp_path}/dbos.sqlite", running.url + "/v1"
    try:
        Worker(db, url, "race", tmp_path / "effects", "buy a book", "charge").killed_itself(timeout=60)
        first, second = (Worker(db, url, "race", tmp_path / "effects", "buy a book") for _ in range(2))
        results = [first.result(timeout=90), second.result(timeout=90)]
    finally:
        running.stop()
    assert results[0] == results[1]
    assert effects(tmp_path / "effects") == Counter({"start lookup": 1, "end lookup": 1, "start charge": 1})
    tool_results = {m["tool_call_id"]: m["content"] for m in results[0]["messages"] if m["role"] == "tool"}
    assert tool_results == {"call_1": "book costs 5", "call_2": IN_DOUBT}
    assert server.answered["1 messages"] == 1  # recorded before the kill: neither process asked again
    assert 1 <= server.answered["4 messages"] <= 2  # both may ask before either records the answer: one is kept
