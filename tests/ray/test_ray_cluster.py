"""run_many on a real two-node Ray cluster (tests/ray/conftest.py) against the rate-limited loopback server.

The server allows ``allowed`` requests a second (a token bucket of 4) and answers 429 with
``retry-after-ms`` above that, as providers do. Every input must be done and recorded once,
the cluster must keep the rate limit though its workers run on two nodes, and a worker killed
mid-batch (SIGKILL, by the server, while it waits for an answer) must cost nothing but a retry of
its unfinished inputs; a killed driver, started again, skips what was recorded.
"""

from __future__ import annotations

import bisect
import collections
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentkit.ray import RayExecutor
from tests.ray.agent_factory import make_agent
from tests.ray.conftest import ROOT, Cluster
from tests.support.server import LoopbackServer, Reply, Request, chat_completion

FACTORY = "tests.ray.agent_factory:make_agent"


class Provider:
    """The loopback server's handler: a rate-limited provider that remembers who asked what, and when."""

    def __init__(self, allowed: float, kill_at: int | None = None) -> None:
        self.allowed = allowed
        self.kill_at = kill_at
        self.arrivals: list[float] = []
        self.answered: collections.Counter[str] = collections.Counter()  # prompt -> 200s
        self.answered_by: dict[str, list[int]] = collections.defaultdict(list)
        self.refused = 0
        self.killed: int | None = None
        self._bucket, self._stamp = 4.0, time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        prompt = request.json["messages"][-1]["content"]
        pid = int(request.headers["x-worker-pid"])
        with self._lock:
            now = time.monotonic()
            self.arrivals.append(now)
            if self.kill_at is not None and len(self.arrivals) == self.kill_at:
                self.killed = pid
                os.kill(pid, signal.SIGKILL)  # the worker dies waiting for this answer
                return Reply(body=chat_completion("never read"))
            self._bucket = min(4.0, self._bucket + (now - self._stamp) * self.allowed)
            self._stamp = now
            if self._bucket < 1:
                self.refused += 1
                wait = math.ceil((1 - self._bucket) / self.allowed * 1000)
                return Reply(429, {"error": {"message": "Rate limit reached"}}, headers={"retry-after-ms": str(wait)})
            self._bucket -= 1
            self.answered[prompt] += 1
            self.answered_by[prompt].append(pid)
        return Reply(body=chat_completion(f"answer to {prompt}"))

    def measured(self) -> float:
        return (len(self.arrivals) - 1) / (self.arrivals[-1] - self.arrivals[0])

    def busiest_second(self) -> int:
        arrivals = self.arrivals
        return max(bisect.bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals) if t + 1.0 <= arrivals[-1])


def recorded(results: Path) -> list[dict[str, Any]]:
    """Every record of every shard."""
    return [json.loads(line) for shard in sorted(results.glob("part-*.jsonl")) for line in shard.read_text().splitlines()]


@pytest.fixture
def serve(ray_cluster: Cluster, monkeypatch: pytest.MonkeyPatch):
    """``serve(provider)``: the loopback server, its URL where the workers' factory reads it."""
    servers: list[LoopbackServer] = []
    monkeypatch.setenv("AGENTKIT_RAY_TEST_DIR", str(ray_cluster.directory))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # as the cluster's nodes

    def start(provider: Provider) -> LoopbackServer:
        server = LoopbackServer(provider).start()
        servers.append(server)
        (ray_cluster.directory / "base_url").write_text(server.url + "/v1", encoding="utf-8")
        return server

    yield start
    for server in servers:
        server.stop()


