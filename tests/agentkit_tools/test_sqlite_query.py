"""sqlite_query: read-only SQL — writes, ATTACH, VACUUM INTO, pragma tricks, runaway queries and value bombs are refused."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from agentkit_tools import _sqlite_sizes, sqlite_query

from agentkit import ModelRetry, Tool, UserError
from tests.agentkit_tools.conftest import run_calls

sqlite_query_module = sys.modules[sqlite_query.__module__]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE products(id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, notes TEXT, image BLOB);
        CREATE INDEX products_name ON products(name);
        CREATE VIEW cheap AS SELECT name, price FROM products WHERE price < 5;
        CREATE TABLE orders(id INTEGER PRIMARY KEY, product_id INTEGER REFERENCES products(id), qty INTEGER);
        CREATE TRIGGER no_negative BEFORE INSERT ON orders WHEN NEW.qty < 0 BEGIN SELECT RAISE(ABORT, 'neg'); END;
        PRAGMA user_version = 7;
        """
    )
    conn.executemany(
        "INSERT INTO products(name, price, notes, image) VALUES (?, ?, ?, ?)",
        [(f"item{i:03d}", i * 1.5, None, None) for i in range(300)],
    )
    conn.execute("UPDATE products SET notes = ?, image = ? WHERE id = 1", ("line one\nline | two", b"\x89PNG" + bytes(96)))
    conn.execute("UPDATE products SET notes = ? WHERE id = 2", ("z" * 1000,))
    conn.execute("INSERT INTO orders(product_id, qty) VALUES (1, 2), (2, 5)")
    conn.commit()
    conn.close()
    return path


def _run(tool: Tool[[str], str], sql: str) -> tuple[bool, str]:
    try:
        return True, tool.function(sql)
    except ModelRetry as e:
        return False, e.message


def _digest(path: Path) -> tuple[str, float]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime


def test_queries_come_back_as_text_tables(db) -> None:
    tool = sqlite_query(db, max_rows=5, max_cell_chars=30)
    ok, text = _run(tool, "SELECT id, name, price, notes, image FROM products ORDER BY id LIMIT 3")
    assert ok
    assert text.splitlines() == [
        "3 rows:",
        "| id | name | price | notes | image |",
        "|---|---|---|---|---|",
        "| 1 | item000 | 0.0 | line one\\nline \\| two | <blob 100 bytes> |",
        "| 2 | item001 | 1.5 | " + "z" * 29 + "… | NULL |",
        "| 3 | item002 | 3.0 | NULL | NULL |",
    ]
    ok, text = _run(tool, "SELECT count(*) AS n, sum(qty) FROM orders")
    assert ok and text.splitlines()[3] == "| 2 | 7 |"
    ok, text = _run(tool, "SELECT * FROM products")
    assert ok and text.startswith("5 rows shown:") and "only the first 5 rows are shown" in text
    assert _run(tool, "SELECT * FROM products WHERE id < 0")[1].startswith("No rows.\n| id | name |")
    for sql in (
        "WITH t AS (SELECT name FROM cheap) SELECT count(*) FROM t",
        "PRAGMA table_info(products)",
        "SELECT * FROM pragma_table_info('products')",
        "PRAGMA index_list(products)",
        "PRAGMA user_version",
        "EXPLAIN QUERY PLAN SELECT * FROM products WHERE name = 'x'",
        "SELECT name, sql FROM sqlite_master",
        "  select 1 -- a comment\n",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10) SELECT sum(x) FROM c",
    ):
        assert _run(tool, sql)[0], sql


def test_the_description_lists_the_tables(db) -> None:
    tool = sqlite_query(db)
    assert "products(id, name, price, notes, image)" in tool.description
    assert "orders(id, product_id, qty)" in tool.description and "cheap(name, price)" in tool.description
    assert tool.requires_approval is False
    assert "sqlite_master" in sqlite_query(db, describe_schema=False).description


