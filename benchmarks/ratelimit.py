"""What a RedisRateLimiter costs per request, and how well four processes keep one budget.

    python benchmarks/ratelimit.py            # ~1.5 min on 2 cores

Starts its own redis-server on 127.0.0.1 (as ``tests/sessions`` does; Debian's ``redis-server``)
and prints Markdown tables:

1. **Overhead per acquire**, one task in a loop, the budget never the bottleneck (a limit far
   above what is asked): wall time and client CPU (``time.process_time``) per ``acquire()``, and
   Redis round trips per acquire (``EVALSHA`` calls counted by the server's ``INFO
   commandstats``), for the in-process ``RateLimiter`` and for ``RedisRateLimiter`` with a
   request limit, and with a token limit (``acquire`` + ``charge``); the floor: a bare redis-py
   ``PING`` and ``EVALSHA`` of ``return 1`` on the same server. Then 64 tasks at once: acquires
   per second the process can make.
2. **Four processes, one budget**: four separate Python processes (``tests/support/limiter_worker.py``)
   each running ``run_many(concurrency=8, limiter=RedisRateLimiter(...))`` against one loopback
   server that allows the budget's rate, then one that allows half of it (a token bucket of
   ``max(2, allowed / 20)``, as ``server.py --rate-limit``), answering 429 with ``retry-after-ms``
   above it: the rate the server saw (first to last request), the busiest one-second window,
   the 429s, the failed runs.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import math
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agentkit.batch import RateLimiter  # noqa: E402
from agentkit.ratelimit import RedisRateLimiter  # noqa: E402
from tests.sessions.services import redis_server  # noqa: E402
from tests.support.server import LoopbackServer, Reply, Request, chat_completion  # noqa: E402


async def _evalsha_calls(url: str) -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def overhead(url: str, reps: int = 9, chunk: int = 500) -> list[dict[str, Any]]:
    """Each case in chunks of ``chunk`` calls, the cases interleaved ``reps`` times; medians per call."""
    from redis.asyncio import Redis

    local = RateLimiter(requests_per_minute=6e7)
    requests = RedisRateLimiter(url, requests_per_minute=6e7, name=uuid.uuid4().hex)
    tokens = RedisRateLimiter(url, tokens_per_minute=6e9, name=uuid.uuid4().hex)
    client = Redis.from_url(url)
    script = client.register_script("return 1")

    async def with_charge() -> None:
        await tokens.acquire()
        tokens.charge(10)
        await asyncio.sleep(0)  # a request's await: the background report goes out

    cases: list[tuple[str, Callable[[], Awaitable[Any]], Any]] = [
        ("RateLimiter (in process), requests_per_minute", local.acquire, local),
        ("RedisRateLimiter, requests_per_minute", requests.acquire, requests),
        ("RedisRateLimiter, tokens_per_minute (acquire + charge)", with_charge, tokens),
        ("redis-py alone: PING", client.ping, None),
        ("redis-py alone: EVALSHA `return 1`", script, None),
    ]
    samples: dict[str, list[tuple[float, float, float]]] = {label: [] for label, _, _ in cases}
    for rep in range(reps + 1):  # the first round warms up (connections, scripts loaded)
        for label, call, _ in cases:
            await asyncio.sleep(0.02)
            calls = await _evalsha_calls(url)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(chunk):
                await call()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            await asyncio.sleep(0.02)
            trips = (await _evalsha_calls(url) - calls) / chunk
            if rep:
                samples[label].append((wall / chunk * 1e6, cpu / chunk * 1e6, trips))
    rows = []
    for label, _, limiter in cases:
        wall_us, cpu_us, trips = (statistics.median(x[i] for x in samples[label]) for i in range(3))
        many = await _concurrent(limiter, limiter is tokens) if limiter is not None else float("nan")
        rows.append(
            {"limiter": label, "us": wall_us, "cpu_us": cpu_us, "trips": trips if "PING" not in label else 1.0, "per_s_64": many}
        )
    await requests.aclose()
    await tokens.aclose()
    await client.aclose()
    return rows


async def _concurrent(limiter: Any, charge: bool, tasks: int = 64, each: int = 200) -> float:
    async def work() -> None:
        for _ in range(each):
            await limiter.acquire()
            if charge:
                limiter.charge(10)

    started = time.perf_counter()
    await asyncio.gather(*(work() for _ in range(tasks)))
    return tasks * each / (time.perf_counter() - started)


def four_processes(url: str, rate: float, per_process: int, allowed: float | None = None) -> dict[str, Any]:
    """Four processes sharing a budget of ``rate`` requests a second; the server allows ``allowed`` (default: ``rate``)."""
    allowed = allowed or rate
    arrivals: list[float] = []
    refused = [0]
    burst = max(2.0, allowed / 20)  # as benchmarks/server.py --rate-limit
    bucket = {"tokens": burst, "stamp": time.monotonic()}
    lock = threading.Lock()

    def provider(request: Request) -> Reply:
        if not request.path.startswith("/v1/"):
            return Reply(body=chat_completion("warm"))
        with lock:
            now = time.monotonic()
            arrivals.append(now)
            bucket["tokens"] = min(burst, bucket["tokens"] + (now - bucket["stamp"]) * allowed)
            bucket["stamp"] = now
            if bucket["tokens"] < 1:
                refused[0] += 1
                wait = (1 - bucket["tokens"]) / allowed
                return Reply(429, {"error": {"message": "Rate limit"}}, headers={"retry-after-ms": str(math.ceil(wait * 1000))})
            bucket["tokens"] -= 1
        return Reply(body=chat_completion("ok"))

    name = uuid.uuid4().hex[:12]
    with LoopbackServer(provider) as server:
        command = [sys.executable, "-m", "tests.support.limiter_worker", server.url + "/v1", url, name, str(rate * 60)]
        workers = [
            subprocess.Popen(
                [*command, str(per_process), f"w{i}"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for i in range(4)
        ]
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "READY"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = [json.loads(worker.communicate(timeout=300)[0].strip().splitlines()[-1]) for worker in workers]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    return {
        "limit": rate,
        "allowed": allowed,
        "requests": len(arrivals),
        "measured": (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]),
        "busiest": max(bisect.bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals) if t + 1.0 <= arrivals[-1]),
        "refused": refused[0],
        "failed": sum(per_process - r["ok"] for r in reports),
        "gap_ms": (min(gaps) * 1e3, statistics.median(gaps) * 1e3, max(gaps) * 1e3),
        "per_half_second": _histogram(arrivals, 0.5),
    }


def _histogram(arrivals: list[float], width: float) -> list[int]:
    counts = [0] * (int((arrivals[-1] - arrivals[0]) / width) + 1)
    for t in arrivals:
        counts[int((t - arrivals[0]) / width)] += 1
    return counts


def main() -> None:
    with redis_server() as url:
        rows = asyncio.run(overhead(url))
        print("| limiter | wall µs / acquire | client CPU µs / acquire | Redis round trips / acquire | acquires/s, 64 tasks |")
        print("|---|---|---|---|---|")
        for r in rows:
            many = "" if math.isnan(r["per_s_64"]) else f"{r['per_s_64']:,.0f}"
            print(f"| {r['limiter']} | {r['us']:.0f} | {r['cpu_us']:.0f} | {r['trips']:.2f} | {many} |")
        print()
        print("| budget (req/s) | provider allows | requests | measured (req/s) | vs allowed | busiest second | 429s | failed |")
        print("|---|---|---|---|---|---|---|---|")
        slowest: list[str] = []
        for rate, per_process, allowed in ((40.0, 100, 40.0), (100.0, 250, 100.0), (40.0, 50, 20.0)):
            r = four_processes(url, rate, per_process, allowed)
            error = (r["measured"] - allowed) / allowed * 100
            print(
                f"| {rate:g} | {allowed:g} | {r['requests']} | {r['measured']:.2f} | {error:+.2f}% | {r['busiest']} | "
                f"{r['refused']} | {r['failed']} |"
            )
            gaps = "min {:.1f}, median {:.1f}, max {:.1f}".format(*r["gap_ms"])
            slowest.append(
                f"{rate:g} req/s ({allowed:g} allowed): gaps (ms) {gaps}; requests per half second: {r['per_half_second']}"
            )
        print(*slowest, sep="\n")


if __name__ == "__main__":
    main()
