"""RedisSession: sessions as Redis lists, through redis-py's asyncio client.

redis is imported when a ``RedisSession`` is made, never by ``import agentkit``.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, cast

from ..errors import UserError
from ..messages import Message
from ._base import SCHEMA_VERSION, SessionInfo, check_limit, encode, missing_extra, parse_list, parse_version
from ._shared import Entry, SharedClients

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisSession"]


def _require() -> None:
    try:
        import redis.asyncio  # noqa: F401
    except ImportError as e:
        raise missing_extra("RedisSession", "redis", e) from e


def _describe(url: str) -> str:
    """The server a URL names, without its password."""
    return "the Redis server " + re.sub(r"//[^@/]*@", "//", url)


def _decode(rows: list[bytes]) -> list[Message]:
    return parse_list(b"[" + b",".join(rows) + b"]")


READ_TIMEOUT = 60.0
"""Seconds a reply may take (redis-py's default, 5 s, also counts the time a busy event loop takes to
read it: 50 turns at once over 10,000-message histories failed with ``TimeoutError`` at a load of 5)."""


async def _open_client(url: str) -> Redis:
    from redis.asyncio import Redis

    return Redis.from_url(url, socket_timeout=READ_TIMEOUT, socket_connect_timeout=10.0)


async def _close_client(client: Redis) -> None:
    await client.aclose()


_clients: SharedClients[Redis] = SharedClients(_open_client, _close_client)
_checked: weakref.WeakKeyDictionary[Redis, set[str]] = weakref.WeakKeyDictionary()  # key prefixes whose version is known


class RedisSession:
    """A session stored in Redis: one list per session (``<key_prefix>:session:<session_id>``), one JSON entry per message.

    ``add_messages`` is one ``RPUSH`` (with the expiry in the same ``MULTI``), so concurrent writers
    lose nothing and a call is all or nothing; ``get_messages`` is one ``LRANGE``. The schema
    version is the key ``<key_prefix>:schema_version``, checked once per client and prefix.

    The sessions of a URL in a process share one client (per event loop), closed with the last of
    them (``await session.close()`` or ``async with``). Pass ``client=`` to use and manage your own.

    Needs ``pip install 'agentkit-loop[redis]'`` (redis-py 5 or later).

    Args:
        url: The server, e.g. ``redis://localhost:6379/0`` (``rediss://`` for TLS).
        session_id: The conversation's name: sessions with the same id share their messages.
        ttl: Seconds the session lives after its last write (each write starts the count again);
            ``None`` keeps it until deleted.
        key_prefix: The start of every key agentkit writes.
        client: A ``redis.asyncio.Redis`` of your own (``decode_responses=False``); then ``url`` only
            names the server in errors and ``close()`` leaves the client open.
    """

    def __init__(
        self,
        url: str,
        session_id: str,
        *,
        ttl: float | None = None,
        key_prefix: str = "agentkit",
        client: Redis | None = None,
    ) -> None:
        _require()
        if not isinstance(session_id, str) or not session_id:
            raise UserError(f"RedisSession needs a session_id (a non-empty str), not {session_id!r}")
        if ttl is not None and not ttl > 0:
            raise UserError(f"RedisSession(ttl=...) takes seconds (more than 0) or None, not {ttl!r}")
        self.session_id = session_id
        self.ttl = ttl
        self.key_prefix = key_prefix
        self.key = f"{key_prefix}:session:{session_id}"
        self._url = url
        self._own_client = client
        self._entry: Entry[Redis] | None = None

    async def _client(self) -> Redis:
        client = self._own_client
        if client is None:
            entry = self._entry
            if entry is None or entry.client is None or entry.loop is not asyncio.get_running_loop():
                entry, client = await _clients.acquire(self._url)
                self._entry = entry
            else:
                client = entry.client
        if self.key_prefix not in _checked.get(client, ()):
            await self._check_version(client)
        return client

    async def _check_version(self, client: Redis) -> None:
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(f"{self.key_prefix}:schema_version", SCHEMA_VERSION, nx=True)
            pipe.get(f"{self.key_prefix}:schema_version")
            _, stored = await pipe.execute()
        # older versions would be migrated here; version 1 is the first
        parse_version(f"{_describe(self._url)} (keys {self.key_prefix}:*)", stored)
        _checked.setdefault(client, set()).add(self.key_prefix)

    async def get_messages(self, limit: int | None = None) -> list[Message]:
        """The last ``limit`` messages (all when ``None``), oldest first: one ``LRANGE``."""
        if check_limit(limit) == 0:
            return []
        client = await self._client()
        rows = cast("list[bytes]", await client.lrange(self.key, -limit if limit else 0, -1))
        return _decode(rows) if rows else []

    async def add_messages(self, messages: Sequence[Message]) -> None:
        """Append ``messages`` in order: one ``RPUSH`` (and the expiry, in the same ``MULTI``)."""
        rows = encode(messages)
        if not rows:
            return
        client = await self._client()
        if self.ttl is None:
            await client.rpush(self.key, *rows)
            return
        async with client.pipeline(transaction=True) as pipe:
            pipe.rpush(self.key, *rows)
            pipe.pexpire(self.key, max(1, round(self.ttl * 1000)))
            await pipe.execute()

    async def pop_message(self) -> Message | None:
        """Remove the last message and return it (``None`` when the session is empty)."""
        row = cast("bytes | None", await (await self._client()).rpop(self.key))
        return _decode([row])[0] if row is not None else None

    async def clear(self) -> None:
        """Remove every message (and so the session's key)."""
        await (await self._client()).delete(self.key)

    async def close(self) -> None:
        """Let go of the shared client (the last session of a URL closes it); a client given as ``client=`` stays open."""
        entry, self._entry = self._entry, None
        if entry is not None:
            await _clients.release(self._url, entry)

    async def __aenter__(self) -> RedisSession:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"RedisSession(<{_describe(self._url)}>, {self.session_id!r})"

    @classmethod
    async def list_sessions(cls, url: str, *, key_prefix: str = "agentkit", client: Redis | None = None) -> list[SessionInfo]:
        """The sessions stored under ``key_prefix`` (found with ``SCAN``), by id; Redis keeps no times for them."""
        async with cls(url, "-", key_prefix=key_prefix, client=client) as store:
            redis = await store._client()
            start = f"{key_prefix}:session:"
            pattern = re.sub(r"([*?\[\]\\])", r"\\\1", start) + "*"
            keys = sorted({key async for key in redis.scan_iter(match=pattern, count=1000)})
            async with redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.llen(key)
                counts = await pipe.execute()
        return [SessionInfo(key.decode()[len(start) :], count) for key, count in zip(keys, counts, strict=True) if count]

    @classmethod
    async def delete_session(
        cls, url: str, session_id: str, *, key_prefix: str = "agentkit", client: Redis | None = None
    ) -> bool:
        """Delete a session; ``False`` when there was none of that id."""
        async with cls(url, session_id, key_prefix=key_prefix, client=client) as store:
            deleted: int = await (await store._client()).delete(store.key)
        return deleted > 0
