"""SQLiteSession: the file (WAL, tables, schema v1 layout), its thread, busy waits, crashes, listing, the default path."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agentkit.errors import UserError
from agentkit.messages import UserMessage
from agentkit.sessions import SessionInfo, SQLiteSession, default_sessions_path
from tests.sessions.messages import every_kind, rows_written

ROOT = Path(__file__).parent.parent.parent
FROZEN = json.loads((Path(__file__).parent / "schema_v1.json").read_text(encoding="utf-8"))

# schema version 1 as written by agentkit 0.1: a later agentkit must read such a file
V1_TABLES = (
    "CREATE TABLE agentkit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE agentkit_sessions (session_id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL)",
    "CREATE TABLE agentkit_messages (id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " data TEXT NOT NULL, UNIQUE (session_id, seq))",
)


async def test_the_file_is_in_wal_mode_with_one_numbered_row_per_message(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "sessions.db"  # folders are created
    async with SQLiteSession(path, "chat") as session:
        await session.add_messages(every_kind()[:3])
        await session.add_messages(every_kind()[3:])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT value FROM agentkit_meta WHERE key = 'schema_version'").fetchone() == ("1",)
        rows = db.execute("SELECT seq, data FROM agentkit_messages WHERE session_id = 'chat' ORDER BY seq").fetchall()
    assert [seq for seq, _ in rows] == list(range(1, len(every_kind()) + 1))
    assert [data for _, data in rows] == rows_written(FROZEN["rows"])


async def test_reads_a_file_written_by_schema_v1(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as db:
        for statement in V1_TABLES:
            db.execute(statement)
        db.execute("INSERT INTO agentkit_meta VALUES ('schema_version', '1')")
        db.execute("INSERT INTO agentkit_sessions VALUES ('old', 1700000000.0, 1700000001.0)")
        db.executemany(
            "INSERT INTO agentkit_messages (session_id, seq, data) VALUES ('old', ?, ?)", list(enumerate(FROZEN["rows"], 1))
        )
    async with SQLiteSession(path, "old") as session:
        assert await session.get_messages() == every_kind()
        await session.add_messages([UserMessage(content="new")])
        assert len(await session.get_messages()) == len(every_kind()) + 1


async def test_a_file_that_is_not_sqlite_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, not a database\n" * 100)
    async with SQLiteSession(path, "s") as session:
        with pytest.raises(UserError, match="not a SQLite database"):
            await session.get_messages()


async def test_every_call_runs_on_the_files_thread_shared_by_its_sessions(tmp_path: Path) -> None:
    one, two = SQLiteSession(tmp_path / "s.db", "one"), SQLiteSession(tmp_path / "s.db", "two")
    other_file = SQLiteSession(tmp_path / "other.db", "one")
    await one.add_messages([UserMessage(content="a")])
    await two.add_messages([UserMessage(content="b")])
    await other_file.get_messages()
    assert one._worker and two._worker and other_file._worker
    thread = one._worker.thread
    assert two._worker.thread is thread and other_file._worker.thread is not thread  # one per file
    threads: set[threading.Thread] = set()
    await one._worker.call(lambda connection: connection.set_trace_callback(lambda _: threads.add(threading.current_thread())))
    await one.get_messages()
    await two.add_messages([UserMessage(content="c")])
    await two.pop_message()
    await one.clear()
    assert threads == {thread}  # never the event loop's thread
    await one.close()
    assert thread.is_alive()  # two still uses it
    await two.close()
    await other_file.close()
    thread.join(timeout=5)
    assert not thread.is_alive()
    again = SQLiteSession(tmp_path / "s.db", "two")
    assert await again.get_messages() == [UserMessage(content="b")]  # opens again
    await again.close()


async def test_memory_sessions_are_shared_in_the_process_until_the_last_closes() -> None:
    one, two = SQLiteSession(":memory:", "a"), SQLiteSession(":memory:", "a")
    await one.add_messages([UserMessage(content="x")])
    assert await two.get_messages() == [UserMessage(content="x")]
    await one.close()
    await two.close()
    async with SQLiteSession(":memory:", "a") as again:
        assert await again.get_messages() == []


async def test_a_writer_waits_for_another_connections_lock(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SQLiteSession(path, "s") as session:
        await session.add_messages([UserMessage(content="first")])
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # another process's long write transaction
        threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
        started = time.monotonic()
        await session.add_messages([UserMessage(content="second")])
        assert time.monotonic() - started >= 0.25
        assert [m.content for m in await session.get_messages()] == ["first", "second"]
        holder.close()


async def test_a_lock_held_past_busy_timeout_fails_the_call_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SQLiteSession(path, "s", busy_timeout=0.1) as session:
        await session.add_messages([UserMessage(content="first")])
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await session.add_messages([UserMessage(content="second")])
        assert [m.content for m in await session.get_messages()] == ["first"]  # readers are not blocked (WAL)
        holder.execute("ROLLBACK")
        holder.close()
        await session.add_messages([UserMessage(content="third")])
        assert [m.content for m in await session.get_messages()] == ["first", "third"]


async def test_a_writer_killed_mid_write_leaves_a_sound_file(tmp_path: Path) -> None:
    """SIGKILL a process while it writes as fast as it can: the file checks out and holds a prefix of its calls, in order."""
    path, go = tmp_path / "s.db", tmp_path / "go"
    writer = subprocess.Popen(  # noqa: ASYNC220 (waited for in the test's own time)
        [sys.executable, "-m", "tests.sessions.writer", "sqlite", str(path), "s", "-", "k", "1000000", str(go)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout and writer.stdout.readline() == "ready\n"
    go.touch()
    await asyncio.sleep(0.4)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    writer.stdout.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    async with SQLiteSession(path, "s") as session:
        seen = [str(m.content) for m in await session.get_messages()]
    calls = [c for c in seen if not c.endswith(":b")]
    assert len(calls) > 10
    assert calls == [f"k:{i}" for i in range(len(calls))]  # nothing lost before the last commit, nothing out of order
    assert seen.count("k:0:b") == 1


async def test_list_and_delete_sessions(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    assert await SQLiteSession.list_sessions(path) == []
    assert not path.exists()  # listing does not create the file
    assert await SQLiteSession.delete_session(path, "nope") is False
    async with SQLiteSession(path, "older") as older, SQLiteSession(path, "newer") as newer:
        await older.add_messages([UserMessage(content="1"), UserMessage(content="2")])
        await asyncio.sleep(0.01)
        await newer.add_messages([UserMessage(content="3")])
        listed = await SQLiteSession.list_sessions(path)
        assert [(s.session_id, s.message_count) for s in listed] == [("newer", 1), ("older", 2)]
        assert all(isinstance(s, SessionInfo) and s.created_at and s.updated_at for s in listed)
        assert listed[1].created_at is not None and listed[1].created_at.tzinfo is not None
        await older.clear()  # a cleared session stays listed
        assert [(s.session_id, s.message_count) for s in await SQLiteSession.list_sessions(path)] == [("older", 0), ("newer", 1)]
        assert await SQLiteSession.delete_session(path, "newer") is True
        assert await SQLiteSession.delete_session(path, "newer") is False
        assert [s.session_id for s in await SQLiteSession.list_sessions(path)] == ["older"]
        assert await newer.get_messages() == []


def test_default_sessions_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_sessions_path() == tmp_path / "agentkit" / "sessions.db"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the spec says absolute: a relative one is ignored
    monkeypatch.setattr(sys, "platform", "linux")
    assert default_sessions_path() == Path.home() / ".local" / "share" / "agentkit" / "sessions.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_sessions_path() == Path.home() / ".local" / "share" / "agentkit" / "sessions.db"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert default_sessions_path() == Path.home() / "Library" / "Application Support" / "agentkit" / "sessions.db"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert default_sessions_path() == tmp_path / "Local" / "agentkit" / "sessions.db"
    assert not (tmp_path / "Local").exists()  # nothing is created


def test_a_session_needs_an_id(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="session_id"):
        SQLiteSession(tmp_path / "s.db", "")
    assert repr(SQLiteSession(tmp_path / "s.db", "x")) == f"SQLiteSession({str(tmp_path / 's.db')!r}, 'x')"
    assert SQLiteSession("~/x.db", "x").path == os.path.expanduser("~/x.db")
