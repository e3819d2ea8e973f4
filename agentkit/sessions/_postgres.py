"""PostgresSession: sessions in PostgreSQL through psycopg 3 (async) and a connection pool.

psycopg and psycopg_pool are imported when a ``PostgresSession`` is made, never by ``import agentkit``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..messages import Message
from ._base import SCHEMA_VERSION, SessionInfo, check_limit, decode, encode, missing_extra, parse_version
from ._shared import Entry, SharedClients

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresSession"]

_LOCK = 0x6167656E746B6974  # pg_advisory_xact_lock key ("agentkit"): one process migrates at a time

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE IF NOT EXISTS agentkit_meta (key text PRIMARY KEY, value text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS agentkit_sessions (session_id text PRIMARY KEY, last_seq bigint NOT NULL DEFAULT 0,"
        " created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())",
        # json, not jsonb: the text is kept as written (jsonb would reorder keys and refuse \u0000)
        "CREATE TABLE IF NOT EXISTS agentkit_messages (session_id text NOT NULL, seq bigint NOT NULL,"
        " data json NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (session_id, seq))",
    ),
}

# one statement, so one round trip and one transaction: the session's row is locked by the upsert
# (concurrent writers of the same session queue there) and hands out the sequence numbers
_ADD = """
WITH s AS (
    INSERT INTO agentkit_sessions AS s (session_id, last_seq) VALUES (%(id)s, %(n)s)
    ON CONFLICT (session_id) DO UPDATE SET last_seq = s.last_seq + excluded.last_seq, updated_at = now()
    RETURNING last_seq
)
INSERT INTO agentkit_messages (session_id, seq, data)
SELECT %(id)s, s.last_seq - %(n)s + m.n, m.data::json FROM s, unnest(%(rows)s::text[]) WITH ORDINALITY AS m (data, n)
"""
# the last `limit` messages (all for NULL), joined into one JSON array body on the server: one row to fetch
_GET = """
SELECT coalesce(string_agg(data::text, ',' ORDER BY seq), '')
FROM (SELECT seq, data FROM agentkit_messages WHERE session_id = %s ORDER BY seq DESC LIMIT %s) AS last
"""
_LOCK_SESSION = "SELECT 1 FROM agentkit_sessions WHERE session_id = %s FOR UPDATE"
_POP = """
WITH d AS (
    DELETE FROM agentkit_messages WHERE session_id = %(id)s
    AND seq = (SELECT max(seq) FROM agentkit_messages WHERE session_id = %(id)s)
    RETURNING data::text AS data
), t AS (UPDATE agentkit_sessions SET updated_at = now() WHERE session_id = %(id)s AND EXISTS (SELECT 1 FROM d))
SELECT data FROM d
"""
_CLEAR = """
WITH d AS (DELETE FROM agentkit_messages WHERE session_id = %(id)s)
UPDATE agentkit_sessions SET updated_at = now() WHERE session_id = %(id)s
"""
_DELETE = """
WITH d AS (DELETE FROM agentkit_messages WHERE session_id = %(id)s)
DELETE FROM agentkit_sessions WHERE session_id = %(id)s RETURNING 1
"""
_LIST = """
SELECT s.session_id, (SELECT count(*) FROM agentkit_messages m WHERE m.session_id = s.session_id), s.created_at, s.updated_at
FROM agentkit_sessions s ORDER BY s.updated_at DESC, s.session_id
"""


def _require() -> None:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as e:
        raise missing_extra("PostgresSession", "postgres", e) from e


def _describe(dsn: str) -> str:
    """The database a DSN names, without its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(dsn)
    except Exception:
        return "the PostgreSQL database"
    name = info.get("dbname") or info.get("user") or "(default)"
    return f"the PostgreSQL database {name} on {info.get('host') or 'localhost'}:{info.get('port') or 5432}"


async def _stored_version(connection: AsyncConnection[Any], dsn: str) -> int:
    row = await (await connection.execute("SELECT to_regclass('agentkit_meta') IS NOT NULL")).fetchone()
    if not row or not row[0]:
        return 0
    row = await (await connection.execute("SELECT value FROM agentkit_meta WHERE key = 'schema_version'")).fetchone()
    return parse_version(_describe(dsn), row[0] if row else None)


async def _prepare(connection: AsyncConnection[Any], dsn: str) -> None:
    """Create the tables, or bring them to :data:`SCHEMA_VERSION`; raise when they are newer."""
    if await _stored_version(connection, dsn) >= SCHEMA_VERSION:
        return
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        for version in range(await _stored_version(connection, dsn) + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version]:
                await connection.execute(statement)
        await connection.execute(
            "INSERT INTO agentkit_meta (key, value) VALUES ('schema_version', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )


async def _open_pool(dsn: str) -> AsyncConnectionPool:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

    # a first connection of its own: a wrong DSN fails now with the server's words, not as a pool timeout
    async with await AsyncConnection.connect(dsn, autocommit=True) as connection:
        await _prepare(connection, dsn)
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=10, kwargs={"autocommit": True}, open=False, name="agentkit-sessions")
    await pool.open()
    return pool


