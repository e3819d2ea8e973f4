"""``sqlite_query(path)``: a tool that runs read-only SQL on a SQLite database and returns a text table.

    from agentkit import Agent
    from agentkit_tools import sqlite_query

    agent = Agent("openai:gpt-4o-mini", tools=[sqlite_query("shop.db")])

Read-only in four layers: the file is opened with ``mode=ro`` (SQLite refuses every write),
``PRAGMA query_only=ON`` is set, an authorizer allows only reading (``SELECT``, ``WITH``,
read-only ``PRAGMA``\\ s such as ``table_info``) and denies everything else — ``ATTACH`` (which
would create files), ``VACUUM INTO``, ``PRAGMA query_only=OFF``, ``writable_schema``,
transactions, temp tables — and ``SQLITE_LIMIT_ATTACHED`` is 0. ``trusted_schema`` is off, so
views and triggers in the file cannot call functions with side effects.

Every query is bounded: a progress handler stops it after ``timeout`` seconds (runaway recursive
CTEs, cross joins), strings and blobs are limited to ``max_value_bytes`` (no
``randomblob(1e9)``), at most ``max_rows`` rows are fetched, and the values fetched stay within
``max_result_bytes`` in all (201 rows of a 10 MB ``zeroblob()`` would be 2 GB; so would one row of
200 of them): each row is weighed value by value before Python fetches it (``_sqlite_sizes``) and
is fetched only when it fits; the answer says where it stopped. Each cell is cut to
``max_cell_chars`` characters. Rows are kept only as they will be shown (a blob as its size, text
cut to the cell width). A step the
progress handler cannot interrupt (one huge ``printf()``) is abandoned by a watchdog at
``timeout`` + 0.5 s. ``printf()`` and ``format()`` give NULL rather than an error when their
result would pass ``max_value_bytes``: the answer then says so.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentkit import ModelRetry, Tool, UserError

from ._sqlite_sizes import RowSizes, connect_with_sizes

__all__ = ["sqlite_query"]

_OK, _DENY = sqlite3.SQLITE_OK, sqlite3.SQLITE_DENY
_SELECT, _READ, _FUNCTION, _PRAGMA = sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_PRAGMA
_RECURSIVE = getattr(sqlite3, "SQLITE_RECURSIVE", 33)
_MAX_SQL_CHARS = 20_000
_GRACE = 0.5  # seconds past the timeout before the watchdog gives up on a query
_MAX_ABANDONED = 2

# pragmas that only read, with or without an argument naming a table/index/schema
_INFO_PRAGMAS = frozenset(
    {
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
        "foreign_key_check", "integrity_check", "quick_check",
    }
)  # fmt: skip
# pragmas that read a setting when given no value (and would change it when given one)
_READ_PRAGMAS = frozenset(
    {
        "database_list", "collation_list", "function_list", "module_list", "pragma_list", "compile_options",
        "user_version", "application_id", "schema_version", "data_version", "page_count", "page_size",
        "freelist_count", "encoding", "foreign_keys", "journal_mode", "auto_vacuum", "max_page_count",
    }
)  # fmt: skip
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"})
_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
# SQLite's printf() and format() give NULL, not the "too big" error, when their result would pass the length limit
_NULL_WHEN_TOO_BIG = frozenset({"printf", "format"})
_ACTIONS = {
    sqlite3.SQLITE_ATTACH: "ATTACH (opening other database files)",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_TRANSACTION: "transactions (BEGIN/COMMIT)",
    getattr(sqlite3, "SQLITE_SAVEPOINT", 32): "transactions (SAVEPOINT/RELEASE)",
    sqlite3.SQLITE_DROP_INDEX: "DROP INDEX",
    sqlite3.SQLITE_DROP_VIEW: "DROP VIEW",
    sqlite3.SQLITE_DROP_TRIGGER: "DROP TRIGGER",
    sqlite3.SQLITE_DROP_TEMP_TABLE: "DROP TABLE",
    sqlite3.SQLITE_DROP_TEMP_VIEW: "DROP VIEW",
    sqlite3.SQLITE_DROP_TEMP_TRIGGER: "DROP TRIGGER",
    sqlite3.SQLITE_DROP_TEMP_INDEX: "DROP INDEX",
    sqlite3.SQLITE_CREATE_TEMP_VIEW: "CREATE VIEW",
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER: "CREATE TRIGGER",
    sqlite3.SQLITE_CREATE_TEMP_INDEX: "CREATE INDEX",
    getattr(sqlite3, "SQLITE_CREATE_VTABLE", 29): "CREATE VIRTUAL TABLE",
    getattr(sqlite3, "SQLITE_DROP_VTABLE", 30): "DROP TABLE",
    sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_CREATE_TABLE: "CREATE TABLE",
    sqlite3.SQLITE_CREATE_TEMP_TABLE: "CREATE TEMP TABLE",
    sqlite3.SQLITE_DROP_TABLE: "DROP TABLE",
    sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE",
    sqlite3.SQLITE_CREATE_INDEX: "CREATE INDEX",
    sqlite3.SQLITE_CREATE_VIEW: "CREATE VIEW",
    sqlite3.SQLITE_CREATE_TRIGGER: "CREATE TRIGGER",
    sqlite3.SQLITE_ANALYZE: "ANALYZE",
    sqlite3.SQLITE_REINDEX: "REINDEX",
}


class _Guard:
    """The authorizer and progress handler of one query; remembers why it stopped it."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.denied: str | None = None  # what was refused first
        self.timed_out = False
        self.connection: sqlite3.Connection | None = None
        self.formats = False  # the query calls printf() or format()

    def interrupt(self) -> None:
        """Ask SQLite to stop at its next chance (from another thread)."""
        conn = self.connection
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.interrupt()

    def _deny(self, what: str) -> int:
        if self.denied is None:
            self.denied = what
        return _DENY

    def authorize(self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _source: str | None) -> int:
        if action in (_SELECT, _READ, _RECURSIVE):
            return _OK
        if action == _FUNCTION:
            function = (arg2 or "").lower()
            if function in _DENIED_FUNCTIONS:
                return self._deny(f"the function {arg2}()")
            self.formats = self.formats or function in _NULL_WHEN_TOO_BIG
            return _OK
        if action == _PRAGMA:
            name = (arg1 or "").lower()
            if name in _INFO_PRAGMAS or (name in _READ_PRAGMAS and arg2 is None):
                return _OK
            return self._deny(f"PRAGMA {name}" + (f" = {arg2}" if arg2 is not None else ""))
        schema_table = (arg1 or "").lower() in _SCHEMA_TABLES
        if action == sqlite3.SQLITE_UPDATE and schema_table:
            # SQLite reports this while it declares a table-valued pragma (SELECT * FROM pragma_table_info('t'));
            # a real UPDATE of the schema is still refused by mode=ro, query_only and writable_schema being off.
            return _OK
        if schema_table:  # CREATE/DROP first show up as changes to the schema table
            return self._deny("changing the schema (CREATE, DROP, ...)")
        return self._deny(_ACTIONS.get(action, "statements that change the database"))

    def progress(self) -> int:
        if time.monotonic() > self.deadline:
            self.timed_out = True
            return 1
        return 0


