"""The run log's SQLite file: its tables, the writes (on the sessions' worker thread, off the event
loop) and the reads (plain ``sqlite3``, for the CLI and ``RunResult.to_html()``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._secrets import redact_secrets
from .content import part_label
from .errors import UserError
from .messages import Message, dump_messages
from .sessions._sqlite_worker import Worker, busy, immediate

if TYPE_CHECKING:
    import sqlite3

__all__ = [
    "MAX_TEXT",
    "SCHEMA_VERSION",
    "LoggedRun",
    "Step",
    "clip",
    "default_log_path",
    "list_runs",
    "load_run",
    "stored_messages",
    "worker",
]

SCHEMA_VERSION = 3
"""1: runs and steps; 2: ``steps.agent`` (the agent that made the step: a handoff changes it) and
the ``retry`` and ``wait`` steps; 3: ``runs.pid`` and ``runs.host`` (the process that ran it: a run
left ``running`` by a process that is gone shows as stopped). A file of an older version is brought
up to date when written to."""
BUSY_TIMEOUT = 10.0
MAX_TEXT = 100_000
"""The most characters of one text the log keeps (a prompt, a message, a tool's arguments or
result, the output): the rest is cut, with a note saying how much (a 10 MB tool result would
otherwise be in the file twice, and on the page)."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS runlog_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS runs ("
    " id TEXT PRIMARY KEY, parent_id TEXT, parent_call_id TEXT, started REAL NOT NULL, ended REAL,"
    " agent TEXT, model TEXT, prompt TEXT, status TEXT NOT NULL, output TEXT, error_type TEXT, error_message TEXT,"
    " turns INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,"
    " cost REAL, messages TEXT, pid INTEGER, host TEXT)",
    "CREATE INDEX IF NOT EXISTS runs_started ON runs (started)",
    "CREATE INDEX IF NOT EXISTS runs_parent ON runs (parent_id)",
    "CREATE TABLE IF NOT EXISTS steps ("
    " id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, kind TEXT NOT NULL, call_id TEXT, name TEXT,"
    " started REAL NOT NULL, ended REAL, input_tokens INTEGER, output_tokens INTEGER, cost REAL, finish_reason TEXT,"
    " data TEXT, result TEXT, is_error INTEGER NOT NULL DEFAULT 0, error TEXT, agent TEXT)",
    "CREATE INDEX IF NOT EXISTS steps_run ON steps (run_id, id)",
)
_MIGRATIONS = {
    1: ("ALTER TABLE steps ADD COLUMN agent TEXT",),
    2: ("ALTER TABLE runs ADD COLUMN pid INTEGER", "ALTER TABLE runs ADD COLUMN host TEXT"),
}
"""What brings a file of schema ``key`` to the next version."""


def prompt_text(content: Any) -> str:
    """A user message's content as one text: images, files and audio as labels (``[image: cat.png]``)."""
    return content if isinstance(content, str) else " ".join(part_label(part) for part in content)


def clip(text: str) -> str:
    """``text`` with registered keys redacted and cut to :data:`MAX_TEXT` characters (a note says how many more there were)."""
    text = redact_secrets(text)
    if len(text) <= MAX_TEXT:
        return text
    return f"{text[:MAX_TEXT]}\n[... {len(text) - MAX_TEXT:,} more characters not recorded]"


def clip_message(message: Message) -> Message:
    """``message`` with its text content clipped (:func:`clip`). Tool calls' arguments are kept
    whole (what the model wrote, bounded by its output limit): a replay needs them as JSON."""
    if isinstance(message.content, str) and len(message.content) > MAX_TEXT:
        return message.model_copy(update={"content": clip(message.content)})
    return message


def stored_messages(messages: Sequence[Message]) -> str:
    """``messages`` as the log stores them: JSON, every key redacted, long texts clipped."""
    return redact_secrets(dump_messages([clip_message(m) for m in messages]))


