"""One rate limit for a Ray cluster: the budget lives in one Ray actor, every worker asks it.

The actor holds an ordinary :class:`~agentkit.batch.RateLimiter` (requests spaced evenly, tokens
charged after each response, a 429 pausing everyone and halving the rate once per burst). A
worker's :class:`RayRateLimiter` asks it for the next slot (one actor call: the seconds to wait,
measured on the actor's clock, so machines need not agree on the time) and sleeps them itself;
its successes ride along with its next request for a slot, and a 429 is reported at once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextvars import ContextVar
from typing import Any

import ray

from .batch import RateLimiter
from .errors import RateLimiterUnavailable, UserError

__all__ = ["RayRateLimiter"]

_EPOCH: ContextVar[int] = ContextVar("agentkit_ray_limiter_epoch", default=0)
"""The epoch of the current task's last slot (the request a 429 answers)."""

NAMESPACE = "agentkit"
"""The Ray namespace of the limiter actors (named, so that every process finds the same one)."""


class _Budget:
    """The Ray actor behind a :class:`RayRateLimiter` (one per budget, anywhere in the cluster)."""

    def __init__(self, requests_per_minute: float | None, tokens_per_minute: float | None) -> None:
        self._limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self._requests = 0
        self._epoch = 0  # slowdowns so far: a 429 to a request booked before the last one does not slow down again

    async def reserve(self, charges: list[int], count: int = 1) -> tuple[list[float], int]:
        """Count the caller's successes since its last call, then book its next ``count`` slots
        (one after the other, as ``count`` calls would): the seconds until each, and the epoch."""
        for tokens in charges:
            self._limiter.charge(tokens)
        self._requests += count
        return [self._limiter.reserve() for _ in range(count)], self._epoch

    async def charge(self, charges: list[int]) -> None:
        for tokens in charges:
            self._limiter.charge(tokens)

    async def rate_limited_for(self, seconds: float | None, epoch: int) -> float:
        """A 429 to a request booked in ``epoch``: pause everyone; slow down unless a slowdown came since."""
        slow_down = epoch >= self._epoch
        if slow_down and time.monotonic() >= self._limiter._paused_until:  # a new burst: this 429 slows the rate
            self._epoch += 1
        return self._limiter.rate_limited_for(seconds, slow_down)

    async def status(self) -> dict[str, Any]:
        rate = self._limiter._rate
        return {
            "requests": self._requests,
            "rate_limited": self._limiter.rate_limited,
            "requests_per_minute": rate * 60 if rate else None,
        }


