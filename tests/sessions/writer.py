"""A writer in a process of its own: appends numbered messages to one session, one call at a time.

    python -m tests.sessions.writer KIND ADDRESS SESSION_ID KEY_PREFIX WRITER COUNT GO_FILE

Opens the session, prints ``ready``, waits until GO_FILE exists (so that every writer starts at
once), then makes COUNT ``add_messages`` calls: call ``i`` adds ``WRITER:i`` as a user message,
and every third call also an assistant message ``WRITER:i:b`` (so some calls write two rows).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from agentkit.messages import AssistantMessage, Message, UserMessage
from agentkit.sessions import InMemorySession, PostgresSession, RedisSession, Session, SQLiteSession


def open_session(kind: str, address: str, session_id: str, key_prefix: str) -> Session:
    """A session of the given store (``memory``, ``sqlite``, ``postgres``, ``redis``)."""
    if kind == "sqlite":
        return SQLiteSession(address, session_id)
    if kind == "postgres":
        return PostgresSession(address, session_id)
    if kind == "redis":
        return RedisSession(address, session_id, key_prefix=key_prefix)
    assert kind == "memory", kind
    return InMemorySession()


def batch(writer: str, i: int) -> list[Message]:
    """What call ``i`` of ``writer`` adds."""
    messages: list[Message] = [UserMessage(content=f"{writer}:{i}")]
    if i % 3 == 0:
        messages.append(AssistantMessage(content=f"{writer}:{i}:b"))
    return messages


async def main(kind: str, address: str, session_id: str, key_prefix: str, writer: str, count: int, go: str) -> None:
    session = open_session(kind, address, session_id, key_prefix)
    await session.get_messages(limit=1)  # connected (and the store created) before the start
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(go):  # noqa: ASYNC240 (a start line, polled)
        if time.monotonic() > deadline:
            raise SystemExit("no go")
        await asyncio.sleep(0.001)
    for i in range(count):
        await session.add_messages(batch(writer, i))
    await session.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    kind, address, session_id, key_prefix, writer, count, go = sys.argv[1:]
    asyncio.run(main(kind, address, session_id, key_prefix, writer, int(count), go))