class _Blob:
    """A fetched blob, kept as its size (the table shows only that)."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


class _Fetched:
    """What ``fetch`` got: the rows kept, whether there are more, whether the budget stopped it, and the row it refused."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.more = False  # rows past max_rows
        self.over_budget = False
        self.refused: tuple[int, int] | None = None  # (bytes, values) of the row left unfetched for the budget


def _weight(value: Any) -> int:
    """Bytes a fetched value counts against the result's budget."""
    if isinstance(value, (bytes, str)):
        return len(value)
    return 0 if value is None else 8


def _kept(value: Any, width: int) -> Any:
    """What a table cell of ``width`` characters needs of a value (a cut string's first ``width`` + 1 characters)."""
    if isinstance(value, bytes):
        return _Blob(len(value))
    if isinstance(value, str) and len(value) > width + 1:
        return value[: width + 1]
    return value


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, (bytes, _Blob)):
        text = f"<blob {value.size if isinstance(value, _Blob) else len(value):,} bytes>"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(columns: list[str], rows: list[tuple[Any, ...]], width: int, max_chars: int) -> tuple[str, int]:
    """A Markdown-style table; stops adding rows at ``max_chars``. Returns the text and the rows shown."""
    header = "| " + " | ".join(_cell(c, width) for c in columns) + " |"
    lines = [header, "|" + "|".join("---" for _ in columns) + "|"]
    size = len(header) * 2
    shown = 0
    for row in rows:
        line = "| " + " | ".join(_cell(v, width) for v in row) + " |"
        if size + len(line) > max_chars and shown:
            break
        lines.append(line)
        size += len(line) + 1
        shown += 1
    return "\n".join(lines), shown


def _schema_summary(connect: Callable[[], sqlite3.Connection], limit: int = 3000) -> str:
    """``table(col, col, ...)`` lines for the tool description (empty when unreadable)."""
    try:
        conn = connect()
    except (sqlite3.Error, UserError):
        return ""
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchmany(200)
        ]
        lines: list[str] = []
        size = 0
        for table in names:
            columns = [str(r[1]) for r in conn.execute("SELECT * FROM pragma_table_info(?)", (table,)).fetchall()]
            line = f"{table}({', '.join(columns)})"
            if size + len(line) > limit:
                lines.append("... (more tables: query sqlite_master)")
                break
            lines.append(line)
            size += len(line)
        return "\n".join(lines)
    except sqlite3.Error:
        return ""
    finally:
        conn.close()