def test_the_file_must_exist(tmp_path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        sqlite_query(tmp_path / "missing.db")
    with pytest.raises(UserError, match="must be a database file"):
        sqlite_query(tmp_path)
    assert not (tmp_path / "missing.db").exists()  # not created either


WRITES = [
    ("INSERT INTO products(name) VALUES ('x')", "INSERT"),
    ("REPLACE INTO products(id, name) VALUES (1, 'x')", "INSERT"),
    ("INSERT INTO orders(product_id, qty) SELECT id, 1 FROM products", "INSERT"),
    ("UPDATE products SET price = 0", "UPDATE"),
    ("DELETE FROM products", "DELETE"),
    ("DROP TABLE products", "changing the schema"),
    ("DROP VIEW cheap", "changing the schema"),
    ("DROP INDEX products_name", "changing the schema"),
    ("DROP TRIGGER no_negative", "DROP TRIGGER"),
    ("CREATE TABLE evil(x)", "changing the schema"),
    ("CREATE TEMP TABLE evil(x)", "changing the schema"),
    ("CREATE TEMP VIEW evil AS SELECT 1", "changing the schema"),
    ("CREATE VIRTUAL TABLE evil USING fts5(x)", "Not allowed"),
    ("CREATE INDEX evil ON products(price)", "changing the schema"),
    ("ALTER TABLE products ADD COLUMN evil", "ALTER TABLE"),
    ("ALTER TABLE products RENAME TO evil", "ALTER TABLE"),
    ("UPDATE sqlite_master SET sql = 'CREATE TABLE x(y)'", "may not be modified"),
    ("ATTACH DATABASE '{dir}/attached.db' AS other", "ATTACH"),
    ("ATTACH DATABASE ':memory:' AS mem", "ATTACH"),
    ("ATTACH 'file:{dir}/uri.db?mode=rwc' AS other", "ATTACH"),
    ("DETACH DATABASE main", "Not allowed"),
    ("VACUUM", "Not allowed"),
    ("VACUUM INTO '{dir}/copy.db'", "Not allowed"),
    ("REINDEX products_name", "Not allowed"),
    ("ANALYZE", "Not allowed"),
    ("BEGIN", "transactions"),
    ("BEGIN IMMEDIATE", "transactions"),
    ("COMMIT", "transactions"),
    ("SAVEPOINT s1", "transactions"),
    ("PRAGMA query_only = OFF", "PRAGMA query_only = OFF"),
    ("PRAGMA query_only = 0", "PRAGMA query_only"),
    ("PRAGMA writable_schema = ON", "PRAGMA writable_schema"),
    ("PRAGMA journal_mode = DELETE", "PRAGMA journal_mode"),
    ("PRAGMA journal_mode = WAL", "PRAGMA journal_mode"),
    ("PRAGMA user_version = 99", "PRAGMA user_version = 99"),
    ("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys"),
    ("PRAGMA trusted_schema = ON", "PRAGMA trusted_schema"),
    ("PRAGMA temp_store_directory = '/tmp'", "PRAGMA temp_store_directory"),
    ("PRAGMA cache_size = -2000000", "PRAGMA cache_size"),
    ("PRAGMA mmap_size = 1000000000", "PRAGMA mmap_size"),
    ("PRAGMA hard_heap_limit = 1", "PRAGMA hard_heap_limit"),
    ("PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA wal_checkpoint"),
    ("PRAGMA incremental_vacuum", "PRAGMA incremental_vacuum"),
    ("PRAGMA optimize", "PRAGMA optimize"),
    ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
    ("SELECT 1; DROP TABLE products", "single statement"),
    ("SELECT 1; ATTACH DATABASE '{dir}/semi.db' AS x", "single statement"),
    ("PRAGMA query_only = OFF; INSERT INTO products(name) VALUES ('x')", "query_only"),
]


@pytest.mark.parametrize(("sql", "says"), WRITES)
def test_writes_and_tricks_are_refused_and_change_nothing(db, sql: str, says: str) -> None:
    tool = sqlite_query(db)
    before = _digest(db)
    files_before = sorted(p.name for p in db.parent.iterdir())
    ok, text = _run(tool, sql.format(dir=db.parent))
    assert not ok, text
    assert says in text
    assert _digest(db) == before
    assert sorted(p.name for p in db.parent.iterdir()) == files_before  # ATTACH / VACUUM INTO created no file
    ok, text = _run(tool, "SELECT count(*) FROM products")  # and the database still answers
    assert ok and "| 300 |" in text


def test_a_database_with_a_hostile_view_cannot_reach_dangerous_functions(tmp_path) -> None:
    path = tmp_path / "evil.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE VIEW evil AS SELECT load_extension('/tmp/evil.so') AS x")
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()
    ok, text = _run(sqlite_query(path), "SELECT * FROM evil")
    assert not ok and ("load_extension" in text or "unsafe use" in text)


