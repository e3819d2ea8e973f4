"""RedisSession: the keys (schema v1 layout), the expiry, the shared client, a client of one's own, listing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from agentkit.errors import UserError
from agentkit.messages import UserMessage
from agentkit.sessions import RedisSession
from tests.sessions.messages import every_kind, rows_written

FROZEN = json.loads((Path(__file__).parent / "schema_v1.json").read_text(encoding="utf-8"))


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_one_list_per_session_with_one_json_entry_per_message(
    redis_url: str, prefix: str, raw: redis.asyncio.Redis
) -> None:
    async with RedisSession(redis_url, "chat", key_prefix=prefix) as session:
        assert session.key == f"{prefix}:session:chat"
        await session.add_messages(every_kind()[:3])
        await session.add_messages(every_kind()[3:])
    assert await raw.get(f"{prefix}:schema_version") == b"1"
    assert [row.decode() for row in await raw.lrange(f"{prefix}:session:chat", 0, -1)] == rows_written(FROZEN["rows"])  # type: ignore[misc]
    assert await raw.ttl(f"{prefix}:session:chat") == -1  # no ttl: kept until deleted


async def test_reads_keys_written_by_schema_v1(redis_url: str, prefix: str, raw: redis.asyncio.Redis) -> None:
    await raw.set(f"{prefix}:schema_version", "1")
    await raw.rpush(f"{prefix}:session:old", *FROZEN["rows"])  # type: ignore[misc]
    async with RedisSession(redis_url, "old", key_prefix=prefix) as session:
        assert await session.get_messages() == every_kind()


async def test_ttl_is_set_and_refreshed_on_every_write(redis_url: str, prefix: str, raw: redis.asyncio.Redis) -> None:
    async with RedisSession(redis_url, "s", key_prefix=prefix, ttl=100) as session:
        await session.add_messages([UserMessage(content="a")])
        key = session.key
        assert 99_000 < await raw.pttl(key) <= 100_000
        await raw.pexpire(key, 5_000)  # as if time passed
        await session.get_messages()  # reading does not refresh it
        assert await raw.pttl(key) <= 5_000
        await session.add_messages([UserMessage(content="b")])
        assert 99_000 < await raw.pttl(key) <= 100_000
    async with RedisSession(redis_url, "short", key_prefix=prefix, ttl=1.5) as short:  # fractions of a second count
        await short.add_messages([UserMessage(content="gone soon")])
        assert 0 < await raw.pttl(short.key) <= 1_500
    with pytest.raises(UserError, match="ttl"):
        RedisSession(redis_url, "s", ttl=0)


async def test_sessions_of_a_url_share_one_client_closed_with_the_last(redis_url: str, prefix: str) -> None:
    one, two = RedisSession(redis_url, "one", key_prefix=prefix), RedisSession(redis_url, "two", key_prefix=prefix)
    client = await one._client()
    assert client is await two._client()
    await one.close()
    await two.add_messages([UserMessage(content="x")])  # still open
    await two.close()
    assert await two.get_messages() == [UserMessage(content="x")]  # a closed session opens again
    assert await two._client() is not client
    await two.close()


async def test_a_busy_event_loop_does_not_time_a_reply_out(redis_url: str, prefix: str) -> None:
    """redis-py's 5 s read timeout counts the time a busy loop takes to read a reply (50 turns at once over
    10,000-message histories failed with TimeoutError): the session's own client waits a minute."""
    session = RedisSession(redis_url, "busy", key_prefix=prefix)
    await session.add_messages([UserMessage(content="x")])
    client = await session._client()
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 60.0
    assert client.connection_pool.connection_kwargs["socket_connect_timeout"] == 10.0  # a dead server still fails soon
    assert await session.get_messages() == [UserMessage(content="x")]
    await session.close()


async def test_a_client_of_ones_own_is_used_and_left_open(prefix: str, raw: redis.asyncio.Redis) -> None:
    async with RedisSession("redis://for-errors", "mine", key_prefix=prefix, client=raw) as session:
        await session.add_messages([UserMessage(content="a")])
    assert await raw.ping()
    assert await raw.llen(f"{prefix}:session:mine") == 1  # type: ignore[misc]


async def test_list_and_delete_sessions(redis_url: str, prefix: str, raw: redis.asyncio.Redis) -> None:
    assert await RedisSession.list_sessions(redis_url, key_prefix=prefix) == []
    async with (
        RedisSession(redis_url, "b:with:colons", key_prefix=prefix) as b,
        RedisSession(redis_url, "a*", key_prefix=prefix) as a,
    ):
        await b.add_messages([UserMessage(content="1"), UserMessage(content="2")])
        await a.add_messages([UserMessage(content="3")])
        await raw.set(f"{prefix}x:session:elsewhere", "not ours")
        listed = await RedisSession.list_sessions(redis_url, key_prefix=prefix)
        assert [(s.session_id, s.message_count, s.created_at) for s in listed] == [("a*", 1, None), ("b:with:colons", 2, None)]
        assert await RedisSession.delete_session(redis_url, "a*", key_prefix=prefix) is True
        assert await RedisSession.delete_session(redis_url, "a*", key_prefix=prefix) is False
        assert [s.session_id for s in await RedisSession.list_sessions(redis_url, key_prefix=prefix)] == ["b:with:colons"]


def test_repr_never_shows_the_password() -> None:
    session = RedisSession("redis://:s3cret@cache.example:6380/2", "s")
    assert "s3cret" not in repr(session)
    assert repr(session) == "RedisSession(<the Redis server redis://cache.example:6380/2>, 's')"
