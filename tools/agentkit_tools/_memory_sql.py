"""The SQLite side of :class:`~agentkit_tools.memory.SQLiteMemory`: the schema and the jobs run on its thread.

Every function taking a connection runs on the store's own thread (never on the event loop).
Writes are ``BEGIN IMMEDIATE`` transactions: they take the file's write lock first, waiting up to
the busy timeout for another process, so concurrent writers queue up instead of failing halfway.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from agentkit import ModelRetry, UserError
from agentkit.sessions._sqlite_worker import immediate

SCHEMA_VERSION = 1
"""The version of the memory tables (``agentkit_memory_*``), stored in ``agentkit_memory_meta``."""

# version -> the statements that bring the memory tables from the version before it to this one
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE IF NOT EXISTS agentkit_memory_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        # AUTOINCREMENT: ids are never reused, so "every id above the last one read" finds what is new
        "CREATE TABLE IF NOT EXISTS agentkit_memory_facts ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, user_key TEXT NOT NULL, fact TEXT NOT NULL,"
        " normalized TEXT NOT NULL, created_at REAL NOT NULL, UNIQUE (user_key, normalized))",
        "CREATE INDEX IF NOT EXISTS agentkit_memory_facts_by_user ON agentkit_memory_facts (user_key, id)",
        # the full-text index reads the facts table (external content); triggers keep it in step
        "CREATE VIRTUAL TABLE IF NOT EXISTS agentkit_memory_fts USING fts5(fact, content='agentkit_memory_facts',"
        " content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
        "CREATE TRIGGER IF NOT EXISTS agentkit_memory_facts_insert AFTER INSERT ON agentkit_memory_facts BEGIN"
        " INSERT INTO agentkit_memory_fts (rowid, fact) VALUES (new.id, new.fact); END",
        "CREATE TRIGGER IF NOT EXISTS agentkit_memory_facts_delete AFTER DELETE ON agentkit_memory_facts BEGIN"
        " INSERT INTO agentkit_memory_fts (agentkit_memory_fts, rowid, fact) VALUES ('delete', old.id, old.fact);"
        " DELETE FROM agentkit_memory_vectors WHERE fact_id = old.id; END",
        # one vector per fact and embedding model (the model's description: another model's vectors do not mix)
        "CREATE TABLE IF NOT EXISTS agentkit_memory_vectors ("
        " fact_id INTEGER NOT NULL, model TEXT NOT NULL, dtype TEXT NOT NULL, vector BLOB NOT NULL,"
        " PRIMARY KEY (fact_id, model)) WITHOUT ROWID",
    ),
}

MAX_QUERY_TERMS = 32
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Fact:
    """One remembered fact.

    Attributes:
        id: its number, unique in the store (what ``forget`` takes).
        text: the fact, as remembered.
        created_at: when it was first remembered (UTC).
        score: how well it matched the query: bm25 (higher is better) for a full-text search, the
            similarity for an embedding search, ``None`` when listed by age.
    """

    id: int
    text: str
    created_at: datetime
    score: float | None = None

    def __str__(self) -> str:
        return f"#{self.id} {self.text} (remembered {self.created_at:%Y-%m-%d})"


def normalize(text: str) -> str:
    """What two facts must share to be the same: case, runs of whitespace and a final period do not count."""
    return " ".join(text.split()).casefold().rstrip(".").rstrip()


def match_query(query: str) -> str | None:
    """An FTS5 query for ``query``'s words, any of them (bm25 ranks facts with more and rarer ones first).

    Only words are kept, each quoted as a string, so no text from the model is read as FTS5
    syntax (``AND``, ``NEAR``, ``*``, ``"``, ``col:``); ``None`` when there is no word at all.
    """
    terms = list(dict.fromkeys(_WORD.findall(query.casefold())))[:MAX_QUERY_TERMS]
    return " OR ".join(f'"{term}"' for term in terms) or None


# --- the connection (write transactions: agentkit.sessions' immediate(), the same file's rules) ---


def connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    """Open ``path`` in WAL mode and bring the memory tables to :data:`SCHEMA_VERSION`."""
    if path != ":memory:":
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    connection = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as e:
            if "not a database" not in str(e):
                raise
            raise UserError(f"{path} is not a SQLite database ({e}): give memory() a new file or an agentkit one.") from None
        connection.execute("PRAGMA synchronous = NORMAL")  # a commit survives the process crashing
        _migrate(connection, path)
    except BaseException:
        connection.close()
        raise
    return connection


def _stored_version(connection: sqlite3.Connection, path: str) -> int:
    found = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'agentkit_memory_meta'")
    if found.fetchone() is None:
        return 0
    row = connection.execute("SELECT value FROM agentkit_memory_meta WHERE key = 'schema_version'").fetchone()
    try:
        return int(row[0]) if row else 0
    except ValueError:
        raise UserError(f"The memory tables of {path} have an unreadable schema version {row[0]!r}.") from None


def _migrate(connection: sqlite3.Connection, path: str) -> None:
    if _stored_version(connection, path) == SCHEMA_VERSION:
        return
    with immediate(connection):  # read again under the lock: another process may have just done it
        stored = _stored_version(connection, path)
        if stored > SCHEMA_VERSION:
            raise UserError(
                f"The memory tables of {path} are of schema version {stored}, written by a newer agentkit; "
                f"this one reads version {SCHEMA_VERSION}. Upgrade agentkit."
            )
        try:
            for version in range(stored + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version]:
                    connection.execute(statement)
        except sqlite3.OperationalError as e:
            if "fts5" in str(e):
                raise UserError(f"This Python's SQLite ({sqlite3.sqlite_version}) has no FTS5, which memory() needs.") from None
            raise
        connection.execute(
            "INSERT INTO agentkit_memory_meta (key, value) VALUES ('schema_version', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )


# --- the jobs ---------------------------------------------------------------------------------

_COLUMNS = "f.id, f.fact, f.created_at"


def _fact(row: Sequence[object], score: float | None = None) -> Fact:
    when = datetime.fromtimestamp(float(row[2]), timezone.utc)  # type: ignore[arg-type]
    return Fact(int(row[0]), str(row[1]), when, score)  # type: ignore[call-overload]


def find(connection: sqlite3.Connection, user: str, normalized: str) -> Fact | None:
    """The user's fact that is the same as ``normalized``, if there is one."""
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM agentkit_memory_facts f WHERE f.user_key = ? AND f.normalized = ?", (user, normalized)
    ).fetchone()
    return None if row is None else _fact(row)


