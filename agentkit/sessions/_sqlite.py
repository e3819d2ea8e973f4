"""SQLiteSession: sessions in one SQLite file (stdlib ``sqlite3``), safe across threads and processes."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import UserError
from ..messages import Message
from ._base import SessionInfo, check_limit, decode, encode
from ._sqlite_worker import Worker, acquire, immediate, release

if TYPE_CHECKING:
    import sqlite3

__all__ = ["SQLiteSession", "default_sessions_path"]

T = TypeVar("T")


def default_sessions_path() -> Path:
    """Where sessions are stored when no path is given: ``sessions.db`` in agentkit's folder of the user's data directory.

    ``$XDG_DATA_HOME/agentkit/sessions.db`` when ``XDG_DATA_HOME`` is set (to an absolute path), otherwise
    ``~/.local/share/agentkit/sessions.db`` on Linux, ``~/Library/Application Support/agentkit/sessions.db``
    on macOS, ``%LOCALAPPDATA%\\agentkit\\sessions.db`` on Windows. Nothing is created until a session writes.
    """
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path.home() / ".local" / "share"
    return base / "agentkit" / "sessions.db"


def _resolve(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    return text if text == ":memory:" else os.path.abspath(os.path.expanduser(text))


def _datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


# --- the jobs, run on the file's thread ------------------------------------------------------


def _get(connection: sqlite3.Connection, session_id: str, limit: int | None) -> list[Message]:
    if limit is None:
        rows = connection.execute("SELECT data FROM agentkit_messages WHERE session_id = ? ORDER BY seq", (session_id,))
        return decode(row[0] for row in rows)
    last = connection.execute(
        "SELECT data FROM agentkit_messages WHERE session_id = ? ORDER BY seq DESC LIMIT ?", (session_id, limit)
    ).fetchall()
    return decode(row[0] for row in reversed(last))


def _touch(connection: sqlite3.Connection, session_id: str) -> None:
    now = time.time()
    connection.execute(
        "INSERT INTO agentkit_sessions (session_id, created_at, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (session_id) DO UPDATE SET updated_at = excluded.updated_at",
        (session_id, now, now),
    )


def _add(connection: sqlite3.Connection, session_id: str, rows: list[str]) -> None:
    with immediate(connection):  # the sequence numbers are read and used under the write lock
        (last,) = connection.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM agentkit_messages WHERE session_id = ?", (session_id,)
        ).fetchone()
        connection.executemany(
            "INSERT INTO agentkit_messages (session_id, seq, data) VALUES (?, ?, ?)",
            [(session_id, last + i, row) for i, row in enumerate(rows, 1)],
        )
        _touch(connection, session_id)


def _pop(connection: sqlite3.Connection, session_id: str) -> Message | None:
    with immediate(connection):
        row = connection.execute(
            "SELECT id, data FROM agentkit_messages WHERE session_id = ? ORDER BY seq DESC LIMIT 1", (session_id,)
        ).fetchone()
        if row is None:
            return None
        connection.execute("DELETE FROM agentkit_messages WHERE id = ?", (row[0],))
        _touch(connection, session_id)
    return decode([row[1]])[0]


def _clear(connection: sqlite3.Connection, session_id: str) -> None:
    with immediate(connection):
        connection.execute("DELETE FROM agentkit_messages WHERE session_id = ?", (session_id,))
        _touch(connection, session_id)


def _delete(connection: sqlite3.Connection, session_id: str) -> bool:
    with immediate(connection):
        connection.execute("DELETE FROM agentkit_messages WHERE session_id = ?", (session_id,))
        return connection.execute("DELETE FROM agentkit_sessions WHERE session_id = ?", (session_id,)).rowcount > 0


def _list(connection: sqlite3.Connection) -> list[SessionInfo]:
    rows = connection.execute(
        "SELECT s.session_id, (SELECT COUNT(*) FROM agentkit_messages m WHERE m.session_id = s.session_id),"
        " s.created_at, s.updated_at FROM agentkit_sessions s ORDER BY s.updated_at DESC, s.session_id"
    ).fetchall()
    return [SessionInfo(name, count, _datetime(created), _datetime(updated)) for name, count, created, updated in rows]


# --- the session -----------------------------------------------------------------------------


class SQLiteSession:
    """A session stored in a SQLite file: no server, safe for many tasks, threads and processes at once.

    The file (and its folder) is created on first use, in WAL mode; messages are one row each,
    numbered in order. Every call runs on a thread of its own (one per file and process, shared by
    the file's sessions), never on the event loop. Writes are transactions that take the file's
    write lock (``BEGIN IMMEDIATE``), waiting up to ``busy_timeout`` seconds for another process to
    finish: concurrent writers lose nothing, and ``add_messages`` is all or nothing. A commit
    survives the process crashing (``synchronous=NORMAL``), not necessarily the machine losing power.

    Close with ``await session.close()`` or ``async with``: the file's thread ends with its last
    session. A closed session opens again on its next call. A call whose task is cancelled while
    its job runs still finishes on the thread (all or nothing, as ever).

    Args:
        path: The SQLite file (created when missing), e.g. :func:`default_sessions_path`; ``":memory:"``
            keeps the sessions in memory, shared by this process's sessions until the last one closes.
        session_id: The conversation's name: sessions with the same id share their messages.
        busy_timeout: Seconds a write waits for another process holding the file's write lock.
    """

    def __init__(self, path: str | os.PathLike[str], session_id: str, *, busy_timeout: float = 30.0) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise UserError(f"SQLiteSession needs a session_id (a non-empty str), not {session_id!r}")
        self.path = _resolve(path)
        self.session_id = session_id
        self.busy_timeout = busy_timeout
        self._worker: Worker | None = None

    async def _call(self, function: Any, *args: Any) -> Any:
        if self._worker is None:
            self._worker = acquire(self.path, self.busy_timeout)
        return await self._worker.call(function, self.session_id, *args)

    async def get_messages(self, limit: int | None = None) -> list[Message]:
        """The last ``limit`` messages (all when ``None``), oldest first: one query."""
        messages: list[Message] = await self._call(_get, check_limit(limit))
        return messages

    async def add_messages(self, messages: Sequence[Message]) -> None:
        """Append ``messages`` in order, in one transaction."""
        rows = encode(messages)
        if rows:
            await self._call(_add, rows)

    async def pop_message(self) -> Message | None:
        """Remove the last message and return it (``None`` when the session is empty)."""
        message: Message | None = await self._call(_pop)
        return message

    async def clear(self) -> None:
        """Remove every message of the session (it stays listed, with none)."""
        await self._call(_clear)

    async def close(self) -> None:
        """Let go of the file: the last session of a file closes its connection and ends its thread."""
        worker, self._worker = self._worker, None
        if worker is not None:
            await release(worker)

    async def __aenter__(self) -> SQLiteSession:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"SQLiteSession({self.path!r}, {self.session_id!r})"

    @classmethod
    async def list_sessions(cls, path: str | os.PathLike[str]) -> list[SessionInfo]:
        """The sessions stored in ``path``, most recently written first (none when the file does not exist)."""
        if _resolve(path) != ":memory:" and not os.path.exists(_resolve(path)):  # noqa: ASYNC240 (one stat)
            return []
        sessions: list[SessionInfo] = await _on_file(path, _list)
        return sessions

    @classmethod
    async def delete_session(cls, path: str | os.PathLike[str], session_id: str) -> bool:
        """Delete a session and its messages from ``path``; ``False`` when there was none of that id."""
        if _resolve(path) != ":memory:" and not os.path.exists(_resolve(path)):  # noqa: ASYNC240 (one stat)
            return False
        deleted: bool = await _on_file(path, _delete, session_id)
        return deleted


async def _on_file(path: str | os.PathLike[str], function: Any, *args: Any) -> Any:
    worker = acquire(_resolve(path), 30.0)
    try:
        return await worker.call(function, *args)
    finally:
        await release(worker)