async def _close_pool(pool: AsyncConnectionPool) -> None:
    await pool.close()


_pools: SharedClients[AsyncConnectionPool] = SharedClients(_open_pool, _close_pool)
_prepared: weakref.WeakSet[AsyncConnectionPool] = weakref.WeakSet()  # pools given by the caller, checked once each


class PostgresSession:
    """A session stored in PostgreSQL: for applications with many processes or machines.

    Tables ``agentkit_meta``, ``agentkit_sessions`` and ``agentkit_messages`` are created on first
    use (in the DSN's schema search path). Messages are one row each, numbered by the session's row,
    which every ``add_messages`` updates in the same statement: concurrent writers queue there and
    lose nothing, and a call is all or nothing. ``get_messages`` is one query, however long the session.

    The sessions of a DSN in a process share one connection pool (per event loop, 1 to 10
    connections, autocommit), closed with the last of them (``await session.close()`` or
    ``async with``). Pass ``pool=`` (a ``psycopg_pool.AsyncConnectionPool``) to use and manage your own.

    Needs ``pip install 'agentkit-loop[postgres]'`` (psycopg 3 and psycopg_pool).

    Args:
        dsn: A libpq connection string or URL, e.g. ``postgresql://user:password@host:5432/db``.
        session_id: The conversation's name: sessions with the same id share their messages.
        pool: A pool of your own (its connections may be autocommit or not); then ``dsn`` only names
            the database in errors and ``close()`` leaves the pool open.
    """

    def __init__(self, dsn: str, session_id: str, *, pool: AsyncConnectionPool | None = None) -> None:
        _require()
        if not isinstance(session_id, str) or not session_id:
            raise UserError(f"PostgresSession needs a session_id (a non-empty str), not {session_id!r}")
        self.session_id = session_id
        self._dsn = dsn
        self._own_pool = pool
        self._entry: Entry[AsyncConnectionPool] | None = None

    async def _pool(self) -> AsyncConnectionPool:
        if self._own_pool is not None:
            if self._own_pool not in _prepared:
                async with self._own_pool.connection() as connection:
                    await _prepare(connection, self._dsn)
                _prepared.add(self._own_pool)
            return self._own_pool
        entry = self._entry
        if entry is None or entry.client is None or entry.loop is not asyncio.get_running_loop():
            entry, pool = await _pools.acquire(self._dsn)
            self._entry = entry
            return pool
        return entry.client

    async def _execute(self, query: str, params: Any) -> list[tuple[Any, ...]]:
        async with (await self._pool()).connection() as connection:
            cursor = await connection.execute(query, params)
            return await cursor.fetchall() if cursor.description else []

    async def get_messages(self, limit: int | None = None) -> list[Message]:
        """The last ``limit`` messages (all when ``None``), oldest first: one query."""
        rows = await self._execute(_GET, (self.session_id, check_limit(limit)))
        return decode([rows[0][0]]) if rows and rows[0][0] else []

    async def add_messages(self, messages: Sequence[Message]) -> None:
        """Append ``messages`` in order: one statement, all or nothing."""
        rows = encode(messages)
        if rows:
            await self._execute(_ADD, {"id": self.session_id, "n": len(rows), "rows": rows})

    async def pop_message(self) -> Message | None:
        """Remove the last message and return it (``None`` when the session is empty)."""
        async with (await self._pool()).connection() as connection, connection.transaction():
            await connection.execute(_LOCK_SESSION, (self.session_id,))  # one pop at a time per session
            row = await (await connection.execute(_POP, {"id": self.session_id})).fetchone()
        return decode([row[0]])[0] if row else None

    async def clear(self) -> None:
        """Remove every message of the session (it stays listed, with none)."""
        await self._execute(_CLEAR, {"id": self.session_id})

    async def close(self) -> None:
        """Let go of the shared pool (the last session of a DSN closes it); a pool given as ``pool=`` stays open."""
        entry, self._entry = self._entry, None
        if entry is not None:
            await _pools.release(self._dsn, entry)

    async def __aenter__(self) -> PostgresSession:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"PostgresSession(<{_describe(self._dsn)}>, {self.session_id!r})"

    @classmethod
    async def list_sessions(cls, dsn: str, *, pool: AsyncConnectionPool | None = None) -> list[SessionInfo]:
        """The sessions stored in the database, most recently written first."""
        async with cls(dsn, "-", pool=pool) as store:
            rows = await store._execute(_LIST, ())
        return [SessionInfo(name, count, created, updated) for name, count, created, updated in rows]

    @classmethod
    async def delete_session(cls, dsn: str, session_id: str, *, pool: AsyncConnectionPool | None = None) -> bool:
        """Delete a session and its messages; ``False`` when there was none of that id."""
        async with (
            cls(dsn, session_id, pool=pool) as store,
            (await store._pool()).connection() as connection,
            connection.transaction(),
        ):
            await connection.execute(_LOCK_SESSION, (session_id,))  # an add in flight finishes first
            row = await (await connection.execute(_DELETE, {"id": session_id})).fetchone()
        return row is not None