def add(
    connection: sqlite3.Connection,
    user: str,
    text: str,
    max_facts: int,
    vector: tuple[str, str, bytes] | None,
) -> tuple[Fact, bool]:
    """Store ``text`` for ``user`` (with its ``(model, dtype, bytes)`` vector) unless it is there: ``(the fact, whether new)``.

    Raises:
        ModelRetry: the user has ``max_facts`` facts already.
    """
    normalized = normalize(text)
    with immediate(connection):  # the check and the insert under one lock: two processes cannot both add it
        existing = find(connection, user, normalized)
        if existing is not None:
            return existing, False
        (count,) = connection.execute("SELECT COUNT(*) FROM agentkit_memory_facts WHERE user_key = ?", (user,)).fetchone()
        if count >= max_facts:
            raise ModelRetry(
                f"Memory is full: {count:,} facts are stored for this user, the most allowed. "
                "Forget facts that are no longer true or useful (recall shows their numbers), then remember this one."
            )
        now = time.time()
        cursor = connection.execute(
            "INSERT INTO agentkit_memory_facts (user_key, fact, normalized, created_at) VALUES (?, ?, ?, ?)",
            (user, text, normalized, now),
        )
        fact_id = int(cursor.lastrowid or 0)
        if vector is not None:
            connection.execute(
                "INSERT OR REPLACE INTO agentkit_memory_vectors (fact_id, model, dtype, vector) VALUES (?, ?, ?, ?)",
                (fact_id, *vector),
            )
    return Fact(fact_id, text, datetime.fromtimestamp(now, timezone.utc)), True


