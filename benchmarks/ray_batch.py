"""run_many on Ray (agentkit.ray): throughput with 1 and 2 workers, the driver's cost per run, the budget actor's rate.

    python benchmarks/ray_batch.py            # ~2 min on a 2-core machine
    python benchmarks/ray_batch.py --runs 300 # fewer runs

A local Ray instance (``ray.init(num_cpus=2)``, small object store, no dashboard) and the loopback
server of ``server.py`` as its own process. One run = the tool round trip (2 model requests, one
tool call). Cases, each with 1 and then 2 workers (concurrency 16 each), results streamed to a
results directory:

* **rate-limited**: the server allows ``--limit`` requests a second (429 above it) and the
  cluster's budget (``requests_per_minute``) says the same: runs per second, the server's
  accepted/429 counts;
* **ceiling**: no limit at all (3x the runs): what the workers and the driver manage on this machine.

Runs per second: steady, from the first result to reach the driver to the last (the workers'
start, about a second each on this machine, is measured apart: a batch of one run per worker).

The driver's cost per run: this process's CPU time during the batch (all its threads: Ray's
core worker runs in them) divided by the runs. The budget actor: 64 tasks of this process asking
it for slots as fast as they can (a budget far above that), slots per second through
``RayRateLimiter.acquire`` (the acquires waiting together share one call) and with one call per
slot (the actor's rate of calls). Results:
``benchmarks/results/ray.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ray  # noqa: E402

from agentkit import Agent, _ray_executor, tool  # noqa: E402
from agentkit.models import OpenAICompatible  # noqa: E402
from agentkit.ray import RayExecutor, RayRateLimiter  # noqa: E402


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}."


def server(limit: float | None) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, str(ROOT / "benchmarks" / "server.py")]
    if limit is not None:
        command += ["--rate-limit", str(limit)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline().split()[1])
    return process, f"http://127.0.0.1:{port}/v1"


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    return process.communicate(timeout=10)[1].strip()


ARRIVED: list[float] = []
"""When each record reached the driver (the steady rate: first to last, without the workers' start)."""
_record = _ray_executor._Driver._record


def _timed_record(self: Any, index: int, records: list[Any]) -> None:
    now = time.perf_counter()
    ARRIVED.extend(now for _ in records)
    _record(self, index, records)


_ray_executor._Driver._record = _timed_record  # type: ignore[method-assign]


async def batch(url: str, workers: int, runs: int, rpm: float) -> dict[str, Any]:
    agent = Agent(OpenAICompatible("bench", base_url=url, api_key="sk-bench"), tools=[get_weather])
    executor = RayExecutor(workers=workers, concurrency_per_worker=16)
    with tempfile.TemporaryDirectory() as out:
        # a batch of one run per worker: what starting the workers costs (they are started per batch)
        started = time.perf_counter()
        await agent.run_many([f"w{i}" for i in range(workers)], executor=executor, results=Path(out) / "start", progress=False)
        startup = time.perf_counter() - started
        cpu0, started = time.process_time(), time.perf_counter()
        ARRIVED.clear()
        items = await agent.run_many(
            [f"Weather #{i}?" for i in range(runs)], executor=executor, results=out, requests_per_minute=rpm, progress=False
        )
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        manifest = json.loads((Path(out) / "manifest.json").read_text())
    steady = (ARRIVED[-1] - ARRIVED[0]) * runs / (runs - 1)
    return {
        "workers": workers,
        "runs": runs,
        "failed": sum(not item.ok for item in items),
        "seconds": round(wall, 2),
        "startup_seconds": round(startup, 2),
        "runs_per_second": round(runs / steady, 1),
        "requests_per_second": round(2 * runs / steady, 1),
        "driver_cpu_ms_per_run": round(cpu / runs * 1000, 3),  # the workers' start included
        "rate_limited": manifest["rate_limited"],
    }


async def actor_rate(calls: int = 6000, tasks: int = 64) -> dict[str, float]:
    """Slots a second: through ``acquire`` (a process's waiting acquires share a call), and with
    one call per slot (the actor's own rate of calls: many processes, one request each at a time)."""
    limiter = RayRateLimiter(requests_per_minute=1e9)
    await limiter.status()
    each = calls // tasks

    async def shared() -> None:
        for _ in range(each):
            await limiter.acquire()

    async def alone() -> None:
        for _ in range(each):
            await limiter.actor().reserve.remote([], 1)

    rates = {}
    for name, work in (("acquire_slots_per_second", shared), ("calls_per_second", alone)):
        started = time.perf_counter()
        await asyncio.gather(*(work() for _ in range(tasks)))
        rates[name] = round(each * tasks / (time.perf_counter() - started))
    limiter.close()
    return rates


async def main(runs: int, limit: float) -> dict[str, Any]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local instance on loopback: no token written to ~/.ray
    session = tempfile.mkdtemp(prefix="akbench-")  # Ray's logs and sockets: removed at the end, not left in /tmp/ray
    ray.init(num_cpus=2, object_store_memory=100_000_000, include_dashboard=False, logging_level="WARNING", _temp_dir=session)
    report: dict[str, Any] = {"limited": [], "ceiling": []}
    for workers in (1, 2):
        process, url = server(limit)
        try:
            result = await batch(url, workers, runs, limit * 60)
        finally:
            result["server"] = stop(process)
        report["limited"].append(result)
        print("rate-limited", result, flush=True)
    for workers in (1, 2):
        process, url = server(None)
        try:
            result = await batch(url, workers, runs * 3, 1e9)
        finally:
            stop(process)
        report["ceiling"].append(result)
        print("ceiling", result, flush=True)
    report["budget_actor"] = await actor_rate()
    print("budget actor:", report["budget_actor"], flush=True)
    ray.shutdown()
    shutil.rmtree(session, ignore_errors=True)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--limit", type=float, default=100.0, help="requests per second the server allows")
    args = parser.parse_args()
    report = asyncio.run(main(args.runs, args.limit))
    report["limit_requests_per_second"] = args.limit
    report["machine"] = {
        "python": platform.python_version(),
        "ray": importlib.metadata.version("ray"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    (ROOT / "benchmarks" / "results" / "ray.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