def sqlite_query(
    path: str | os.PathLike[str],
    *,
    max_rows: int = 200,
    timeout: float = 5.0,
    max_cell_chars: int = 200,
    max_chars: int = 20_000,
    max_value_bytes: int = 10_000_000,
    max_result_bytes: int = 20_000_000,
    describe_schema: bool = True,
    name: str = "sqlite_query",
) -> Tool[[str], str]:
    """A tool that runs one read-only SQL statement on the SQLite database at ``path``.

    Args:
        path: the database file (must exist; it is never modified).
        max_rows: most rows fetched and shown.
        timeout: seconds a query may run before it is stopped.
        max_cell_chars: longest cell shown (longer values are cut).
        max_chars: longest table returned.
        max_value_bytes: largest string or blob a query may build (SQLite's length limit).
        max_result_bytes: most bytes of values fetched for one answer (strings and blobs by length,
            numbers as 8); a row is fetched only when it fits in what is left (the first row: in the
            budget plus one value at ``max_value_bytes``), and the answer says where it stopped.
            Also caps ``max_value_bytes``.
        describe_schema: list the tables and their columns in the tool's description (read once, now).
        name: the tool's name.

    Raises:
        UserError: ``path`` is not an existing file.
    """
    try:
        real = Path(path).expanduser().resolve(strict=True)
    except (OSError, RuntimeError) as e:
        raise UserError(f"sqlite_query({str(path)!r}): the database file does not exist ({e}).") from None
    if not real.is_file():
        raise UserError(f"sqlite_query({str(path)!r}) must be a database file, not a folder or special file.")
    uri = f"file:{urllib.parse.quote(str(real))}?mode=ro"
    max_value_bytes = max(1, min(max_value_bytes, max_result_bytes))

    def connect(guard: _Guard | None = None) -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, timeout=min(timeout, 5.0), isolation_level=None, check_same_thread=False)
        try:
            conn.text_factory = lambda data: data.decode("utf-8", "replace")
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA trusted_schema = OFF")
            setlimit = getattr(conn, "setlimit", None)
            if setlimit is not None:  # Python 3.11+
                setlimit(getattr(sqlite3, "SQLITE_LIMIT_ATTACHED", 7), 0)
                setlimit(getattr(sqlite3, "SQLITE_LIMIT_LENGTH", 0), max_value_bytes)
                setlimit(getattr(sqlite3, "SQLITE_LIMIT_SQL_LENGTH", 1), _MAX_SQL_CHARS * 4)
            guard = guard or _Guard(timeout)
            conn.set_authorizer(guard.authorize)
            conn.set_progress_handler(guard.progress, 1000)
        except BaseException:
            conn.close()
            raise
        return conn

    stopped_early = (
        f"The query ran longer than {timeout:g} s and was stopped. Add LIMIT, filter with WHERE, "
        f"or avoid unbounded recursive CTEs and huge printf() widths."
    )
    abandoned: list[threading.Thread] = []  # queries given up on at the deadline that are still finishing

    def query(sql: str) -> str:
        text = sql.strip()
        if not text:
            raise ModelRetry(
                "The SQL is empty. Send one SELECT statement, e.g. SELECT name FROM sqlite_master WHERE type='table'."
            )
        if len(text) > _MAX_SQL_CHARS:
            raise ModelRetry(f"The SQL is {len(text):,} characters long; the limit is {_MAX_SQL_CHARS:,}.")
        if "\x00" in text:
            raise ModelRetry("The SQL contains a NUL character.")
        abandoned[:] = [t for t in abandoned if t.is_alive()]
        if len(abandoned) >= _MAX_ABANDONED:
            raise ModelRetry("Earlier queries that were stopped are still finishing; wait a little and send a simpler query.")
        # The progress handler stops almost everything; a watchdog covers single steps it cannot
        # interrupt (printf('%.*c', 2000000000, 'x') runs for seconds inside one VM instruction).
        guard = _Guard(timeout)
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = execute(text, guard)
            except BaseException as e:
                box["error"] = e

        worker = threading.Thread(target=work, name=f"{name}-query", daemon=True)
        worker.start()
        worker.join(timeout + _GRACE)
        if worker.is_alive():
            guard.timed_out = True
            guard.interrupt()
            abandoned.append(worker)
            raise ModelRetry(stopped_early)
        if "error" in box:
            raise box["error"]
        return str(box["value"])

    def fetch(cursor: sqlite3.Cursor, sizes: RowSizes | None) -> _Fetched:
        """Up to ``max_rows`` rows, each kept as it will be shown, within ``max_result_bytes``.

        With ``sizes`` each row is weighed before it is fetched, value by value, and is fetched only
        when it fits in what is left of the budget (the first row: in the budget plus one value at
        its limit), so no row of a hundred 10 MB values is ever built. Without, a row is weighed once
        fetched and fetching stops after the row that passed the budget (dropped, unless it is the first).
        """
        done = _Fetched()
        used = 0
        while True:
            ahead = sizes.current() if sizes is not None else None
            if ahead is not None:
                weight = sum(ahead)
                if len(done.rows) == max_rows:
                    done.more = True  # known without fetching it
                    return done
                allowed = max_result_bytes if done.rows else max_result_bytes + max_value_bytes
                if used + weight > allowed:
                    done.over_budget, done.refused = True, (weight, len(ahead))
                    return done
            row = cursor.fetchone()
            if row is None:
                return done
            if len(done.rows) == max_rows:
                done.more = True
                return done
            if ahead is None:
                weight = sum(_weight(value) for value in row)
            used += weight
            if used > max_result_bytes and done.rows:
                done.over_budget = True
                return done
            done.rows.append(tuple(_kept(value, max_cell_chars) for value in row))
            if used > max_result_bytes:
                done.over_budget = True
                return done

    def execute(text: str, guard: _Guard) -> str:
        try:
            conn, sizes = connect_with_sizes(lambda: connect(guard))
        except sqlite3.Error as e:
            raise ModelRetry(f"The database cannot be opened: {e}.") from None
        guard.connection = conn
        try:
            cursor = conn.execute(text)
            if cursor.description is None:
                return "The statement ran and returned no rows."
            columns = [str(d[0]) for d in cursor.description]
            fetched = fetch(cursor, sizes)
        except sqlite3.Warning as e:  # "You can only execute one statement at a time."
            raise ModelRetry(f"{e} Send a single statement per call (no ';'-separated scripts).") from None
        except sqlite3.Error as e:
            if guard.timed_out:
                raise ModelRetry(stopped_early) from None
            if guard.denied is not None:
                raise ModelRetry(
                    f"Not allowed: {guard.denied}. The database is read-only: use SELECT (or WITH ... SELECT), EXPLAIN, "
                    f"or read-only PRAGMAs like table_info(table) and index_list(table)."
                ) from None
            message = str(e)
            if "one statement at a time" in message:
                raise ModelRetry("Send a single statement per call (no ';'-separated scripts).") from None
            if "too big" in message:
                message += f" (values are limited to {max_value_bytes:,} bytes)"
            raise ModelRetry(f"SQL error: {message}.") from None
        finally:
            guard.connection = None
            conn.close()
        rows, more, over_budget = fetched.rows, fetched.more, fetched.over_budget
        if fetched.refused is not None and not rows:
            size, values = fetched.refused
            raise ModelRetry(
                f"The first row alone holds {size:,} bytes in its {values} values, more than the result's budget of "
                f"{max_result_bytes:,} bytes; it was not fetched. Select fewer or smaller columns "
                f"(length(x) or substr(x, 1, 200) rather than x)."
            )
        if not rows:
            return "No rows.\n" + _table(columns, [], max_cell_chars, max_chars)[0]
        table, shown = _table(columns, rows, max_cell_chars, max_chars)
        notes = []
        if more:
            notes.append(f"[only the first {max_rows} rows are shown; add LIMIT/OFFSET or aggregate]")
        elif shown < len(rows):
            notes.append(f"[only {shown} of {len(rows)} rows fit in the answer; select fewer columns or rows]")
        if over_budget and not more:
            notes.append(
                f"[stopped after {len(rows)} row{'s' if len(rows) != 1 else ''}: the result passed its budget of "
                f"{max_result_bytes:,} bytes; select fewer or smaller columns (length(x) rather than x) or add LIMIT]"
            )
        count = f"{shown} row{'s' if shown != 1 else ''}" + ("" if not notes else " shown")
        if guard.formats and any(value is None for row in rows[:shown] for value in row):
            notes.append(
                f"[printf() and format() give NULL when their result would be longer than {max_value_bytes:,} bytes, "
                f"the limit on values]"
            )
        return f"{count}:\n{table}" + ("\n" + "\n".join(notes) if notes else "")

    schema = _schema_summary(connect) if describe_schema else ""
    query.__doc__ = (
        "Run one read-only SQL statement (SQLite dialect) on the database and return the rows as a table.\n\n"
        "Only reading is allowed: SELECT, WITH ... SELECT, EXPLAIN, and PRAGMAs such as table_info(name). "
        f"At most {max_rows} rows are returned; queries are stopped after {timeout:g} s."
        + (f"\n\nTables:\n{schema}" if schema else "\n\nList the tables with: SELECT name, sql FROM sqlite_master")
        + "\n\nArgs:\n    sql: One SQL statement, e.g. SELECT name, price FROM products ORDER BY price DESC LIMIT 10."
    )
    return Tool(query, name=name)