def default_log_path() -> Path:
    """``Agent(log=True)``'s file: ``runs.db`` beside the sessions (``$XDG_DATA_HOME/agentkit`` or
    ``~/.local/share/agentkit`` on Linux)."""
    from .sessions import default_sessions_path

    return default_sessions_path().with_name("runs.db")


def _connect(path: str) -> sqlite3.Connection:
    """Open ``path`` in WAL mode with the run log's tables (raises when they are newer than this agentkit)."""
    import sqlite3

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    connection = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    try:
        # timeout=0 (writes wait in busy()): so must opening, or a process that opens the file while
        # another creates or migrates it gets "database is locked" and its runs go unrecorded
        busy(lambda: connection.execute("PRAGMA journal_mode = WAL"), BUSY_TIMEOUT)
        connection.execute("PRAGMA synchronous = NORMAL")
        version = busy(lambda: _version(connection), BUSY_TIMEOUT)
        if version > SCHEMA_VERSION:
            raise UserError(f"The run log {path} was written by a newer agentkit (schema {version}): upgrade agentkit.")
        if version < SCHEMA_VERSION:
            busy(lambda: _migrate(connection), BUSY_TIMEOUT)
    except sqlite3.DatabaseError as e:
        connection.close()
        raise UserError(f"{path} is not an agentkit run log ({e}): choose another file.") from e
    except BaseException:
        connection.close()
        raise
    return connection


def _migrate(connection: sqlite3.Connection) -> None:
    """Create or upgrade the tables to :data:`SCHEMA_VERSION`, under the file's write lock."""
    with immediate(connection):
        version = _version(connection)  # again, under the lock: another process may have done it
        for statement in (s for old in range(version or SCHEMA_VERSION, SCHEMA_VERSION) for s in _MIGRATIONS[old]):
            connection.execute(statement)
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.execute(
            "INSERT INTO runlog_meta (key, value) VALUES ('schema_version', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )


def _version(connection: sqlite3.Connection) -> int:
    if connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runlog_meta'").fetchone() is None:
        return 0
    row = connection.execute("SELECT value FROM runlog_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


_workers: dict[tuple[int, str], Worker] = {}
_lock = threading.Lock()


def worker(path: str) -> Worker:
    """The thread that writes ``path`` in this process (one per file, kept for the process's life)."""
    key = (os.getpid(), path)
    with _lock:
        found = _workers.get(key)
        if found is None:
            found = _workers[key] = Worker(path, BUSY_TIMEOUT, _connect)
        return found


# -- the writes (run on the worker's thread) -------------------------------------------------


def insert(connection: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    """Add one row (a run, or a step as it completes)."""
    names = ", ".join(row)
    connection.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))


def update_run(connection: sqlite3.Connection, run_id: str, values: dict[str, Any]) -> None:
    """Change a run's row (its end)."""
    sets = ", ".join(f"{name} = ?" for name in values)
    connection.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*values.values(), run_id))


def end_tool(connection: sqlite3.Connection, run_id: str, call_id: str, values: dict[str, Any]) -> None:
    """A tool call's row, completed."""
    sets = ", ".join(f"{name} = ?" for name in values)
    connection.execute(
        f"UPDATE steps SET {sets} WHERE run_id = ? AND call_id = ? AND kind = 'tool' AND ended IS NULL",
        (*values.values(), run_id, call_id),
    )


# -- the reads --------------------------------------------------------------------------------


@dataclass
class Step:
    """One step of a logged run: a model request (``kind == "request"``), a tool call (``"tool"``),
    a failed attempt of a request followed by a wait before the next (``"retry"``: its ``data`` holds
    ``attempt``, ``status``, ``error`` and ``wait`` seconds; ``ended`` is when the wait ends) or a
    wait before a request (``"wait"``: ``run_many``'s rate limiter). A retry or wait belongs to the
    next request of its run (the request that was retried, or waited for)."""

    kind: str
    name: str | None
    started: float
    ended: float | None
    call_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    finish_reason: str | None = None
    data: str | None = None
    """The response message (JSON) of a request, the arguments of a tool call."""
    result: str | None = None
    is_error: bool = False
    error: str | None = None
    agent: str | None = None
    """The agent that made the step (the run's agent, or the one a handoff passed the run to)."""


