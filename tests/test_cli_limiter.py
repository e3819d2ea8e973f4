"""``agentkit batch --limiter redis://...``: --rpm/--tpm held through a real Redis (started on 127.0.0.1), so
several batch processes share one provider budget; mistakes are one-line errors and the password is never shown."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("redis")

from redis import Redis

from tests.test_cli import BATCH_FILE, assert_one_line_error, invoke, write


def test_batch_paces_its_requests_through_the_shared_budget(tmp_path: Path, redis_url: str) -> None:
    agent = write(tmp_path, "batch_agent.py", BATCH_FILE)
    inputs = write(tmp_path, "in.jsonl", "".join(f'"input {n}"\n' for n in range(6)))
    out = tmp_path / "out.jsonl"
    name = uuid.uuid4().hex
    started = time.perf_counter()
    limit = ("--rpm", "600", "--limiter", redis_url, "--limiter-name", name)
    done = invoke("batch", str(agent), str(inputs), "--out", str(out), "-c", "6", *limit)
    elapsed = time.perf_counter() - started
    assert done.exit_code == 0, done.output
    assert "6 done, 0 skipped, 0 failed" in done.stdout
    assert elapsed >= 0.45  # 600 a minute: six requests 0.1 s apart, though six ran at once
    assert Redis.from_url(redis_url).exists(f"agentkit:ratelimit:{name}")  # the budget is the shared one


def test_limiter_mistakes_are_one_line_errors_without_the_password(tmp_path: Path, redis_url: str) -> None:
    agent = write(tmp_path, "batch_agent.py", BATCH_FILE)
    inputs = write(tmp_path, "in.jsonl", '"one"\n')
    out = str(tmp_path / "out.jsonl")
    no_rate = invoke("batch", str(agent), str(inputs), "--out", out, "--limiter", redis_url)
    assert_one_line_error(no_rate, 2, "--limiter", "--rpm")
    not_redis = invoke("batch", str(agent), str(inputs), "--out", out, "--rpm", "60", "--limiter", "http://user:hunter2@example")
    assert not_redis.exit_code != 0 and "redis://" in not_redis.output
    assert "hunter2" not in not_redis.output
    away = invoke("batch", str(agent), str(inputs), "--out", out, "--rpm", "60", "--limiter", "redis://:hunter2@127.0.0.1:9/0")
    assert away.exit_code != 0 and "hunter2" not in away.output
    assert "Redis" in away.output and "Traceback" not in away.output