async def test_two_nodes_hold_one_rate_limit_and_a_killed_worker_costs_nothing(
    ray_cluster: Cluster, serve, in_process_driver, tmp_path: Path
) -> None:
    rate, count = 30.0, 120
    provider = Provider(rate, kill_at=40)
    serve(provider)
    executor = RayExecutor(ray_cluster.address, workers=2, concurrency_per_worker=8, factory=FACTORY)
    inputs = [{"id": f"in-{i}", "prompt": f"prompt {i}"} for i in range(count)]
    started = time.perf_counter()
    items = await make_agent().run_many(
        inputs, executor=executor, results=tmp_path / "out", requests_per_minute=rate * 60, progress=False
    )
    took = time.perf_counter() - started
    measured = provider.measured()
    busiest = provider.busiest_second()
    print(f"\n2 nodes: {count} runs in {took:.2f}s, {measured:.2f} req/s for {rate:g}/s, busiest second {busiest}")
    print(f"{provider.refused} x 429, workers {executor.placed}")

    assert [item.ok for item in items] == [True] * count, [item.error for item in items if not item.ok][:3]
    assert [item.output for item in items] == [f"answer to prompt {i}" for i in range(count)]
    records = recorded(tmp_path / "out")
    assert sorted(r["id"] for r in records) == sorted(i["id"] for i in inputs)  # each input recorded once
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["finished"] and manifest["succeeded"] == count and manifest["worker_restarts"] == 1

    first_two = executor.placed[:2]
    assert len({w["node"] for w in first_two}) == 2, executor.placed  # one worker on each node
    assert provider.killed in {w["pid"] for w in first_two} and len(executor.placed) == 3  # killed, replaced
    # only what the killed worker had in flight ran twice: answered to it, its result lost with it
    twice = {prompt for prompt, n in provider.answered.items() if n > 1}
    assert all(provider.answered_by[p][0] == provider.killed for p in twice) and len(twice) <= 16
    # the limit held across both nodes: the rate, every second of it (give or take the provider's bucket of 4,
    # which a loaded 2-core machine's bunches may use), and almost no 429
    assert rate * 0.8 <= measured <= rate * 1.05
    assert provider.busiest_second() <= rate * 1.05 + 4
    assert provider.refused <= len(provider.arrivals) * 0.05


async def test_a_429_storm_slows_the_cluster_down_and_fails_no_run(
    ray_cluster: Cluster, serve, in_process_driver, tmp_path: Path
) -> None:
    allowed, count = 20.0, 60
    provider = Provider(allowed)
    serve(provider)
    executor = RayExecutor(ray_cluster.address, workers=2, concurrency_per_worker=8)  # no factory: the agent is pickled
    items = await make_agent().run_many(
        [f"storm {i}" for i in range(count)],
        executor=executor,
        results=tmp_path / "out",
        requests_per_minute=4 * allowed * 60,
        progress=True,  # the driver's bar (rich, on stderr), counting the cluster's 429s
    )
    print(f"\nbudget 4x the provider's: {len(provider.arrivals)} requests, {provider.refused} x 429, {provider.measured():.2f}/s")
    assert all(item.ok for item in items), [item.error for item in items if not item.ok][:3]
    assert sum(provider.answered.values()) == count
    assert provider.refused > 0 and provider.refused <= count  # the cluster learned together: no storm of retries
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["rate_limited"] == provider.refused  # the whole cluster's 429s, counted by the budget's actor


def test_a_killed_driver_started_again_skips_what_was_recorded(ray_cluster: Cluster, serve, tmp_path: Path) -> None:
    rate, count = 30.0, 75
    provider = Provider(rate)
    serve(provider)
    results = tmp_path / "out"
    command = [sys.executable, "-m", "tests.ray.driver", ray_cluster.address, str(results), str(count), str(rate * 60)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}
    driver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 40
        while len(provider.answered) < 25 and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.02)
        assert driver.poll() is None, driver.communicate()[1][-2000:]
    finally:
        driver.kill()  # SIGKILL: the driver, and with it the workers it owned
        driver.wait()
    before = {r["id"] for r in recorded(results)}
    assert 15 <= len(before) < count

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads(again.stdout.strip().splitlines()[-1])
    assert report == {"items": count, "skipped": len(before), "failed": []}
    records = recorded(results)
    assert sorted(r["id"] for r in records) == sorted(f"in-{i}" for i in range(count))  # nothing lost, nothing twice
    for key in before:  # recorded before the kill: not sent again
        assert provider.answered[f"prompt {key.removeprefix('in-')}"] == 1


async def test_an_authentication_failure_on_a_worker_stops_the_batch_and_is_raised_on_the_driver(
    ray_cluster: Cluster, serve, in_process_driver, tmp_path: Path
) -> None:
    from agentkit.errors import AuthenticationError

    def refuse(request: Request) -> Reply:
        return Reply(401, {"error": {"message": "Incorrect API key provided"}})

    serve(refuse)
    executor = RayExecutor(ray_cluster.address, workers=2, concurrency_per_worker=2, factory=FACTORY)
    with pytest.raises(AuthenticationError):
        await make_agent().run_many([f"q{i}" for i in range(20)], executor=executor, results=tmp_path / "out", progress=False)
    assert not recorded(tmp_path / "out")
