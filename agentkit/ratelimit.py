"""Rate limiters: the small interface ``run_many`` and :func:`limited_model` pace requests with.

Two limiters implement it:

* :class:`agentkit.batch.RateLimiter` — in the process (what ``run_many(requests_per_minute=...)``
  makes for itself).
* :class:`RedisRateLimiter` — one budget in Redis, shared by every process and machine that
  names it: web workers, several batch scripts, a fleet of containers
  (``pip install 'agentkit-loop[redis]'``).

A limiter goes in front of any model with :func:`limited_model`, or into a batch with
``agent.run_many(inputs, limiter=...)``::

    limiter = RedisRateLimiter("redis://localhost:6379/0", requests_per_minute=500)
    agent = Agent(limited_model(OpenAI("gpt-4o-mini"), limiter))  # every run, every process

The model behind a limiter is asked to raise a 429 at once instead of retrying it
(:meth:`~agentkit.models.Model.with_rate_limit_retries`), so the limiter sees it: the 429's
``Retry-After`` pauses every user of the limiter, and the request waits and is sent again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._redis_limiter import LimiterStatus, RedisRateLimiter
from .errors import RateLimitError, RateLimiterUnavailable
from .events import ModelStreamEvent, ResponseComplete
from .models.base import Model, ModelRequest, ModelResponse

if TYPE_CHECKING:
    from .errors import ProviderError

__all__ = ["Limiter", "RedisRateLimiter", "LimiterStatus", "RateLimiterUnavailable", "limited_model", "RateLimitedModel"]


@runtime_checkable
class Limiter(Protocol):
    """What paces requests: one ``acquire`` before each request, then ``charge`` after a success
    or ``rate_limited_for`` after a 429.

    ``charge`` and ``rate_limited_for`` do not wait: a limiter that keeps its state elsewhere
    (Redis) sends them in the background, and its next ``acquire`` sees them.
    """

    rate_limited: int
    """How many 429s this limiter was told of (in this process)."""

    async def acquire(self, provider: str | None = None) -> None:
        """Wait until one more request may start (a wait is reported to the run log and traces for ``provider``)."""

    def charge(self, tokens: int) -> None:
        """A request succeeded and used ``tokens`` (its ``total_tokens``)."""

    def rate_limited_for(self, seconds: float | None) -> float:
        """The provider answered 429 with ``Retry-After: seconds`` (None: not said): pause
        every request of the limiter and slow down. Returns the seconds this request waits."""


class RateLimitedModel(Model):
    """A model behind a :class:`Limiter`: each request (streamed or not) waits for its slot, and a
    429 waits and is sent again instead of failing (up to ``max_waits`` times).

    The inner model is asked for its twin that raises a 429 at once
    (:meth:`Model.with_rate_limit_retries`, sharing its connections), so the limiter sees the
    first 429 and pauses everyone. A stream is sent again only when the 429 came before its
    first event. Closing this model closes the inner one, not the limiter.
    """

    def __init__(self, inner: Model, limiter: Limiter, max_waits: int = 50) -> None:
        self.inner = inner.with_rate_limit_retries(False)
        self.limiter = limiter
        self.max_waits = max_waits
        self.model_name = inner.model_name
        self.provider = inner.provider
        self.context_length = inner.context_length

    async def request(self, request: ModelRequest) -> ModelResponse:
        for attempt in range(self.max_waits):
            await self.limiter.acquire(None if attempt else self.provider)  # after a 429: the retry's own wait
            try:
                response = await self.inner.request(request)
            except RateLimitError as e:
                self._rate_limited(e, attempt)
                continue
            self.limiter.charge(response.usage.total_tokens)
            return response
        raise self._gave_up()

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        for attempt in range(self.max_waits):
            await self.limiter.acquire(None if attempt else self.provider)
            started = False
            try:
                async with contextlib.aclosing(self.inner.stream(request)) as events:
                    async for event in events:
                        started = True
                        if isinstance(event, ResponseComplete):
                            self.limiter.charge(event.response.usage.total_tokens)
                        yield event
            except RateLimitError as e:
                if started:  # events were already given out: sending again would repeat them
                    raise
                self._rate_limited(e, attempt)
                continue
            return
        raise self._gave_up()

    def _rate_limited(self, error: ProviderError, attempt: int) -> None:
        wait = self.limiter.rate_limited_for(error.retry_after)
        from ._http.client import RETRY_LISTENERS  # here: importing agentkit does not import httpx

        for listener in RETRY_LISTENERS:  # the run log and the trace show the 429 and the wait
            listener(self.provider, error, wait, attempt + 1)

    def _gave_up(self) -> RateLimitError:
        return RateLimitError(f"still rate limited after waiting {self.max_waits} times", provider=self.inner.provider)

    async def aclose(self) -> None:
        await self.inner.aclose()


def limited_model(model: Model, limiter: Limiter, max_waits: int = 50) -> Model:
    """``model`` behind ``limiter``: requests wait for their slot, and a 429 slows every user of
    the limiter down instead of failing (up to ``max_waits`` waits per request)."""
    return RateLimitedModel(model, limiter, max_waits)
