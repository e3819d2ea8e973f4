"""The Session contract, run over every store (memory, SQLite, PostgreSQL, Redis): round trips, order,
limit, pop, clear, isolation, concurrent writers, writers in two processes, the schema version."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio

from agentkit.errors import UserError
from agentkit.messages import Message, UserMessage, message_list_adapter
from agentkit.sessions import Session, SessionVersionError
from tests.sessions.conftest import Store
from tests.sessions.messages import every_kind, rows_written
from tests.sessions.writer import batch

ROOT = Path(__file__).parent.parent.parent


def texts(messages: list[Message]) -> list[str]:
    return [str(m.content) for m in messages]


def user(*contents: str) -> list[Message]:
    return [UserMessage(content=c) for c in contents]


async def test_every_store_is_a_session(store: Store) -> None:
    assert isinstance(store.session(), Session)


async def test_every_kind_of_message_survives_the_round_trip(store: Store) -> None:
    session = store.session()
    await session.add_messages(every_kind())
    got = await session.get_messages()
    assert got == every_kind()
    assert [m.model_dump() for m in got] == [m.model_dump() for m in every_kind()]
    assert [type(m) for m in got] == [type(m) for m in every_kind()]
    # and through a session object of its own (a fresh connection, a fresh parse)
    assert await store.session().get_messages() == every_kind()


async def test_messages_keep_their_order_across_calls(store: Store) -> None:
    session = store.session()
    await session.add_messages(user("a"))
    await session.add_messages(user("b", "c", "d"))
    await session.add_messages([])
    await session.add_messages(user("e"))
    assert texts(await session.get_messages()) == ["a", "b", "c", "d", "e"]


async def test_limit_returns_the_last_messages_oldest_first(store: Store) -> None:
    session = store.session()
    await session.add_messages(user(*"abcde"))
    assert texts(await session.get_messages(limit=2)) == ["d", "e"]
    assert texts(await session.get_messages(limit=1)) == ["e"]
    assert await session.get_messages(limit=0) == []
    assert texts(await session.get_messages(limit=5)) == list("abcde")
    assert texts(await session.get_messages(limit=50)) == list("abcde")
    assert texts(await session.get_messages(limit=None)) == list("abcde")


async def test_pop_removes_and_returns_the_last_message(store: Store) -> None:
    session = store.session()
    await session.add_messages(every_kind()[:4])
    popped = await session.pop_message()
    assert popped == every_kind()[3]
    assert await session.get_messages() == every_kind()[:3]
    await session.add_messages(user("after"))  # numbering goes on after a pop
    assert texts(await session.get_messages(limit=1)) == ["after"]
    assert len(await session.get_messages()) == 4


async def test_clear_empties_the_session(store: Store) -> None:
    session = store.session()
    await session.add_messages(user("a", "b"))
    await session.clear()
    assert await session.get_messages() == []
    assert await session.pop_message() is None
    await session.add_messages(user("c"))
    assert texts(await session.get_messages()) == ["c"]


async def test_an_empty_session(store: Store) -> None:
    session = store.session("never-written")
    assert await session.get_messages() == []
    assert await session.get_messages(limit=3) == []
    assert await session.pop_message() is None
    await session.clear()
    await session.add_messages([])
    assert await session.get_messages() == []


async def test_sessions_are_isolated(store: Store) -> None:
    one, two = store.session("one"), store.session("two")
    await one.add_messages(user("1a", "1b"))
    await two.add_messages(user("2a"))
    assert texts(await one.get_messages()) == ["1a", "1b"]
    assert texts(await two.get_messages()) == ["2a"]
    await two.clear()
    assert await two.pop_message() is None
    assert texts(await one.get_messages()) == ["1a", "1b"]
    assert texts(await store.session("one").get_messages()) == ["1a", "1b"]  # the same id: the same session


async def test_wrong_arguments_are_user_errors(store: Store) -> None:
    session = store.session()
    with pytest.raises(UserError, match="limit"):
        await session.get_messages(limit=-1)
    with pytest.raises(UserError, match="sequence of messages"):
        await session.add_messages("hello")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="agentkit messages"):
        await session.add_messages([{"role": "user", "content": "hi"}])  # type: ignore[list-item]
    with pytest.raises(UserError, match="agentkit messages"):  # all or nothing: the good one is not written either
        await session.add_messages([UserMessage(content="ok"), "bad"])  # type: ignore[list-item]
    assert await session.get_messages() == []


def _assert_each_once_in_writer_order(messages: list[Message], writers: list[str], count: int) -> None:
    seen = texts(messages)
    assert len(seen) == len(set(seen)), "a message was written twice"
    for writer in writers:
        expected = [str(m.content) for i in range(count) for m in batch(writer, i)]
        assert [t for t in seen if t.split(":")[0] == writer] == expected, f"{writer}'s messages are missing or out of order"
    assert len(seen) == len(writers) * sum(len(batch("w", i)) for i in range(count))


async def test_100_concurrent_writers_to_one_session_lose_nothing(store: Store) -> None:
    writers = [f"w{n}" for n in range(100)]

    async def write(writer: str) -> None:
        session = store.session()  # a session object of its own, as concurrent runs would have
        for i in range(3):
            await session.add_messages(batch(writer, i))

    await asyncio.gather(*(write(w) for w in writers))
    messages = await store.session().get_messages()
    _assert_each_once_in_writer_order(messages, writers, 3)
    seen = texts(messages)
    first = seen.index("w7:0")  # a call's messages are contiguous (all or nothing, in one transaction)
    assert seen[first : first + 2] == ["w7:0", "w7:0:b"]


async def test_100_concurrent_writers_to_100_sessions_lose_nothing(store: Store) -> None:
    async def write(n: int) -> None:
        session = store.session(f"s{n}")
        for i in range(3):
            await session.add_messages(batch(f"w{n}", i))

    await asyncio.gather(*(write(n) for n in range(100)))
    for n in range(100):
        _assert_each_once_in_writer_order(await store.session(f"s{n}").get_messages(), [f"w{n}"], 3)


async def test_two_processes_append_to_one_session_at_once(persistent: Store, tmp_path: Path) -> None:
    """Two OS processes make 300 calls each to the same session (for SQLite: a new file, created by both)."""
    go, count = tmp_path / "go", 300
    store = [persistent.kind, persistent.address, persistent.session_id("shared"), persistent.key_prefix]
    processes = [
        subprocess.Popen(  # noqa: ASYNC220 (started and waited for in the test's own time)
            [sys.executable, "-m", "tests.sessions.writer", *store, writer, str(count), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for writer in ("p1", "p2")
    ]
    for process in processes:  # both have imported agentkit and opened the session
        assert process.stdout and process.stdout.readline() == "ready\n", process.communicate()
    go.touch()
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    messages = await persistent.session("shared").get_messages()
    _assert_each_once_in_writer_order(messages, ["p1", "p2"], count)
    seen = texts(messages)
    last = f"{count - 1}"
    assert seen.index(f"p1:{last}") > seen.index("p2:0") and seen.index(f"p2:{last}") > seen.index("p1:0"), "no overlap"


async def test_a_store_from_a_newer_agentkit_is_refused(persistent: Store) -> None:
    session = persistent.session()
    await session.add_messages(user("written by this version"))
    await session.close()  # type: ignore[attr-defined]
    await _write_schema_version(persistent, 99)
    try:
        for call in ("get_messages", "add_messages", "pop_message", "clear"):
            fresh = persistent.session()
            args = (user("x"),) if call == "add_messages" else ()
            with pytest.raises(SessionVersionError, match="upgrade agentkit") as caught:
                await getattr(fresh, call)(*args)
            assert caught.value.found == 99 and caught.value.supported == 1
            assert isinstance(caught.value, UserError)
            await fresh.close()  # type: ignore[attr-defined]
    finally:
        await _write_schema_version(persistent, 1)
    assert texts(await persistent.session().get_messages()) == ["written by this version"]  # nothing was changed


async def _write_schema_version(store: Store, version: int) -> None:
    """Write a schema version by hand, as another agentkit would; sessions opened after it see it."""
    if store.kind == "sqlite":
        with sqlite3.connect(store.address) as db:
            db.execute("UPDATE agentkit_meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    elif store.kind == "postgres":
        async with await psycopg.AsyncConnection.connect(store.address, autocommit=True) as db:
            await db.execute("UPDATE agentkit_meta SET value = %s WHERE key = 'schema_version'", (str(version),))
    else:
        client = redis.asyncio.Redis.from_url(store.address)
        await client.set(f"{store.key_prefix}:schema_version", version)
        await client.aclose()


async def test_a_10000_message_session_loads_in_one_query(persistent: Store) -> None:
    session = persistent.session("long")
    for start in range(0, 10_000, 2_500):
        await session.add_messages(user(*(f"m{i}" for i in range(start, start + 2_500))))
    reader = persistent.session("long")
    await reader.get_messages(limit=1)  # connected, schema checked
    async with count_queries(persistent, reader) as queries:
        messages = await reader.get_messages()
    assert queries() == 1
    assert len(messages) == 10_000 and texts(messages[:2]) == ["m0", "m1"] and texts(messages[-1:]) == ["m9999"]
    async with count_queries(persistent, reader) as queries:
        assert texts(await reader.get_messages(limit=3)) == ["m9997", "m9998", "m9999"]
    assert queries() == 1


@contextlib.asynccontextmanager
async def count_queries(store: Store, session: Session) -> AsyncIterator[Callable[[], int]]:
    """How many statements (SQLite), queries (Postgres) or commands (Redis) the block sends."""
    if store.kind == "sqlite":
        statements: list[str] = []
        worker = session._worker  # type: ignore[attr-defined]
        await worker.call(lambda connection: connection.set_trace_callback(statements.append))
        yield lambda: len(statements)
        await worker.call(lambda connection: connection.set_trace_callback(None))
    elif store.kind == "postgres":
        executed: list[object] = []
        execute = psycopg.AsyncConnection.execute

        async def counting(self: psycopg.AsyncConnection[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
            executed.append(query)
            return await execute(self, query, *args, **kwargs)

        psycopg.AsyncConnection.execute = counting  # type: ignore[method-assign]
        try:
            yield lambda: len(executed)
        finally:
            psycopg.AsyncConnection.execute = execute  # type: ignore[method-assign]
    else:
        client = redis.asyncio.Redis.from_url(store.address)

        async def calls() -> int:
            stats = await client.info("commandstats")
            return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")

        before = await calls()
        counted: list[int] = []
        yield lambda: counted[0]
        counted.append(await calls() - before)
        await client.aclose()


def test_the_v1_rows_of_every_kind_are_frozen() -> None:
    """The rows schema version 1 writes (tests/sessions/schema_v1.json): every later agentkit must read them."""
    frozen = json.loads((Path(__file__).parent / "schema_v1.json").read_text(encoding="utf-8"))
    assert frozen["schema_version"] == 1
    assert [m.model_dump_json() for m in every_kind()] == rows_written(frozen["rows"])  # content parts: typed
    assert [message_list_adapter().validate_json(f"[{row}]")[0] for row in frozen["rows"]] == every_kind()  # v1 rows load
