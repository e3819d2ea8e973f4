"""RedisRateLimiter: one requests- and tokens-per-minute budget in Redis, shared by every process.

The state of a budget is one Redis hash, ``<key_prefix>:ratelimit:<name>``, changed only by one
Lua script (atomic: no two processes ever see the same slot), on Redis's clock (``TIME``), never a
process's own. Fields, in microseconds of Redis time:

* ``tat`` — when the next request may start (GCRA's theoretical arrival time, with no burst: the
  requests of all processes are spaced evenly, ``60 / requests_per_minute`` apart);
* ``debt`` — until when the tokens already charged keep new requests waiting (tokens per minute);
* ``paused`` — until when a 429's ``Retry-After`` stops everyone;
* ``interval`` — the spacing now: doubled by a 429 (at most 16 times the configured one), and 5%
  shorter after each success until it is back to the configured one;
* ``epoch`` — how many times the spacing was doubled. A request remembers the epoch it booked its
  slot in: only a 429 to a request booked at the current spacing doubles it again (those booked
  before the last slowdown say nothing new about the rate), and a doubling drops the booked
  schedule — a request that wakes up to a slot booked in an older epoch books a new one;
* ``hits`` — the 429s reported by all processes.

``acquire`` is one script call (one round trip) that reserves the next slot and returns how long
to wait; the process then sleeps that long on its own, and, when it did wait, asks once more (a
second round trip) whether a 429 paused everyone meanwhile: then it takes a new slot after the
pause. ``charge`` and ``rate_limited_for`` do not wait: what they report is sent by a background
task (coalesced: one call for everything reported meanwhile) or with the next ``acquire``,
whichever comes first. A request cancelled while it waits for its slot gives the slot back (a
third script), when no request booked one after it. The hash expires a minute after the last
instant it holds, so an idle budget leaves nothing behind.

redis is imported when a limiter is first used, never by ``import agentkit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import weakref
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

from ._secrets import redact_secrets, register_secret
from .errors import RateLimiterUnavailable, UserError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["RedisRateLimiter", "LimiterStatus"]

IDLE_MS = 60_000
"""The budget's hash expires this long after the last instant it holds (its slots, debt, pause)."""
MAX_REPLANS = 20
"""The most times a request gives up a slot that a 429's pause took over before it goes anyway."""
MAX_PAUSE = 300.0
"""The longest pause one 429 imposes (a ``Retry-After`` above this is capped)."""
_BOOKED: ContextVar[tuple[int, int]] = ContextVar("agentkit_ratelimit_booked", default=(0, -1))
"""(id of the limiter, epoch) of the slot the current task's request was booked in: a 429 to it says which rate was too fast."""

_STEP = """
local key = KEYS[1]
local a = {}
for x in string.gmatch(ARGV[1], '[^,]+') do a[#a + 1] = tonumber(x) end
local base, per_token, tokens, successes, pause, hits, hit_epoch, reserve, idle = unpack(a)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local f = redis.call('HMGET', key, 'tat', 'debt', 'paused', 'interval', 'hits', 'epoch')
local tat, debt, paused = tonumber(f[1]) or 0, tonumber(f[2]) or 0, tonumber(f[3]) or 0
local interval, total, epoch = tonumber(f[4]) or base, tonumber(f[5]) or 0, tonumber(f[6]) or 0
if base > 0 then interval = math.min(math.max(interval, base), base * 16) else interval = 0 end
if tokens > 0 and per_token > 0 then debt = math.max(debt, now) + tokens * per_token end
if successes > 0 and interval > base then interval = math.max(base, interval / (1.05 ^ successes)) end
if hits > 0 then
  local fresh = now >= paused
  if hit_epoch >= 0 then fresh = hit_epoch >= epoch end
  paused = math.max(paused, now + pause)
  if fresh then
    epoch = epoch + 1
    if base > 0 then interval = math.min(interval * 2, base * 16) end
    tat = paused
  else
    tat = math.max(tat, paused)
  end
  total = total + hits
end
local start = now
if reserve > 0 then
  start = math.max(now, tat, debt, paused)
  if interval > 0 then tat = start + interval end
end
local function n(x) return string.format('%.0f', x) end
redis.call('HSET', key, 'tat', n(tat), 'debt', n(debt), 'paused', n(paused), 'interval', n(interval), 'hits', n(total),
  'epoch', n(epoch))
redis.call('PEXPIRE', key, math.floor((math.max(tat, debt, paused, now) - now) / 1000) + idle)
return n(start - now) .. ',' .. n(interval) .. ',' .. n(math.max(paused - now, 0)) .. ',' .. n(epoch) .. ',' .. n(tat)
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'tat') == ARGV[1] then redis.call('HSET', KEYS[1], 'tat', ARGV[2]) return 1 end
return 0
"""
"""Give back the last booked slot (a request cancelled while it waited): only when no request booked after it."""