def search_text(connection: sqlite3.Connection, user: str, match: str, limit: int) -> list[Fact]:
    """The user's facts matching the FTS5 query ``match``, best bm25 first (ties: the newest first)."""
    rows = connection.execute(
        f"SELECT {_COLUMNS}, bm25(agentkit_memory_fts) AS rank FROM agentkit_memory_fts"
        " JOIN agentkit_memory_facts f ON f.id = agentkit_memory_fts.rowid"
        " WHERE agentkit_memory_fts MATCH ? AND f.user_key = ? ORDER BY rank, f.id DESC LIMIT ?",
        (match, user, limit),
    ).fetchall()
    return [_fact(row, round(-float(row[3]), 4)) for row in rows]


def recent(connection: sqlite3.Connection, user: str, limit: int) -> list[Fact]:
    """The user's ``limit`` newest facts, newest first."""
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM agentkit_memory_facts f WHERE f.user_key = ? ORDER BY f.id DESC LIMIT ?", (user, limit)
    ).fetchall()
    return [_fact(row) for row in rows]


def by_ids(connection: sqlite3.Connection, user: str, ids: Sequence[int]) -> dict[int, Fact]:
    """The facts of ``user`` among ``ids`` that still exist."""
    found: dict[int, Fact] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ", ".join("?" * len(chunk))
        rows = connection.execute(
            f"SELECT {_COLUMNS} FROM agentkit_memory_facts f WHERE f.user_key = ? AND f.id IN ({marks})", (user, *chunk)
        )
        found.update((int(row[0]), _fact(row)) for row in rows)
    return found


def delete(connection: sqlite3.Connection, user: str, fact_id: int) -> Fact | None:
    """Delete the user's fact ``fact_id`` (its index entry and vectors go with it); ``None`` when there is none."""
    with immediate(connection):
        row = connection.execute(
            f"SELECT {_COLUMNS} FROM agentkit_memory_facts f WHERE f.id = ? AND f.user_key = ?", (fact_id, user)
        ).fetchone()
        if row is None:
            return None
        connection.execute("DELETE FROM agentkit_memory_facts WHERE id = ?", (fact_id,))
    return _fact(row)


def clear(connection: sqlite3.Connection, user: str) -> int:
    """Delete every fact of ``user``; returns how many there were."""
    with immediate(connection):
        return connection.execute("DELETE FROM agentkit_memory_facts WHERE user_key = ?", (user,)).rowcount


def count(connection: sqlite3.Connection, user: str) -> int:
    """How many facts ``user`` has."""
    (n,) = connection.execute("SELECT COUNT(*) FROM agentkit_memory_facts WHERE user_key = ?", (user,)).fetchone()
    return int(n)


def pending(
    connection: sqlite3.Connection, user: str, model: str, after: int, batch: int
) -> list[tuple[int, str, str | None, bytes | None]]:
    """The user's facts numbered above ``after``, in order: ``(id, text, dtype, vector)``, the vector ``None`` when missing."""
    rows = connection.execute(
        "SELECT f.id, f.fact, v.dtype, v.vector FROM agentkit_memory_facts f"
        " LEFT JOIN agentkit_memory_vectors v ON v.fact_id = f.id AND v.model = ?"
        " WHERE f.user_key = ? AND f.id > ? ORDER BY f.id LIMIT ?",
        (model, user, after, batch),
    ).fetchall()
    return [(int(i), str(text), dtype, vector) for i, text, dtype, vector in rows]


def store_vectors(connection: sqlite3.Connection, model: str, rows: Sequence[tuple[int, str, bytes]]) -> None:
    """Store ``(fact id, dtype, vector)`` rows for ``model`` (facts deleted meanwhile are skipped)."""
    with immediate(connection):
        connection.executemany(
            "INSERT OR REPLACE INTO agentkit_memory_vectors (fact_id, model, dtype, vector)"
            " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM agentkit_memory_facts WHERE id = ?)",
            [(fact_id, model, dtype, vector, fact_id) for fact_id, dtype, vector in rows],
        )
