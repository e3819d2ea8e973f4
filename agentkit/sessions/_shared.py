"""Clients shared by the sessions of one server address within one event loop (a psycopg pool, a Redis client).

A client belongs to the event loop it was opened in (its connections do), so there is one per loop
and address. Each session that uses it counts once; the last session to close closes it. A session
that is never closed keeps it open until its loop goes away.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

R = TypeVar("R")


class Entry(Generic[R]):
    """One shared client and how many sessions use it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.client: R | None = None
        self.users = 0
        self.ready = asyncio.Lock()


class SharedClients(Generic[R]):
    """The clients of one kind, by event loop and address (e.g. a DSN)."""

    def __init__(self, open_client: Callable[[str], Awaitable[R]], close_client: Callable[[R], Awaitable[None]]) -> None:
        self._open = open_client
        self._close = close_client
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Entry[R]]] = weakref.WeakKeyDictionary()

    async def acquire(self, address: str) -> tuple[Entry[R], R]:
        """The client for ``address`` in the running loop (opened on first use), counted as used once more."""
        loop = asyncio.get_running_loop()
        entries = self._by_loop.setdefault(loop, {})
        entry = entries.get(address)
        if entry is None:
            entry = entries[address] = Entry(loop)
        entry.users += 1
        try:
            async with entry.ready:
                if entry.client is None:
                    entry.client = await self._open(address)
                return entry, entry.client
        except BaseException:
            await self.release(address, entry)
            raise

    async def release(self, address: str, entry: Entry[R]) -> None:
        """Count one user less; the last one closes the client (in its own loop: from another, it is left to that loop)."""
        entry.users -= 1
        if entry.users > 0 or asyncio.get_running_loop() is not entry.loop:
            return
        entries = self._by_loop.get(entry.loop, {})
        if entries.get(address) is entry:
            del entries[address]
        if entry.client is not None:
            client, entry.client = entry.client, None
            await self._close(client)
