"""RedisRateLimiter when things go wrong, against real redis-servers: a request cancelled while it
waits for its slot, Redis restarted (its script cache empty) or its scripts flushed, passwords
(in the URL, with an ``@`` in them, wrong) in reprs, errors and log lines, very low and very high
rates."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from agentkit.errors import RateLimiterUnavailable, UserError
from agentkit.ratelimit import RedisRateLimiter
from tests.sessions.services import free_port, redis_server

pytest.importorskip("redis", reason="RedisRateLimiter needs the redis extra")


@pytest.fixture
async def make(redis_url: str) -> AsyncIterator[object]:
    """``make(**options)``: a limiter on a budget of this test's own (each call: another process's limiter)."""
    name = uuid.uuid4().hex[:12]
    made: list[RedisRateLimiter] = []

    def limiter(url: str = redis_url, **options: float) -> RedisRateLimiter:
        made.append(RedisRateLimiter(url, name=name, **options))  # type: ignore[arg-type]
        return made[-1]

    yield limiter
    for one in made:
        await one.aclose()


async def test_a_request_cancelled_while_it_waits_gives_its_slot_back(make) -> None:
    a, b = make(requests_per_minute=6), make(requests_per_minute=6)  # 10 s apart
    await a.acquire()
    waiting = asyncio.ensure_future(b.acquire())  # its slot: in 10 s
    await asyncio.sleep(0.2)
    waiting.cancel()  # a web request that timed out, say
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0.1)  # given back in the background
    assert (await a.status()).next_slot_in < 10  # not 20: the cancelled slot is free again


async def test_a_cancelled_slot_with_others_booked_after_it_leaves_their_slots_alone(make) -> None:
    a, b, c = make(requests_per_minute=6), make(requests_per_minute=6), make(requests_per_minute=6)
    await a.acquire()
    waiting = asyncio.ensure_future(b.acquire())  # in 10 s
    await asyncio.sleep(0.05)
    later = asyncio.ensure_future(c.acquire())  # in 20 s
    await asyncio.sleep(0.1)
    waiting.cancel()
    await asyncio.sleep(0.1)
    assert 29 < (await a.status()).next_slot_in <= 30  # after c's slot, which stands: b's could not be given back
    later.cancel()
    await asyncio.gather(waiting, later, return_exceptions=True)


async def test_the_limiter_carries_on_after_its_scripts_are_flushed_and_after_redis_restarts(make) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    limiter = make(url, requests_per_minute=600, timeout=2)
    with redis_server(port):
        await limiter.acquire()
        from redis.asyncio import Redis

        client = Redis.from_url(url)
        await client.script_flush()  # NOSCRIPT on the next call: loaded again
        await client.aclose()
        await limiter.acquire()
    with pytest.raises(RateLimiterUnavailable):
        await limiter.acquire()  # Redis is away
    with redis_server(port):  # back, empty: its connections and scripts are new
        await limiter.acquire()
        assert 0 < (await limiter.status()).next_slot_in <= 0.1


async def test_a_password_with_an_at_sign_appears_in_no_repr_error_or_log_line(
    make, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from redis.asyncio import Redis

    user, secret = f"u{uuid.uuid4().hex[:8]}", "p@ss-w0rd-secret"
    admin = Redis.from_url(redis_url)
    await admin.acl_setuser(user, enabled=True, passwords=[f"+{secret}"], keys=["*"], commands=["+@all"])
    await admin.aclose()
    caplog.set_level(logging.DEBUG)
    host = redis_url.split("//", 1)[1]
    good = make(f"redis://{user}:{secret}@{host}", requests_per_minute=600)
    bad = make(f"redis://{user}:{secret}x@{host}", requests_per_minute=600, timeout=1)
    await good.acquire()  # redis-py reads the password with the @ in it
    with pytest.raises(RateLimiterUnavailable) as caught:
        await bad.acquire()
    shown = [repr(good), repr(bad), str(caught.value), repr(caught.value), caplog.text]
    assert not [text for text in shown if "ss-w0rd" in text or "p@ss" in text]
    assert f"redis://{host.split('/')[0]}" in repr(good)


async def test_very_low_and_very_high_rates(make, redis_url: str) -> None:
    from redis.asyncio import Redis

    slow = make(requests_per_minute=0.5)  # one request every 2 minutes
    await slow.acquire()
    assert 119 < (await slow.status()).next_slot_in <= 120
    client = Redis.from_url(redis_url)
    assert 179_000 < await client.pttl(slow.key) <= 180_000  # kept a minute past the next slot
    await client.aclose()
    fast = RedisRateLimiter(redis_url, requests_per_minute=6_000_000, name=uuid.uuid4().hex)  # 10 µs apart
    started = time.perf_counter()
    for _ in range(200):
        await fast.acquire()
    assert time.perf_counter() - started < 5  # bound by the round trips, not by the budget
    await fast.aclose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://:pw-secret@127.0.0.1:badport/0", "bad port"),
        ("redis://:pw-secret@127.0.0.1:99999/0", "bad port"),
        ("unix://:pw-secret@", "socket's path"),
    ],
)
def test_a_url_redis_py_cannot_use_is_refused_when_the_limiter_is_made(url: str, message: str) -> None:
    """Not a ValueError from redis-py at the first request (in the middle of a batch)."""
    with pytest.raises(UserError, match=message) as caught:
        RedisRateLimiter(url, requests_per_minute=60)
    assert "pw-secret" not in str(caught.value)