@dataclass
class LoggedRun:
    """One run of the log, with its steps and (``load_run``) its sub-agents' runs.

    Attributes:
        id: the run's id (12 hex digits; ``agentkit logs`` shows it).
        parent_id: for a sub-agent's run, the calling run's id.
        parent_call_id: for a sub-agent's run, the id of the tool call that ran it.
        started: when it started (Unix time).
        ended: when it ended (None while it runs, or when its process died).
        agent: the agent's name (the one it started with, after a handoff too).
        model: the model that gave the last answer.
        prompt: the run's prompt (keys redacted, as every text here).
        status: ``ok``, ``error``, ``paused`` (waiting for approvals), ``cancelled`` (a
            cancellation or timeout, or its caller stopped early: ``error_type`` None) or ``running``.
        output: the final output (text, or JSON).
        error_type: the exception's class name, when it failed.
        error_message: its message (keys redacted).
        turns: how many model requests the run made.
        input_tokens: input tokens, over the run (its sub-agents' included).
        output_tokens: output tokens, likewise.
        cost: what it cost in USD (None when unknown).
        messages: the whole conversation at the run's end, as JSON (:func:`messages_of` reads it).
        steps: its requests, tool calls, retries and waits, in order (``load_run`` only).
        children: its sub-agents' runs (``load_run`` only).
        pid: the id of the process that ran it (None in files before schema 3).
        host: the name of the machine that ran it.
    """

    id: str
    parent_id: str | None
    parent_call_id: str | None
    started: float
    ended: float | None
    agent: str | None
    model: str | None
    prompt: str | None
    status: str
    output: str | None
    error_type: str | None
    error_message: str | None
    turns: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    messages: str | None
    steps: list[Step] = field(default_factory=list)
    children: list[LoggedRun] = field(default_factory=list)
    pid: int | None = None
    host: str | None = None

    @property
    def stopped(self) -> bool:
        """Whether the run is ``running`` but the process that ran it, on this machine, is gone (it
        was killed, or crashed): it will never end. False when that cannot be told (another machine,
        a file before schema 3, not a POSIX system)."""
        if self.status != "running" or self.pid is None or self.host != hostname() or os.name != "posix":
            return False
        if self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True
        except OSError:  # another user's process: alive
            return False
        return False

    @property
    def shown_status(self) -> str:
        """``status``, or ``stopped`` for a run whose process is gone (:attr:`stopped`)."""
        return "stopped" if self.stopped else self.status

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (None while running, or when the process died)."""
        return None if self.ended is None else self.ended - self.started


_RUN_COLUMNS = (
    "id, parent_id, parent_call_id, started, ended, agent, model, prompt, status, output, error_type, error_message,"
    " turns, input_tokens, output_tokens, cost, messages, pid, host"
)


def hostname() -> str:
    """This machine's name, as the runs it records name it."""
    import socket

    return socket.gethostname()


def _logged(row: Sequence[Any]) -> LoggedRun:
    """A run from a row of :data:`_RUN_COLUMNS`."""
    run = LoggedRun(*row[:17])
    run.pid, run.host = row[17], row[18]
    return run


def _runs(connection: sqlite3.Connection) -> str:
    """The runs' columns to select (files before schema 3 have no ``pid`` and ``host``)."""
    return _RUN_COLUMNS if _version(connection) >= 3 else _RUN_COLUMNS.replace("pid, host", "NULL, NULL")


_STEP_COLUMNS = (
    "kind, name, started, ended, call_id, input_tokens, output_tokens, cost, finish_reason, data, result, is_error, error, agent"
)


