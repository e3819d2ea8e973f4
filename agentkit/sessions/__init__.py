"""Sessions: conversations stored between runs, in memory, SQLite, PostgreSQL or Redis.

A session holds one conversation's messages, oldest first. Every store has the same four async
methods (the :class:`Session` protocol): ``get_messages(limit=None)``, ``add_messages(messages)``,
``pop_message()`` and ``clear()``.

    from agentkit.sessions import SQLiteSession, default_sessions_path

    async with SQLiteSession(default_sessions_path(), "user-42") as session:
        result = await agent.run("Hello again", session=session)  # stored messages are the history
        recent = await session.get_messages(limit=10)               # the last ten, oldest first

Stores:

* :class:`InMemorySession` — a list in the process (tests, scripts).
* :class:`SQLiteSession` — one SQLite file, no server: the default. WAL mode, writes in
  ``BEGIN IMMEDIATE`` transactions, all I/O on a thread of its own; safe for many processes.
* :class:`PostgresSession` — PostgreSQL through psycopg 3 and a shared connection pool
  (``pip install 'agentkit-loop[postgres]'``).
* :class:`RedisSession` — one Redis list per session, with an optional expiry
  (``pip install 'agentkit-loop[redis]'``).

Each message is stored as its JSON (``agentkit.messages``), one row or list entry per message with
its sequence number, so a 10,000-message session loads in one query and ``limit`` only reads what
it returns. The stored schema version (:data:`SCHEMA_VERSION`) is checked when a store is first
used: a store from an older agentkit is brought up to date, one from a newer agentkit raises
:class:`SessionVersionError`. ``list_sessions()`` and ``delete_session()`` (class methods of the
SQLite, Postgres and Redis stores) list and remove stored sessions.

``import agentkit`` imports none of this; ``agentkit.sessions`` imports sqlite3, psycopg or redis
only when a store that needs it is used.
"""

from __future__ import annotations

from ._base import SCHEMA_VERSION, Session, SessionInfo, SessionVersionError
from ._memory import InMemorySession
from ._postgres import PostgresSession
from ._redis import RedisSession
from ._sqlite import SQLiteSession, default_sessions_path

__all__ = [
    "Session",
    "InMemorySession",
    "SQLiteSession",
    "PostgresSession",
    "RedisSession",
    "SessionInfo",
    "SessionVersionError",
    "SCHEMA_VERSION",
    "default_sessions_path",
]
