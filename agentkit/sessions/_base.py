"""What every store shares: the ``Session`` protocol, the schema version, the per-message JSON codec."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..errors import UserError
from ..messages import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage, message_list_adapter

__all__ = ["SCHEMA_VERSION", "Session", "SessionInfo", "SessionVersionError"]

SCHEMA_VERSION = 1
"""The layout of the stored data this agentkit writes (tables, keys, one JSON message per row).

Stored with the data (a ``meta`` row, a Redis key) and checked when a store is first used: a
store from an older agentkit is migrated, one from a newer agentkit raises :class:`SessionVersionError`.
"""

_MESSAGE_TYPES = (SystemMessage, UserMessage, AssistantMessage, ToolMessage)


@runtime_checkable
class Session(Protocol):
    """A stored conversation: the messages of one session, oldest first.

    Implementations: :class:`InMemorySession`, :class:`SQLiteSession`, :class:`PostgresSession`,
    :class:`RedisSession`; any object with these four async methods works too.
    """

    async def get_messages(self, limit: int | None = None) -> list[Message]:
        """The last ``limit`` messages (all when ``None``), oldest first."""
        ...

    async def add_messages(self, messages: Sequence[Message]) -> None:
        """Append ``messages`` in order, all or none (one transaction)."""
        ...

    async def pop_message(self) -> Message | None:
        """Remove the last message and return it (``None`` when the session is empty)."""
        ...

    async def clear(self) -> None:
        """Remove every message of the session."""
        ...


@dataclass(frozen=True)
class SessionInfo:
    """One stored session, as ``list_sessions()`` describes it.

    ``created_at`` and ``updated_at`` (UTC) are ``None`` where the store does not keep them (Redis).
    """

    session_id: str
    message_count: int
    created_at: datetime | None = None
    updated_at: datetime | None = None


class SessionVersionError(UserError):
    """The store was written by a newer agentkit (its schema version is unknown to this one).

    ``found`` is the stored version, ``supported`` the newest this agentkit reads. Upgrade agentkit
    (``pip install -U agentkit-loop``) to open it; nothing was changed in the store.
    """

    def __init__(self, store: str, found: int) -> None:
        self.store = store
        self.found = found
        self.supported = SCHEMA_VERSION
        super().__init__(
            f"{store} holds sessions in schema version {found}, written by a newer agentkit; this agentkit reads "
            f"versions up to {SCHEMA_VERSION}: upgrade agentkit (pip install -U agentkit-loop) to open it"
        )


def parse_version(store: str, value: str | bytes | int | None) -> int:
    """The stored schema version (``None`` for a new store: 0); raises :class:`SessionVersionError` when it is newer."""
    if value is None:
        return 0
    try:
        version = int(value)
    except ValueError:
        raise UserError(f"{store}: the stored schema version {value!r} is not a number: this is not an agentkit session store")
    if version > SCHEMA_VERSION:
        raise SessionVersionError(store, version)
    return version


def check_messages(messages: Sequence[Message]) -> None:
    """Raise :class:`UserError` unless ``messages`` is a sequence of agentkit messages."""
    given: object = messages
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise UserError(f"add_messages() takes a sequence of messages, not {type(messages).__name__}")
    for message in messages:
        if not isinstance(message, _MESSAGE_TYPES):
            raise UserError(f"add_messages() takes agentkit messages (agentkit.messages), not {type(message).__name__}")


def encode(messages: Sequence[Message]) -> list[str]:
    """One JSON text per message (the stored form); raises :class:`UserError` for anything that is not a message."""
    check_messages(messages)
    return [message.model_dump_json() for message in messages]


def decode(rows: Iterable[str]) -> list[Message]:
    """Messages from their stored JSON texts, oldest first: one parse for all of them.

    The garbage collector is paused during the parse (when it is on): the parse makes several tracked objects per
    message, none of them garbage, and the collections they would set off on the way (over and over the young ones,
    and now and then the whole heap) cost as much again as the parse on a long session (benchmarks/README.md, Sessions).
    """
    return parse_list("[" + ",".join(rows) + "]")


def parse_list(text: str | bytes) -> list[Message]:
    """A JSON list of messages parsed with the garbage collector paused (see :func:`decode`)."""
    if not gc.isenabled():
        return message_list_adapter().validate_json(text)
    gc.disable()
    try:
        return message_list_adapter().validate_json(text)
    finally:
        gc.enable()


def check_limit(limit: int | None) -> int | None:
    """``limit`` checked: ``None`` or an int of 0 or more."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise UserError(f"get_messages(limit=...) takes None or a whole number of 0 or more, not {limit!r}")
    return limit


def missing_extra(what: str, extra: str, error: ImportError) -> ImportError:
    """The error for a store whose client library is not installed, naming the extra that installs it."""
    return ImportError(f"{what} needs the '{extra}' extra: pip install 'agentkit-loop[{extra}]'  ({error})")