class RayRateLimiter:
    """A :class:`~agentkit.ratelimit.Limiter` whose budget is one Ray actor shared by every process of the cluster.

    ``RayRateLimiter(requests_per_minute=500, tokens_per_minute=200_000)`` on the driver; pickled
    into every worker (it is only a name and the limits), each copy finds the same actor. The
    actor is made on first use (in the ``agentkit`` namespace, owned by the process that made it:
    it ends with that process). ``run_many(executor=RayExecutor(...))`` makes one from its
    ``requests_per_minute``/``tokens_per_minute``, or uses the one given as ``limiter=``.

    A process's requests that wait for a slot at the same time share one actor call (their slots,
    booked one after the other; the previous successes ride along) and each sleeps until its own;
    a 429 pauses and slows every worker at once (``Retry-After`` honoured, 1 s when not said, once
    per burst of 429s).
    """

    def __init__(
        self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None, *, name: str | None = None
    ) -> None:
        RateLimiter(requests_per_minute, tokens_per_minute)  # the same checks, here and now
        if name is not None and (not isinstance(name, str) or not name):
            raise UserError(f"RayRateLimiter(name=...) must be a non-empty string, not {name!r}.")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.name = name or f"ratelimit-{uuid.uuid4().hex[:12]}"
        self.rate_limited = 0
        """How many 429s this process reported (the whole cluster's: :meth:`status`)."""
        self._actor: Any = None
        self._charges: list[int] = []
        self._waiting: list[asyncio.Future[tuple[float, int]]] = []  # acquires of this process waiting for a slot
        self._asking: asyncio.AbstractEventLoop | None = None  # the loop whose task is asking the actor now
        self._asker: asyncio.Task[None] | None = None
        self._paused_until = 0.0  # this process's own 429s: waited out even before the actor hears of them

    def __getstate__(self) -> dict[str, Any]:
        return {"requests_per_minute": self.requests_per_minute, "tokens_per_minute": self.tokens_per_minute, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["requests_per_minute"], state["tokens_per_minute"], name=state["name"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"RayRateLimiter(requests_per_minute={self.requests_per_minute}, tokens_per_minute={self.tokens_per_minute})"

    def actor(self) -> Any:
        """The budget's actor: found by name, or made (with no CPU of its own) when there is none yet."""
        if self._actor is None:
            remote: Any = ray.remote(_Budget).options(
                name=self.name, namespace=NAMESPACE, get_if_exists=True, num_cpus=0, max_concurrency=10_000
            )
            self._actor = remote.remote(self.requests_per_minute, self.tokens_per_minute)
        return self._actor

    async def acquire(self, provider: str | None = None) -> None:
        """Wait for this request's slot in the cluster's budget."""
        pause = self._paused_until - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        loop = asyncio.get_running_loop()
        slot: asyncio.Future[tuple[float, int]] = loop.create_future()
        self._waiting.append(slot)
        if self._asking is not loop:  # one call in flight per process: the acquires meanwhile go in the next one
            self._asking = loop
            self._asker = loop.create_task(self._ask())
        delay, epoch = await slot
        _EPOCH.set(epoch)  # this task's request: its 429, if any, says which rate it was booked at
        if delay > 0:
            if provider is not None:
                from ._http.client import WAIT_LISTENERS  # here: importing agentkit does not import httpx

                for listener in WAIT_LISTENERS:
                    listener(provider, delay)
            await asyncio.sleep(delay)

    async def _ask(self) -> None:
        """Book the slots of every waiting acquire, one actor call for all of those waiting at once."""
        try:
            while self._waiting:
                waiting, self._waiting = self._waiting, []
                charges, self._charges = self._charges, []
                try:
                    # the seconds to wait count from the actor's answer: its clock and ours need not agree
                    delays, epoch = await self.actor().reserve.remote(charges, len(waiting))
                except Exception as e:
                    gone = RateLimiterUnavailable(f"the Ray actor of the rate limiter {self.name!r} did not answer: {e}")
                    for slot in waiting:
                        if not slot.done():
                            slot.set_exception(gone)
                    continue
                for slot, delay in zip(waiting, delays, strict=True):
                    if not slot.done():
                        slot.set_result((delay, epoch))
        finally:
            self._asking = None

    def charge(self, tokens: int) -> None:
        """A success: told to the actor with this process's next :meth:`acquire` (or :meth:`flush`)."""
        self._charges.append(tokens)

    def rate_limited_for(self, seconds: float | None) -> float:
        """A 429: the actor pauses every worker for ``seconds`` and slows down (sent at once, not waited for)."""
        self.rate_limited += 1
        self.actor().rate_limited_for.remote(seconds, _EPOCH.get())
        wait = min(seconds if seconds is not None and seconds > 0 else 1.0, 300.0)
        self._paused_until = max(self._paused_until, time.monotonic() + wait)
        return wait

    async def flush(self) -> None:
        """Send the successes not yet told to the actor."""
        charges, self._charges = self._charges, []
        if charges:
            await self.actor().charge.remote(charges)

    async def status(self) -> dict[str, Any]:
        """The cluster's view: ``requests`` (slots handed out), ``rate_limited`` (429s), ``requests_per_minute`` (now)."""
        result: dict[str, Any] = await self.actor().status.remote()
        return result

    def close(self) -> None:
        """End the actor (the budget is gone for every process)."""
        if self._actor is not None:
            ray.kill(self._actor)
            self._actor = None