@pytest.mark.parametrize(
    "sql",
    [
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c ORDER BY 1",
        "SELECT count(*) FROM products a, products b, products c, products d",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c ORDER BY random() LIMIT 1",
    ],
)
def test_runaway_queries_are_stopped_at_the_time_limit(db, sql: str) -> None:
    tool = sqlite_query(db, timeout=0.3)
    started = time.perf_counter()
    ok, text = _run(tool, sql)
    assert time.perf_counter() - started < 2
    assert not ok and "ran longer than 0.3 s and was stopped" in text


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT randomblob(1000000000)",
        "SELECT zeroblob(2000000000)",
        "SELECT length(hex(zeroblob(100000000)))",
        "SELECT replace(hex(zeroblob(4000000)), '0', '0000000000')",
        "WITH RECURSIVE c(x) AS (SELECT 'x' UNION ALL SELECT x || x FROM c) SELECT length(x) FROM c LIMIT 1 OFFSET 40",
    ],
)
def test_huge_values_are_refused(db, sql: str) -> None:
    tool = sqlite_query(db, max_value_bytes=1_000_000, timeout=3)
    started = time.perf_counter()
    ok, text = _run(tool, sql)
    assert time.perf_counter() - started < 3
    assert not ok and "too big" in text and "limited to 1,000,000 bytes" in text