def _read(path: str | os.PathLike[str]) -> sqlite3.Connection:
    import sqlite3

    text = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.exists(text):
        raise UserError(f"No run log at {text}: set AGENTKIT_LOG=path.db (or --log PATH) to record runs.")
    if os.path.isdir(text):
        raise UserError(f"{text} is a folder, not a run log: give the SQLite file (--log PATH, AGENTKIT_LOG).")
    uri = "file:" + text.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT)
    try:
        version = _version(connection)
    except sqlite3.DatabaseError as e:
        connection.close()
        raise UserError(f"{text} is not an agentkit run log ({e}).") from e
    if version == 0:
        connection.close()
        raise UserError(f"{text} is not an agentkit run log (no runlog_meta table).")
    if version > SCHEMA_VERSION:
        connection.close()
        raise UserError(f"The run log {text} was written by a newer agentkit (schema {version}): upgrade agentkit.")
    return connection


def list_runs(
    path: str | os.PathLike[str],
    *,
    agent: str | None = None,
    model: str | None = None,
    status: str | None = None,
    since: float | None = None,
    limit: int | None = 20,
    top_level: bool = True,
) -> list[LoggedRun]:
    """The runs of the log at ``path``, the most recent first (their steps not loaded: :func:`load_run`).

    Args:
        path: the run log (raises :class:`~agentkit.errors.UserError` when there is none there).
        agent: only this agent's runs.
        model: only the runs with this model.
        status: only the runs that ended so (``ok``, ``error``, ``paused``, ``cancelled``) or still ``running``.
        since: only the runs started at or after this Unix time.
        limit: at most this many (None: all).
        top_level: only runs that are not a sub-agent's (False: those too).
    """
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("agent", agent), ("model", model), ("status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("started >= ?")
        params.append(since)
    if top_level:
        where.append("parent_id IS NULL")
    connection = _read(path)
    sql = f"SELECT {_runs(connection)} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY started DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    try:
        return [_logged(row) for row in busy(lambda: connection.execute(sql, params).fetchall(), BUSY_TIMEOUT)]
    finally:
        connection.close()


def load_run(path: str | os.PathLike[str], run_id: str) -> LoggedRun:
    """One run with its steps and its sub-agents' runs (``children``, nested the same way).

    Args:
        path: the run log.
        run_id: the run's id, or the start of it when no other run starts so (else
            :class:`~agentkit.errors.UserError`, as for an id that names no run).
    """
    connection = _read(path)
    try:
        rows = connection.execute(f"SELECT {_runs(connection)} FROM runs WHERE id LIKE ? LIMIT 2", (_prefix(run_id),)).fetchall()
        if not rows:
            raise UserError(f"No run {run_id!r} in {os.fspath(path)} (agentkit logs lists them).")
        if len(rows) > 1:
            raise UserError(f"{run_id!r} names more than one run: give more of its id.")
        return _with_steps(connection, _logged(rows[0]))
    finally:
        connection.close()


def _prefix(text: str) -> str:
    return text.replace("\\", "").replace("%", "").replace("_", "") + "%"


def _with_steps(connection: sqlite3.Connection, run: LoggedRun) -> LoggedRun:
    columns = _STEP_COLUMNS if _version(connection) >= 2 else _STEP_COLUMNS.replace(", agent", ", NULL")
    rows = connection.execute(f"SELECT {columns} FROM steps WHERE run_id = ? ORDER BY id", (run.id,))
    names = [name.strip() for name in _STEP_COLUMNS.split(",")]
    run.steps = [Step(**dict(zip(names, (*row[:11], bool(row[11]), *row[12:]), strict=True))) for row in rows]
    children = connection.execute(f"SELECT {_runs(connection)} FROM runs WHERE parent_id = ? ORDER BY started", (run.id,))
    run.children = [_with_steps(connection, _logged(row)) for row in children.fetchall()]
    return run


def all_runs(run: LoggedRun) -> Sequence[LoggedRun]:
    """``run`` and its sub-agents' runs, depth first."""
    found = [run]
    for child in run.children:
        found.extend(all_runs(child))
    return found
