"""PostgresSession: the tables (schema v1 layout), the shared pool, a pool of one's own, pops in parallel, listing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from agentkit.messages import UserMessage
from agentkit.sessions import PostgresSession, _postgres
from tests.sessions.messages import every_kind, rows_written

FROZEN = json.loads((Path(__file__).parent / "schema_v1.json").read_text(encoding="utf-8"))

# schema version 1 as written by agentkit 0.1: a later agentkit must read such tables
V1_TABLES = (
    "CREATE TABLE agentkit_meta (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE agentkit_sessions (session_id text PRIMARY KEY, last_seq bigint NOT NULL DEFAULT 0,"
    " created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE agentkit_messages (session_id text NOT NULL, seq bigint NOT NULL, data json NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (session_id, seq))",
)


@pytest.fixture
async def schema_dsn(postgres_dsn: str) -> AsyncIterator[str]:
    """A DSN whose tables live in a schema of the test's own (through search_path)."""
    schema = f"t{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as db:
        await db.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    yield f"{postgres_dsn}?options={quote(f'-csearch_path={schema}')}"
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as db:
        await db.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


async def rows(dsn: str, query: str) -> list[tuple[object, ...]]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as db:
        return await (await db.execute(query)).fetchall()  # type: ignore[arg-type]


async def test_tables_are_created_on_first_use_with_one_numbered_row_per_message(schema_dsn: str) -> None:
    async with PostgresSession(schema_dsn, "chat") as session:
        await session.add_messages(every_kind()[:3])
        await session.add_messages(every_kind()[3:])
    assert await rows(schema_dsn, "SELECT value FROM agentkit_meta") == [("1",)]
    stored = await rows(schema_dsn, "SELECT seq, data::text FROM agentkit_messages WHERE session_id = 'chat' ORDER BY seq")
    assert stored == list(enumerate(rows_written(FROZEN["rows"]), 1))  # the JSON text as written (json, not jsonb)
    assert await rows(schema_dsn, "SELECT last_seq FROM agentkit_sessions") == [(len(every_kind()),)]


async def test_reads_tables_written_by_schema_v1(schema_dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(schema_dsn, autocommit=True) as db:
        for statement in V1_TABLES:
            await db.execute(statement)  # type: ignore[arg-type]
        await db.execute("INSERT INTO agentkit_meta VALUES ('schema_version', '1')")
        await db.execute("INSERT INTO agentkit_sessions (session_id, last_seq) VALUES ('old', %s)", (len(FROZEN["rows"]),))
        async with db.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO agentkit_messages (session_id, seq, data) VALUES ('old', %s, %s)", list(enumerate(FROZEN["rows"], 1))
            )
    async with PostgresSession(schema_dsn, "old") as session:
        assert await session.get_messages() == every_kind()
        await session.add_messages([UserMessage(content="new")])
        assert (await session.get_messages(limit=1)) == [UserMessage(content="new")]


async def test_sessions_of_a_dsn_share_one_pool_closed_with_the_last(schema_dsn: str) -> None:
    one, two = PostgresSession(schema_dsn, "one"), PostgresSession(schema_dsn, "two")
    await one.get_messages()
    await two.add_messages([UserMessage(content="x")])
    pool = await one._pool()
    assert pool is await two._pool()
    await one.close()
    assert not pool.closed
    await two.close()
    assert pool.closed
    assert await two.get_messages() == [UserMessage(content="x")]  # a closed session opens again
    assert await two._pool() is not pool
    await two.close()


@pytest.mark.parametrize("autocommit", [True, False])
async def test_a_pool_of_ones_own_is_used_and_left_open(schema_dsn: str, autocommit: bool) -> None:
    async with AsyncConnectionPool(schema_dsn, min_size=1, max_size=4, kwargs={"autocommit": autocommit}, open=False) as pool:
        async with PostgresSession("postgresql://db-for-errors", "mine", pool=pool) as session:
            await session.add_messages([UserMessage(content="a"), UserMessage(content="b")])
            assert await session.pop_message() == UserMessage(content="b")
            assert await session.get_messages() == [UserMessage(content="a")]
            listed = await PostgresSession.list_sessions("-", pool=pool)
            assert [(info.session_id, info.message_count) for info in listed] == [("mine", 1)]
        assert not pool.closed
        assert pool in _postgres._prepared
    async with PostgresSession(schema_dsn, "mine") as again:
        assert [m.content for m in await again.get_messages()] == ["a"]


async def test_concurrent_pops_each_take_a_different_message(schema_dsn: str) -> None:
    async with PostgresSession(schema_dsn, "s") as session:
        await session.add_messages([UserMessage(content=str(i)) for i in range(40)])
        popped = await asyncio.gather(*(PostgresSession(schema_dsn, "s").pop_message() for _ in range(50)))
        contents = sorted(int(str(m.content)) for m in popped if m is not None)
        assert contents == list(range(40)) and popped.count(None) == 10
        assert await session.get_messages() == []


async def test_concurrent_writers_get_gapless_sequence_numbers(schema_dsn: str) -> None:
    sessions = [PostgresSession(schema_dsn, "s") for _ in range(30)]
    await asyncio.gather(
        *(s.add_messages([UserMessage(content=f"{n}a"), UserMessage(content=f"{n}b")]) for n, s in enumerate(sessions))
    )
    seqs = [seq for (seq,) in await rows(schema_dsn, "SELECT seq FROM agentkit_messages ORDER BY seq")]
    assert seqs == list(range(1, 61))
    for session in sessions:
        await session.close()


async def test_list_and_delete_sessions(schema_dsn: str) -> None:
    assert await PostgresSession.list_sessions(schema_dsn) == []
    assert await PostgresSession.delete_session(schema_dsn, "nope") is False
    async with PostgresSession(schema_dsn, "older") as older, PostgresSession(schema_dsn, "newer") as newer:
        await older.add_messages([UserMessage(content="1"), UserMessage(content="2")])
        await newer.add_messages([UserMessage(content="3")])
        listed = await PostgresSession.list_sessions(schema_dsn)
        assert [(s.session_id, s.message_count) for s in listed] == [("newer", 1), ("older", 2)]
        assert listed[0].updated_at is not None and listed[0].updated_at.tzinfo is not None
        assert await PostgresSession.delete_session(schema_dsn, "newer") is True
        assert await PostgresSession.delete_session(schema_dsn, "newer") is False
        assert [s.session_id for s in await PostgresSession.list_sessions(schema_dsn)] == ["older"]
        assert await newer.get_messages() == []


async def test_a_wrong_dsn_fails_with_the_servers_words() -> None:
    session = PostgresSession("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2", "s")
    with pytest.raises(psycopg.OperationalError, match=r"127\.0\.0\.1"):
        await session.get_messages()
    await session.close()


def test_repr_and_errors_never_show_the_password() -> None:
    session = PostgresSession("postgresql://agent:s3cret@db.example:6543/app", "s")
    assert "s3cret" not in repr(session)
    assert repr(session) == "PostgresSession(<the PostgreSQL database app on db.example:6543>, 's')"