def _stalling_connections(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Give every new connection a ``stall()`` SQL function that blocks until the returned event is set:
    one VM step that no progress handler can interrupt, for as long as the test wants."""
    release = threading.Event()
    connect = sqlite3.connect

    def connect_with_stall(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.create_function("stall", 0, lambda: int(release.wait(30)))
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect_with_stall)
    return release


def _query_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite_query-query"]


def test_a_step_the_progress_handler_cannot_stop_is_abandoned_at_the_deadline(db, monkeypatch) -> None:
    # A single VM step (a huge printf() padding, here a function that blocks) never reaches the progress
    # handler: the watchdog answers at timeout + grace and leaves the query to finish in its thread.
    release = _stalling_connections(monkeypatch)
    tool = sqlite_query(db, timeout=0.2)
    deadline = 0.2 + sqlite_query_module._GRACE
    try:
        started = time.perf_counter()
        ok, text = _run(tool, "SELECT stall()")
        elapsed = time.perf_counter() - started
        assert not ok and "was stopped" in text, text
        assert deadline - 0.05 <= elapsed < deadline + 1.0  # the watchdog's deadline, not the progress handler's
        assert len(_query_threads()) == 1  # still blocked: abandoned, not waited for
        ok, text = _run(tool, "SELECT stall()")
        assert not ok and "was stopped" in text
        ok, text = _run(tool, "SELECT 1")  # two abandoned queries still running: no third thread
        assert not ok and "still finishing" in text
    finally:
        release.set()
        for thread in _query_threads():
            thread.join(5)
    assert not _query_threads()
    ok, text = _run(tool, "SELECT 41 + 1")  # once they have ended, queries run again
    assert ok and "42" in text


def test_printf_past_the_value_limit_gives_null_and_the_answer_says_why(db) -> None:
    # SQLite's printf() and format() return NULL (not "string or blob too big") when the result would pass
    # SQLITE_LIMIT_LENGTH: a bare NULL row would read as a real answer.
    tool = sqlite_query(db, max_value_bytes=1_000_000)
    ok, text = _run(tool, "SELECT printf('%.*c', 2000000, 'x') AS padded, format('%2000000d', 7) AS wide, 1 AS one")
    assert ok and text.splitlines()[:4] == ["1 row:", "| padded | wide | one |", "|---|---|---|", "| NULL | NULL | 1 |"]
    assert "printf() and format() give NULL when their result would be longer than 1,000,000 bytes" in text
    ok, text = _run(tool, "SELECT printf('%.*c', 5, 'x') AS fine, 2 AS two")  # no NULL: nothing to explain
    assert ok and text == "1 row:\n| fine | two |\n|---|---|\n| xxxxx | 2 |"
    ok, text = _run(tool, "SELECT NULL AS missing, length(randomblob(10))")  # a NULL, but no printf()
    assert ok and "printf" not in text


def test_a_printf_width_bomb_never_comes_back_as_a_plain_null(db) -> None:
    # Where it ends depends on SQLite: 3.40 pads one character at a time past the limit (~0.6 s for 400 M
    # here, seconds on a slower machine: the watchdog stops it at 0.8 s), newer versions stop at the limit
    # at once (NULL). Either answer tells the model what happened, within the deadline.
    tool = sqlite_query(db, max_value_bytes=1_000_000, timeout=0.3)
    started = time.perf_counter()
    ok, text = _run(tool, "SELECT printf('%.*c', 400000000, 'x')")
    assert time.perf_counter() - started < 1.5
    if ok:
        assert "| NULL |" in text and "longer than 1,000,000 bytes" in text, text
    else:
        assert "was stopped" in text, text


def test_big_results_are_cut(db) -> None:
    tool = sqlite_query(db, max_rows=1000, max_chars=2000)
    ok, text = _run(tool, "SELECT * FROM products")
    assert ok and len(text) < 2500 and "rows fit in the answer" in text
    ok, text = _run(tool, "SELECT name FROM products, orders")
    assert ok and "of 600 rows fit in the answer" in text


def test_the_whole_result_has_a_byte_budget(db) -> None:
    # Each value is under the 10 MB limit; 201 of them made 2 GB before the watchdog. Now fetching
    # stops once the result passes the budget, and the answer says so.
    sql = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 201) SELECT i, zeroblob(9999999) AS b FROM r"
    tool = sqlite_query(db)  # the defaults
    tracemalloc.start()
    try:
        started = time.perf_counter()
        ok, text = _run(tool, sql)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ok, text
    assert elapsed < 3 and peak < 60_000_000, (elapsed, peak)
    assert text.startswith("1 row shown:") and "| 1 | <blob 9,999,999 bytes> |" in text and "| 2 |" not in text
    assert text.endswith(
        "[stopped after 1 row: the result passed its budget of 20,000,000 bytes; select fewer or smaller columns "
        "(length(x) rather than x) or add LIMIT]"
    )

    small = sqlite_query(db, max_result_bytes=2_000)
    # row 1: 8 + 17 bytes, row 2: 8 + 1,000 (its notes), then 8 a row (notes NULL): row 123 passes 2,000
    ok, text = _run(small, "SELECT id, notes FROM products ORDER BY id")
    assert ok and text.startswith("122 rows shown:") and "| 122 | NULL |" in text and "budget of 2,000 bytes" in text
    ok, text = _run(small, "SELECT id FROM products ORDER BY id LIMIT 100")  # within the budget: no note
    assert ok and text.startswith("100 rows:") and "budget" not in text
    ok, text = _run(small, "SELECT zeroblob(3000)")  # one value over the budget: the budget is the value limit too
    assert not ok and "too big" in text and "limited to 2,000 bytes" in text


# One row of a hundred 10 MB zero blobs (lazy in SQLite: only reading them builds them), 1 GB in all.
_WIDE_ROW = "WITH r(n) AS (VALUES (10000000)) SELECT " + ", ".join(["zeroblob(n)"] * 100) + " FROM r"
_PEAK_OF_ONE_QUERY = """
import resource, sys
from agentkit import ModelRetry
from agentkit_tools import _sqlite_sizes, sqlite_query
tool = sqlite_query(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    answer = "ok: " + tool.function(sys.argv[2])
except ModelRetry as e:
    answer = "retry: " + e.message
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(grown * 1024 if sys.platform != "darwin" else grown)
print(answer)
"""


def test_the_budget_holds_within_one_wide_row(db) -> None:
    # The budget used to be checked between rows: Python's sqlite3 builds a whole row at once, so this
    # one row of 1 GB was copied (and each zero blob expanded) before it was weighed: ~1.9 GB, and the
    # 5 s watchdog. Now each value of a row is weighed before the row is fetched, and this one never is.
    if _sqlite_sizes._lib is None:
        pytest.skip("this Python's SQLite cannot be reached through ctypes: the budget is checked between rows only")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_OF_ONE_QUERY, str(db), _WIDE_ROW], capture_output=True, text=True, timeout=60
    )
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    grown, answer = done.stdout.split("\n", 1)
    assert int(grown) < 100_000_000, (int(grown), answer)  # a value is 10 MB, the row 1,000 MB
    assert elapsed < 4, elapsed
    assert answer.strip() == (
        "retry: The first row alone holds 1,000,000,000 bytes in its 100 values, more than the result's budget of "
        "20,000,000 bytes; it was not fetched. Select fewer or smaller columns (length(x) or substr(x, 1, 200) rather than x)."
    )


def test_a_row_is_fetched_only_when_it_fits_in_what_is_left_of_the_budget(db) -> None:
    tool = sqlite_query(db, max_result_bytes=2_000)
    # the first row may pass the budget by one value at the value limit (2,000 here): 3 x 1,000 bytes is shown
    sql = "WITH r(n) AS (VALUES (1000)) SELECT zeroblob(n) AS a, zeroblob(n) AS b, zeroblob(n) AS c FROM r"
    ok, text = _run(tool, sql)
    assert ok and text.startswith("1 row shown:") and "budget of 2,000 bytes" in text, text
    ok, text = _run(tool, sql.replace("AS c", "AS c, zeroblob(n) AS d, zeroblob(n) AS e"))  # 5,000 bytes: not fetched
    assert not ok and text.startswith("The first row alone holds 5,000 bytes in its 5 values"), text
    # rows after the first must fit: 8 + 1,500, then a row of 8 + 600 would pass 2,000 and is left unfetched
    ok, text = _run(tool, "SELECT 1 AS i, zeroblob(1500) UNION ALL SELECT 2, zeroblob(600) UNION ALL SELECT 3, zeroblob(1)")
    assert ok and text.startswith("1 row shown:") and "| 2 |" not in text and "stopped after 1 row" in text, text
    ok, text = _run(tool, "SELECT 1 AS i, zeroblob(1500) UNION ALL SELECT 2, zeroblob(400)")  # 1,508 + 408: both fit
    assert ok and text.startswith("2 rows:") and "budget" not in text, text
    ok, text = _run(sqlite_query(db, max_rows=2), "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3")
    assert ok and "only the first 2 rows are shown" in text


def test_without_row_sizes_the_budget_is_checked_between_rows(db, monkeypatch) -> None:
    # where SQLite cannot be reached through ctypes (another Python, a hidden SQLite), rows are weighed once fetched
    monkeypatch.setattr(_sqlite_sizes, "_lib", None)
    small = sqlite_query(db, max_result_bytes=2_000)
    ok, text = _run(small, "SELECT id, notes FROM products ORDER BY id")
    assert ok and text.startswith("122 rows shown:") and "| 122 | NULL |" in text and "budget of 2,000 bytes" in text
    ok, text = _run(small, "WITH r(n) AS (VALUES (1000)) SELECT zeroblob(n), zeroblob(n), zeroblob(n), zeroblob(n) FROM r")
    assert ok and text.startswith("1 row shown:") and "budget of 2,000 bytes" in text, text


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("SELECT 1\x00", "NUL"),
        ("SELECT " + "1 + " * 100_000 + "1", "characters long"),
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM nope", "no such table"),
        ("SELECT " + "(" * 2000 + "1" + ")" * 2000, "SQL error"),
    ],
)
def test_bad_sql_is_explained(db, sql: str, says: str) -> None:
    ok, text = _run(sqlite_query(db), sql)
    assert not ok and says in text


def test_text_that_is_not_utf8_is_shown_not_raised(tmp_path) -> None:
    path = tmp_path / "latin.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t(x TEXT)")
    conn.execute("INSERT INTO t VALUES (CAST(X'636166E9' AS TEXT))")  # 'café' in Latin-1
    conn.commit()
    conn.close()
    ok, text = _run(sqlite_query(path), "SELECT x FROM t")
    assert ok and "caf\ufffd" in text


def test_in_an_agent_write_attempts_become_tool_messages(db) -> None:
    before = _digest(db)
    result, messages = run_calls(
        [sqlite_query(db, timeout=0.5)],
        [
            ("sqlite_query", {"sql": "DROP TABLE products"}),
            ("sqlite_query", {"sql": f"ATTACH DATABASE '{db.parent}/x.db' AS x"}),
            ("sqlite_query", {"sql": "PRAGMA query_only = OFF"}),
            ("sqlite_query", {"sql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"}),
            ("sqlite_query", {"sql": "SELECT count(*) AS n FROM products"}),
        ],
    )
    assert result.output == "done"
    assert [m.is_error for m in messages] == [True, True, True, True, False]
    assert "read-only" in messages[0].content and "ATTACH" in messages[1].content
    assert "query_only" in messages[2].content and "was stopped" in messages[3].content
    assert "| 300 |" in messages[4].content
    assert _digest(db) == before and not (db.parent / "x.db").exists()
