"""What the stores share: the protocol, the version error, lazy imports and the extras' install hints."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import agentkit.sessions
from agentkit.errors import UserError
from agentkit.messages import Message, UserMessage
from agentkit.sessions import InMemorySession, Session, SessionVersionError

ROOT = Path(__file__).parent.parent.parent


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_agentkit_and_its_sessions_imports_no_database_client() -> None:
    heavy = ("sqlite3", "_sqlite3", "psycopg", "psycopg_pool", "redis")
    code = f"import sys, agentkit; a = [m for m in {heavy!r} if m in sys.modules]; import agentkit.sessions; "
    code += f"b = [m for m in {heavy!r} if m in sys.modules]; print(a, b)"
    assert run(code) == "[] []"


@pytest.mark.parametrize(
    ("blocked", "make", "extra"),
    [
        ("psycopg", "PostgresSession('postgresql://localhost/db', 's')", "postgres"),
        ("psycopg_pool", "PostgresSession('postgresql://localhost/db', 's')", "postgres"),
        ("redis", "RedisSession('redis://localhost', 's')", "redis"),
    ],
)
def test_a_missing_client_library_names_the_extra(blocked: str, make: str, extra: str) -> None:
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from agentkit.sessions import PostgresSession, RedisSession\n"
        f"try:\n    {make}\nexcept ImportError as e:\n    print(e)\n"
    )
    assert f"pip install 'agentkit-loop[{extra}]'" in run(code)


def test_the_protocol_is_checked_at_runtime() -> None:
    class Custom:
        async def get_messages(self, limit: int | None = None) -> list[Message]:
            return []

        async def add_messages(self, messages: Sequence[Message]) -> None:
            pass

        async def pop_message(self) -> Message | None:
            return None

        async def clear(self) -> None:
            pass

    assert isinstance(Custom(), Session)
    assert not isinstance(object(), Session)


def test_the_version_error_says_to_upgrade() -> None:
    error = SessionVersionError("the SQLite file x.db", 7)
    assert isinstance(error, UserError)
    assert (error.found, error.supported) == (7, agentkit.sessions.SCHEMA_VERSION)
    assert "newer agentkit" in str(error) and "pip install -U agentkit-loop" in str(error)


async def test_in_memory_session_starts_with_messages_and_shares_them() -> None:
    first = UserMessage(content="hi")
    async with InMemorySession([first]) as session:
        assert await session.get_messages() == [first]
        assert (await session.get_messages())[0] is first  # stored as given, not copied
        assert repr(session) == "InMemorySession(<1 messages>)"
    with pytest.raises(UserError):
        InMemorySession(["not a message"])  # type: ignore[list-item]


def test_every_public_name_has_a_docstring() -> None:
    for name in agentkit.sessions.__all__:
        obj = getattr(agentkit.sessions, name)
        if name != "SCHEMA_VERSION":
            assert obj.__doc__, name
    for cls in (
        agentkit.sessions.SQLiteSession,
        agentkit.sessions.PostgresSession,
        agentkit.sessions.RedisSession,
        InMemorySession,
    ):
        for method in ("get_messages", "add_messages", "pop_message", "clear", "close"):
            assert getattr(cls, method).__doc__, f"{cls.__name__}.{method}"
