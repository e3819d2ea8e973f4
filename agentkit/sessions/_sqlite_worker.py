"""The SQLite side of SQLiteSession: one connection per file and process, used by one daemon thread.

Every session of a file in a process shares that thread, so their writes queue up in order instead
of fighting for SQLite's write lock; between processes the lock (``BEGIN IMMEDIATE`` plus the busy
timeout) orders them. The event loop only hands a job over and awaits its future.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import UserError
from ._base import SCHEMA_VERSION, parse_version

if TYPE_CHECKING:
    import sqlite3

T = TypeVar("T")

_STOP: Any = object()

# version -> the statements that bring a store from the version before it to this one
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE IF NOT EXISTS agentkit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS agentkit_sessions ("
        " session_id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS agentkit_messages ("
        " id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,"
        " UNIQUE (session_id, seq))",
    ),
}


@contextlib.contextmanager
def immediate(connection: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the file's write lock first (or fails as busy, changing nothing)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _stored_version(connection: sqlite3.Connection, path: str) -> int:
    if connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'agentkit_meta'").fetchone() is None:
        return 0
    row = connection.execute("SELECT value FROM agentkit_meta WHERE key = 'schema_version'").fetchone()
    return parse_version(f"the SQLite file {path}", row[0] if row else None)


def connect(path: str) -> sqlite3.Connection:
    """Open ``path`` in WAL mode and bring its tables to :data:`SCHEMA_VERSION` (raises when they are newer)."""
    import sqlite3

    if path != ":memory:":
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    # SQLite's own busy handler sleeps longer and longer (up to 100 ms) between tries, so a writer in a
    # busy loop elsewhere starves it: busy() waits instead, trying again every millisecond or so
    connection = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    try:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as e:
            if "not a database" not in str(e):
                raise
            raise UserError(f"{path} is not a SQLite database ({e}): give SQLiteSession a new file or an agentkit one")
        # WAL + NORMAL: a commit survives the process crashing (not the machine losing power) without an fsync each
        connection.execute("PRAGMA synchronous = NORMAL")
        if _stored_version(connection, path) < SCHEMA_VERSION:
            with immediate(connection):
                for version in range(_stored_version(connection, path) + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS[version]:
                        connection.execute(statement)
                connection.execute(
                    "INSERT INTO agentkit_meta (key, value) VALUES ('schema_version', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(SCHEMA_VERSION),),
                )
    except BaseException:
        connection.close()
        raise
    return connection


def _is_busy(error: BaseException) -> bool:
    import sqlite3

    if not isinstance(error, sqlite3.OperationalError):
        return False
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
    return code in (5, 6) if code is not None else "locked" in str(error) or "busy" in str(error)  # SQLITE_BUSY, _LOCKED


def busy(function: Callable[[], T], timeout: float) -> T:
    """``function()``, tried again every millisecond or so while another connection holds the lock, up to ``timeout`` seconds.

    A job fails with "database is locked" before it changes anything (``BEGIN IMMEDIATE`` is its first
    write), and a failed transaction is rolled back: trying again is safe.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return function()
        except BaseException as e:
            if not _is_busy(e) or time.monotonic() > deadline:
                raise
        time.sleep(random.uniform(0.0005, 0.0015))


def _deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    def settle() -> None:
        if future.done():  # the awaiting task was cancelled
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)


class Worker:
    """One file's connection and the thread that runs jobs on it, in order."""

    def __init__(self, path: str, busy_timeout: float, opener: Callable[[str], sqlite3.Connection] | None = None) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.opener = opener or connect
        """What opens the file (default: :func:`connect`, the sessions' tables; the run log brings its own)."""
        self.users = 0
        self._jobs: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Any, tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self.thread = threading.Thread(target=self._work, name="agentkit-sqlite", daemon=True)
        self.thread.start()

    def call(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``function(connection, *args)`` on the thread; the future holds its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, function, args))
        return future

    def stop(self) -> asyncio.Future[None]:
        """Close the connection and end the thread once the jobs before this one are done."""
        return self.call(_STOP)

    def _work(self) -> None:
        connection: sqlite3.Connection | None = None
        while True:
            loop, future, function, args = self._jobs.get()
            if function is _STOP:
                if connection is not None:
                    connection.close()
                _deliver(loop, future, None, None)
                return
            try:
                if connection is None:
                    connection = busy(functools.partial(self.opener, self.path), self.busy_timeout)
                result = busy(functools.partial(function, connection, *args), self.busy_timeout)
            except BaseException as e:  # handed to the awaiting task
                _deliver(loop, future, None, e)
            else:
                _deliver(loop, future, result, None)
            del loop, future, function, args


_workers: dict[tuple[int, str], Worker] = {}
_lock = threading.Lock()


def acquire(path: str, busy_timeout: float) -> Worker:
    """The worker of ``path`` in this process (started on first use), counted as used once more."""
    with _lock:
        worker = _workers.get((os.getpid(), path))
        if worker is None:
            worker = _workers[(os.getpid(), path)] = Worker(path, busy_timeout)
        worker.users += 1
        return worker


async def release(worker: Worker) -> None:
    """Count one user less; the last one closes the connection and ends the thread."""
    with _lock:
        worker.users -= 1
        if worker.users > 0:
            return
        if _workers.get((os.getpid(), worker.path)) is worker:
            del _workers[(os.getpid(), worker.path)]
    await worker.stop()
