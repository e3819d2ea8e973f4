"""RedisRateLimiter: one request and token budget shared by processes, against a real redis-server.

The server is started by the test run on 127.0.0.1 (``tests/sessions/services.py``); each test
uses a budget name of its own. The last test runs four separate Python processes against one
rate-limited loopback server and checks the rate the server saw.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import math
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agentkit import Agent, UserError
from agentkit.errors import RateLimiterUnavailable
from agentkit.models import OpenAICompatible
from agentkit.ratelimit import Limiter, RedisRateLimiter, limited_model
from agentkit.testing import TestModel
from tests.sessions.services import free_port
from tests.support.server import LoopbackServer, Reply, Request, chat_completion

ROOT = Path(__file__).parent.parent


@pytest.fixture
async def make(redis_url: str) -> AsyncIterator[object]:
    """``make(**limits)``: a limiter on a budget of this test's own; ``make(**limits)`` again: another process's view of it."""
    name = uuid.uuid4().hex[:12]
    made: list[RedisRateLimiter] = []

    def limiter(**limits: float) -> RedisRateLimiter:
        made.append(RedisRateLimiter(redis_url, name=name, **limits))
        return made[-1]

    yield limiter
    for one in made:
        await one.aclose()


async def elapsed(*limiters: RedisRateLimiter, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        for limiter in limiters:
            await limiter.acquire()
    return time.perf_counter() - started


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"requests_per_minute": 0}, "requests_per_minute=.*above 0"),
        ({"requests_per_minute": -5}, "above 0"),
        ({"tokens_per_minute": "1000"}, "tokens_per_minute=.*above 0"),
        ({"requests_per_minute": True}, "above 0"),
        ({"requests_per_minute": math.inf}, "above 0"),
        ({"name": ""}, "non-empty"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_arguments_raise_user_error_saying_what_is_expected(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message):
        RedisRateLimiter("redis://127.0.0.1:6379/0", **arguments)  # type: ignore[arg-type]


def test_a_url_that_is_not_redis_is_refused_without_showing_its_password() -> None:
    with pytest.raises(UserError, match="redis://, rediss:// or unix://") as caught:
        RedisRateLimiter("http://user:hunter2hunter2@example.com/0", requests_per_minute=60)
    assert "hunter2" not in str(caught.value)


def test_both_limiters_implement_the_limiter_interface() -> None:
    from agentkit.batch import RateLimiter

    assert isinstance(RateLimiter(requests_per_minute=60), Limiter)
    assert isinstance(RedisRateLimiter("redis://127.0.0.1/0", requests_per_minute=60), Limiter)


async def test_requests_of_two_processes_are_spaced_by_one_budget(make) -> None:
    a, b = make(requests_per_minute=600), make(requests_per_minute=600)  # 100 ms apart, whoever asks
    took = await elapsed(a, b, rounds=4)  # 8 requests: the first at once, 7 more 100 ms apart
    assert 0.65 < took < 1.2  # never sooner; later only by what a loaded machine adds
    assert 0 < (await a.status()).next_slot_in <= 0.1  # the next one is already booked


async def test_a_429_pauses_every_process_halves_the_rate_once_and_successes_restore_it(make) -> None:
    a, b = make(requests_per_minute=6000), make(requests_per_minute=6000)
    await a.acquire()
    assert a.rate_limited_for(0.4) == 0.4
    b.rate_limited_for(0.2)  # the same burst of 429s, seen by another process: one slowdown, not two
    await asyncio.sleep(0.02)  # both reports were sent in the background
    status = await b.status()
    assert status.paused_for == pytest.approx(0.38, abs=0.05)
    assert status.requests_per_minute == pytest.approx(3000)
    assert status.rate_limited == 2
    started = time.perf_counter()
    await b.acquire()  # b never saw a's 429: it waits out a's pause anyway
    assert 0.33 < time.perf_counter() - started < 0.8
    for _ in range(20):
        a.charge(0)
        await a.acquire()  # 20 successes: 3000 -> 6000 requests per minute (1.05 ** 15 > 2)
    assert (await a.status()).requests_per_minute == pytest.approx(6000)


async def test_a_slot_that_a_later_429_pause_covers_is_given_up_for_one_after_the_pause(make) -> None:
    a, b, c = make(requests_per_minute=600), make(requests_per_minute=600), make(requests_per_minute=600)
    await a.acquire()
    started = time.perf_counter()
    waiting = asyncio.ensure_future(b.acquire())  # its slot: in 100 ms
    await asyncio.sleep(0.03)
    c.rate_limited_for(0.5)  # another process's 429: nobody sends until 530 ms
    await waiting
    assert 0.5 < time.perf_counter() - started < 0.9


async def test_only_a_429_to_a_request_booked_at_the_current_rate_slows_down_again(make) -> None:
    a, b = make(requests_per_minute=6000), make(requests_per_minute=6000)
    await a.acquire()
    await b.acquire()  # both booked at 6000 a minute
    a.rate_limited_for(0.05)
    await asyncio.sleep(0.1)  # the pause is over when b's 429 comes: still the same overshoot
    b.rate_limited_for(0.05)
    await asyncio.sleep(0.02)
    assert (await a.status()).requests_per_minute == pytest.approx(3000)
    await b.acquire()  # booked at 3000 a minute: a 429 to this one says 3000 is too fast
    b.rate_limited_for(0.05)
    await asyncio.sleep(0.02)
    assert (await a.status()).requests_per_minute == pytest.approx(1500)


async def test_tokens_per_minute_charged_by_one_process_delay_the_others(make) -> None:
    a, b = make(tokens_per_minute=6000), make(tokens_per_minute=6000)  # 100 tokens a second
    await b.acquire()  # no request limit: at once
    a.charge(30)  # sent in the background: 0.3 s of tokens
    started = time.perf_counter()
    await asyncio.sleep(0.05)
    await b.acquire()
    assert 0.28 < time.perf_counter() - started < 0.7
    assert (await b.status()).requests_per_minute is None


async def test_the_budget_is_one_key_that_expires_and_names_keep_budgets_apart(make, redis_url: str) -> None:
    from redis.asyncio import Redis

    a = make(requests_per_minute=60)
    other = RedisRateLimiter(redis_url, requests_per_minute=60, name=a.name + "-other")
    await a.acquire()
    started = time.perf_counter()
    await other.acquire()  # another budget: not behind a's slot
    assert time.perf_counter() - started < 0.1
    client = Redis.from_url(redis_url)
    try:
        assert a.key == f"agentkit:ratelimit:{a.name}"
        ttl = await client.pttl(a.key)
        assert 60_000 < ttl <= 61_000  # a minute after the next slot
        await a.reset()
        assert await client.exists(a.key) == 0
    finally:
        await client.aclose()
        await other.aclose()


async def test_redis_unavailable_is_a_typed_error_at_once_without_the_password() -> None:
    secret = "s3cret-pa55word"
    limiter = RedisRateLimiter(f"redis://agent:{secret}@127.0.0.1:{free_port()}/0", requests_per_minute=60, timeout=1)
    assert secret not in repr(limiter)
    started = time.perf_counter()
    with pytest.raises(RateLimiterUnavailable, match=re.escape("could not use the Redis server redis://127.0.0.1")) as caught:
        await limiter.acquire()
    assert time.perf_counter() - started < 5
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    limiter.charge(10)  # reported in the background: kept for later, never raised there
    await asyncio.sleep(0.05)
    await limiter.aclose()


async def test_run_many_stops_when_the_limiters_redis_is_away() -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", requests_per_minute=600, timeout=1)
    with pytest.raises(RateLimiterUnavailable):
        await Agent(TestModel()).run_many(["a", "b", "c"], limiter=limiter, progress=False)


def test_run_many_sync_shares_the_budget_and_closes_its_loops_connections(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url, requests_per_minute=1200, name=uuid.uuid4().hex)  # 50 ms apart
    agent = Agent(TestModel())
    started = time.perf_counter()
    for _ in range(2):  # two calls, two event loops: each closes what it opened
        items = agent.run_many_sync(["a", "b", "c"], limiter=limiter, progress=False)
        assert all(item.ok for item in items)
        assert not limiter._clients
    assert time.perf_counter() - started > 0.25  # 6 requests, 5 gaps of 50 ms: one budget across both calls


async def test_run_many_with_a_limiter_takes_no_limits_of_its_own(make) -> None:
    with pytest.raises(UserError, match="holds the limits"):
        await Agent(TestModel()).run_many(["a"], limiter=make(requests_per_minute=60), requests_per_minute=60)
    with pytest.raises(UserError, match="takes a Limiter"):
        await Agent(TestModel()).run_many(["a"], limiter=object())  # type: ignore[arg-type]


async def test_a_streaming_model_behind_the_limiter_waits_out_a_429_and_streams_for_real(make, loopback) -> None:
    def chunk(delta: dict[str, str], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    chunks = [chunk({"role": "assistant", "content": "hel"}, None), chunk({"content": "lo"}, "stop"), b"data: [DONE]\n\n"]
    replies = [Reply(429, {"error": {"message": "slow down"}}, headers={"retry-after-ms": "300"})]
    replies.append(Reply(content_type="text/event-stream", chunks=chunks))
    server = loopback(replies)
    limiter = make(requests_per_minute=6000)
    other = make(requests_per_minute=6000)
    agent = Agent(limited_model(OpenAICompatible("m", base_url=server.url + "/v1", api_key="sk-test"), limiter))
    started = time.perf_counter()
    async with agent.run_stream("hi") as stream:
        texts = [text async for text in stream.text()]
    assert texts == ["hel", "lo"] and len(server.requests) == 2
    assert time.perf_counter() - started >= 0.3
    assert limiter.rate_limited == 1 and (await other.status()).rate_limited == 1
    await agent.aclose()


def four_processes(
    redis_url: str, budget: float, allowed: float, per_process: int
) -> tuple[list[float], int, list[dict[str, Any]]]:
    """4 processes x 8 runs in flight sharing one budget of ``budget`` requests a second, against a
    loopback server that allows ``allowed`` a second (a token bucket of 4: 100 ms of a loaded
    machine's jitter) and answers 429 with ``retry-after-ms`` above that, as providers do.

    Returns the times the server saw each request, how many it answered 429, and each process's report.
    """
    arrivals: list[float] = []
    refused = [0]
    bucket = {"tokens": 4.0, "stamp": time.monotonic()}
    lock = threading.Lock()

    def provider(request: Request) -> Reply:
        if not request.path.startswith("/v1/"):  # a worker's warm-up request
            return Reply(body=chat_completion("warm"))
        with lock:
            now = time.monotonic()
            arrivals.append(now)
            bucket["tokens"] = min(4.0, bucket["tokens"] + (now - bucket["stamp"]) * allowed)
            bucket["stamp"] = now
            if bucket["tokens"] < 1:
                refused[0] += 1
                wait = math.ceil((1 - bucket["tokens"]) / allowed * 1000)
                return Reply(429, {"error": {"message": "Rate limit reached"}}, headers={"retry-after-ms": str(wait)})
            bucket["tokens"] -= 1
        return Reply(body=chat_completion("ok"))

    name = uuid.uuid4().hex[:12]
    with LoopbackServer(provider) as server:
        command = [sys.executable, "-m", "tests.support.limiter_worker", server.url + "/v1", redis_url, name]
        command += [str(budget * 60), str(per_process)]
        workers = [
            subprocess.Popen([*command, f"w{i}"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for i in range(4)
        ]
        try:
            for worker in workers:
                assert worker.stdout is not None and worker.stdout.readline().strip() == "READY"
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write("go\n")
                worker.stdin.flush()
            reports = [json.loads(worker.communicate(timeout=60)[0].strip().splitlines()[-1]) for worker in workers]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
    return arrivals, refused[0], reports


def busiest_second(arrivals: list[float]) -> int:
    return max(bisect.bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals) if t + 1.0 <= arrivals[-1])


def test_four_processes_hold_one_rate_limit_within_5_percent(redis_url: str) -> None:
    """The server allows what the budget says: the rate it saw (first to last request) is the budget's."""
    rate, per_process = 40.0, 40
    arrivals, refused, reports = four_processes(redis_url, rate, rate, per_process)
    assert [r["ok"] for r in reports] == [per_process] * 4, reports  # no run failed
    measured = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    busiest = busiest_second(arrivals)
    print(
        f"\n4 processes: {len(arrivals)} requests at {measured:.2f}/s for a limit of {rate:g}/s, at most {busiest} in a second;"
    )
    print(f"{refused} answered 429")
    assert abs(measured - rate) / rate < 0.05
    assert busiest <= rate * 1.05 + 1  # no second of the run went over (a window's edges may catch one more)
    assert refused <= len(arrivals) * 0.03  # the budget kept the provider's limit: 429s, if any, are rare


def test_four_processes_with_a_budget_above_what_the_provider_allows_slow_down_together(redis_url: str) -> None:
    """The budget says 40 a second, the provider takes 20: 429s pause and slow every process, no run fails."""
    allowed, per_process = 20.0, 15
    arrivals, refused, reports = four_processes(redis_url, 40.0, allowed, per_process)
    assert [r["ok"] for r in reports] == [per_process] * 4, reports
    accepted = len(arrivals) - refused
    measured = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    print(f"\n4 processes, budget 40/s, provider 20/s: {len(arrivals)} requests at {measured:.2f}/s, {refused} answered 429")
    assert accepted == 4 * per_process
    assert refused <= accepted * 0.25  # the processes learned together: no 429 storm
    assert measured < allowed * 1.25
