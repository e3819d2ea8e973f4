"""One process of the four that share a RedisRateLimiter budget (tests/test_redis_rate_limit.py).

``python -m tests.support.limiter_worker BASE_URL REDIS_URL NAME RPM COUNT TAG``: connects, makes
one request to ``/warm-up`` (the server does not count it), prints ``READY``, waits for a line on
stdin (so that the four start together), runs ``COUNT`` inputs through
``run_many(limiter=RedisRateLimiter(...))`` and prints one JSON line: how many succeeded, the first
errors, and the 429s this process saw.
"""

from __future__ import annotations

import asyncio
import json
import sys

from agentkit import Agent
from agentkit.models import OpenAICompatible
from agentkit.ratelimit import RedisRateLimiter


async def main(base_url: str, redis_url: str, name: str, rpm: float, count: int, tag: str) -> None:
    limiter = RedisRateLimiter(redis_url, requests_per_minute=rpm, name=name)
    agent = Agent(OpenAICompatible("loopback-model", base_url=base_url, api_key="sk-test-worker"))
    await limiter.status()  # connected before the start
    warm = Agent(OpenAICompatible("loopback-model", base_url=base_url.replace("/v1", "/warm-up"), api_key="sk-test-worker"))
    await warm.run("warm up")  # the HTTP client's first request imports and builds what it needs (not counted)
    await warm.aclose()
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    inputs = [{"id": f"{tag}-{i}", "prompt": f"{tag} {i}"} for i in range(count)]
    items = await agent.run_many(inputs, concurrency=8, limiter=limiter, progress=False)
    errors = [item.error for item in items if not item.ok]
    print(json.dumps({"ok": len(items) - len(errors), "errors": errors[:3], "rate_limited": limiter.rate_limited}), flush=True)
    await limiter.aclose()
    await agent.aclose()


if __name__ == "__main__":
    base, redis_url, name, rpm, count, tag = sys.argv[1:7]
    asyncio.run(main(base, redis_url, name, float(rpm), int(count), tag))