_STATUS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local f = redis.call('HMGET', KEYS[1], 'tat', 'debt', 'paused', 'interval', 'hits')
local function left(x) return string.format('%.0f', math.max((tonumber(x) or 0) - now, 0)) end
return {left(f[1]), left(f[2]), left(f[3]), f[4] or '0', f[5] or '0'}
"""


_Client = tuple["Redis", "AsyncScript", "AsyncScript", "AsyncScript"]
"""A loop's connection and its scripts: step, status, release."""


@dataclass(frozen=True)
class LimiterStatus:
    """A budget as Redis holds it now (:meth:`RedisRateLimiter.status`)."""

    next_slot_in: float
    """Seconds until the next free request slot (0: free now)."""
    tokens_wait: float
    """Seconds the tokens already charged keep new requests waiting."""
    paused_for: float
    """Seconds left of the pause a 429 imposed on everyone."""
    requests_per_minute: float | None
    """The rate now (lower than the configured one while it recovers from a 429); None without a request limit."""
    rate_limited: int
    """429s reported by every process sharing the budget since it was last idle."""


def _describe(url: str) -> str:
    """The server a URL names, without its user, password or query (which may hold a password)."""
    return "the Redis server " + re.sub(r"//.*@", "//", url.split("?", 1)[0])  # to the last @: a password may hold @


def _check_url(url: Any) -> None:
    """A Redis URL that redis-py can use (a port that is a number, a socket path), else a UserError without its password."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        shown = _describe(url) if isinstance(url, str) else repr(url)
        raise UserError(f"RedisRateLimiter needs a redis://, rediss:// or unix:// URL, not {shown}.")
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - reading it checks it
    except ValueError as e:
        raise UserError(f"RedisRateLimiter's URL has a bad port ({e}): {_describe(url)}.") from None
    if parts.scheme == "unix" and not parts.path:
        raise UserError(f"A unix:// URL names the socket's path (unix:///run/redis.sock), not {_describe(url)}.")


def _number(label: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise UserError(f"RedisRateLimiter({label}=...) takes a number above 0 (or None for no limit), not {value!r}.")
    return float(value)


def _require() -> None:
    try:
        import redis.asyncio  # noqa: F401
    except ImportError as e:
        raise ImportError(f"RedisRateLimiter needs the 'redis' extra: pip install 'agentkit-loop[redis]'  ({e})") from e


class RedisRateLimiter:
    """Requests-per-minute and tokens-per-minute limits held in Redis, shared by every process,
    thread and machine that uses the same server and ``name``.

    Use it for ``agent.run_many(inputs, limiter=...)`` in several processes, or in front of any
    model with :func:`~agentkit.ratelimit.limited_model` (web workers: one limiter per process,
    one budget for all). Requests are spaced evenly across all processes (no bursts); tokens
    are charged after each response (its ``total_tokens``) and delay the next requests; a 429
    with ``Retry-After`` pauses every process for that long and halves the request rate, once
    per overshoot (a 429 to a request booked before the last slowdown does not halve it again);
    the rate recovers by 5% per successful request. Without ``requests_per_minute`` a 429 still
    pauses everyone, but no rate is learned.

    All the times are Redis's (``TIME``), so the machines' clocks do not matter. The budget's
    one key expires a minute after its last use. Needs ``pip install 'agentkit-loop[redis]'``
    (redis-py 5 or later) and Redis 5 or later.

    Each process (each event loop) opens its own connections on first use; ``await
    limiter.aclose()`` (or ``async with``) closes those of the running loop, and the limiter
    stays usable (it connects again when used). ``run_many_sync`` closes them itself.

    Args:
        url: The server, e.g. ``redis://localhost:6379/0`` (``rediss://`` for TLS,
            ``unix:///path/redis.sock``). Its password never appears in a repr, log line or error.
        requests_per_minute: Requests per minute across every user of the budget (None: no limit).
        tokens_per_minute: Tokens per minute across every user of the budget (None: no limit).
        name: The budget: limiters with the same server, ``key_prefix`` and name share it (give
            them the same limits). One per provider account and model family, say.
        key_prefix: The start of the key (``<key_prefix>:ratelimit:<name>``).
        timeout: Seconds to connect and for each Redis reply; with two quick retries on a lost
            connection, a request waits at most about ``3 * timeout`` before
            :class:`~agentkit.errors.RateLimiterUnavailable` is raised.

    Raises:
        UserError: a limit that is not a number above 0, a URL that is not a Redis URL, an empty name.
    """

    def __init__(
        self,
        url: str,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        name: str = "default",
        key_prefix: str = "agentkit",
        timeout: float = 5.0,
    ) -> None:
        _check_url(url)
        if not isinstance(name, str) or not name or not isinstance(key_prefix, str) or not key_prefix:
            raise UserError(f"RedisRateLimiter(name=..., key_prefix=...) take non-empty strings, not {name!r}, {key_prefix!r}.")
        self.requests_per_minute = _number("requests_per_minute", requests_per_minute)
        self.tokens_per_minute = _number("tokens_per_minute", tokens_per_minute)
        self.timeout = _number("timeout", timeout) or 5.0
        self.name = name
        self.key = f"{key_prefix}:ratelimit:{name}"
        self.rate_limited = 0
        """How many 429s this process reported (:meth:`status` counts every process's)."""
        self._url = url
        self._password = unquote(urlsplit(url).password or "") or None
        register_secret(self._password)
        self._base_us = round(60e6 / self.requests_per_minute) if self.requests_per_minute else 0
        self._us_per_token = 60e6 / self.tokens_per_minute if self.tokens_per_minute else 0.0
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Redis, AsyncScript, AsyncScript, AsyncScript]
        ] = weakref.WeakKeyDictionary()
        self._unsent = [0, 0, 0, 0, -1]  # tokens, successes, pause (µs), 429s, their newest epoch: not in Redis yet
        self._slowed = False  # the shared interval was above the configured one at the last call
        self._report: asyncio.Task[None] | None = None
        self._booked: tuple[int, int] | None = None  # the budget's tat after and before the last slot booked
        self._releases: set[asyncio.Task[None]] = set()  # slots being given back

    def __repr__(self) -> str:
        limits = f"requests_per_minute={self.requests_per_minute}, tokens_per_minute={self.tokens_per_minute}"
        return f"RedisRateLimiter(<{_describe(self._url)}>, {limits}, name={self.name!r})"

    async def acquire(self, provider: str | None = None) -> None:
        """Reserve the next request slot of the budget (one Redis round trip) and wait for it.

        A request that had to wait asks once more when its slot comes (a second round trip): if a
        429 paused everyone or slowed the rate meanwhile, its slot is given up and it books a new one.
        """
        report = self._report
        if report is not None and not report.done() and report.get_loop() is asyncio.get_running_loop():
            await asyncio.wait([report])  # what this process reported (a 429's pause) lands first
        for _ in range(MAX_REPLANS):
            delay, _, epoch = await self._step(reserve=True)
            booked = self._booked
            _BOOKED.set((id(self), epoch))
            if delay <= 0:
                return
            if provider is not None:
                from ._http.client import WAIT_LISTENERS  # here: importing agentkit does not import httpx

                for listener in WAIT_LISTENERS:
                    listener(provider, delay)
            try:
                await asyncio.sleep(delay)
                _, paused, now = await self._step(reserve=False, check=True)
            except asyncio.CancelledError:  # the slot will not be used: give it back if it is still the last one
                self._release_soon(booked)
                raise
            if paused <= 0 and now == epoch:
                return

    def charge(self, tokens: int) -> None:
        """Count a success's ``tokens`` against tokens per minute (and let a slowed rate recover); sent in the background."""
        if self.tokens_per_minute and tokens > 0:
            self._unsent[0] += tokens
        if self._slowed:
            self._unsent[1] += 1
        self._send_soon()

    def rate_limited_for(self, seconds: float | None) -> float:
        """A 429: pause every process for ``seconds`` (1 when not said, at most 300) and halve the
        rate; sent at once in the background. Returns this request's wait (the shared pause may be
        longer: the next :meth:`acquire` waits for it)."""
        self.rate_limited += 1
        wait = min(seconds if seconds is not None and seconds > 0 else 1.0, MAX_PAUSE)
        self._unsent[2] = max(self._unsent[2], round(wait * 1e6))
        self._unsent[3] += 1
        owner, epoch = _BOOKED.get()  # the epoch this task's request was booked in (-1: not booked here)
        self._unsent[4] = max(self._unsent[4], epoch if owner == id(self) else -1)
        self._send_soon()
        return wait

    async def status(self) -> LimiterStatus:
        """The budget as Redis holds it now (one round trip)."""
        _, _, status, _ = await self._client()
        reply = cast("list[bytes]", await self._call(status(keys=[self.key])))
        left, debt, paused, interval, hits = (float(x) for x in reply)
        rate = (60e6 / interval if interval > 0 else self.requests_per_minute) if self.requests_per_minute else None
        return LimiterStatus(left / 1e6, debt / 1e6, paused / 1e6, rate, int(hits))

    async def reset(self) -> None:
        """Forget the budget's state in Redis (its slots, debt, pause and learned rate)."""
        client, _, _, _ = await self._client()
        await self._call(client.delete(self.key))

    async def aclose(self) -> None:
        """Send what is not sent yet, then close the running loop's connections (the limiter stays usable)."""
        loop = asyncio.get_running_loop()
        report = self._report
        if report is not None and not report.done() and report.get_loop() is loop:
            await asyncio.wait([report])
        releases = [task for task in self._releases if task.get_loop() is loop]
        if releases:
            await asyncio.wait(releases)
        if any(self._unsent[:4]):
            with contextlib.suppress(RateLimiterUnavailable):  # closing: nothing left to pace
                await self._step(reserve=False)
        entry = self._clients.pop(loop, None)
        if entry is not None:
            await entry[0].aclose()

    async def __aenter__(self) -> RedisRateLimiter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- internals --

    def _release_soon(self, booked: tuple[int, int] | None) -> None:
        """Give the slot ``booked`` (the budget's ``tat`` after and before it) back, in a background task."""
        if booked is None:
            return
        task = asyncio.get_running_loop().create_task(self._release(*booked))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, after: int, before: int) -> None:
        with contextlib.suppress(RateLimiterUnavailable):  # not given back: the slot goes unused, as a dead process's
            _, _, _, release = await self._client()
            await self._call(release(keys=[self.key], args=[str(after), str(before)]))

    def _send_soon(self) -> None:
        """Send what was reported in a background task, unless one is on its way (its next call takes it)."""
        if not any(self._unsent[:4]):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the next acquire sends it
        if self._report is None or self._report.done():
            self._report = loop.create_task(self._send())

    async def _send(self) -> None:
        with contextlib.suppress(RateLimiterUnavailable):  # kept unsent: the next acquire sends it again (or raises)
            await self._step(reserve=False)

    async def _step(self, *, reserve: bool, check: bool = False) -> tuple[float, float, int]:
        """One call of the script: send what is unsent, and reserve a slot when ``reserve``.

        Returns the seconds to wait for the slot, the seconds left of a 429's pause and the epoch
        (no call, and ``0, 0, -1``, when there is nothing to send, no slot to reserve and no ``check``).
        """
        if not reserve and not check and not any(self._unsent[:4]):
            return 0.0, 0.0, -1
        unsent, self._unsent = self._unsent, [0, 0, 0, 0, -1]
        args = ",".join(
            map(str, (self._base_us, self._us_per_token, *unsent, int(reserve), IDLE_MS))
        )  # one argument, one reply: less to pack and parse
        try:
            _, step, _, _ = await self._client()
            reply = await self._call(step(keys=[self.key], args=[args]))
            delay, interval, paused, epoch, tat = (int(x) for x in reply.split(b","))
        except BaseException:
            tokens, successes, pause, hits, epoch = unsent
            self._unsent = [
                self._unsent[0] + tokens,
                self._unsent[1] + successes,
                max(self._unsent[2], pause),
                self._unsent[3] + hits,
                max(self._unsent[4], epoch),
            ]
            raise
        self._slowed = interval > self._base_us > 0
        self._booked = (tat, tat - interval) if reserve and interval > 0 else None
        return delay / 1e6, paused / 1e6, epoch

    async def _client(self) -> _Client:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            _require()
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import ExponentialBackoff
            from redis.exceptions import ConnectionError, TimeoutError

            client = Redis.from_url(
                self._url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
                retry_on_error=[ConnectionError, TimeoutError],
            )
            scripts = (client.register_script(_STEP), client.register_script(_STATUS), client.register_script(_RELEASE))
            entry = self._clients[loop] = (client, *scripts)
        return entry

    async def _call(self, pending: Any) -> Any:
        """Await a Redis call; its failure becomes :class:`RateLimiterUnavailable` (no password in it)."""
        from redis.exceptions import RedisError

        try:
            return await pending  # bounded by the client's connect and socket timeouts
        except (RedisError, OSError, asyncio.TimeoutError) as e:
            reason = redact_secrets(f"{type(e).__name__}: {e}", self._password)
            raise RateLimiterUnavailable(f"The rate limiter {self.name!r} could not use {_describe(self._url)}: {reason}") from e
