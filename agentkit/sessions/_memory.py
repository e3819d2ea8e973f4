"""InMemorySession: a list in the process, for tests and short-lived programs."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from ..messages import Message
from ._base import check_limit, check_messages

__all__ = ["InMemorySession"]


class InMemorySession:
    """A session kept in a Python list: gone when the process ends.

    The messages are stored as given (not copied): change a message after adding it and the
    session sees the change.

    Args:
        messages: Messages the session starts with.
    """

    def __init__(self, messages: Sequence[Message] = ()) -> None:
        check_messages(messages)
        self._messages: list[Message] = list(messages)

    async def get_messages(self, limit: int | None = None) -> list[Message]:
        """The last ``limit`` messages (all when ``None``), oldest first."""
        if check_limit(limit) is None:
            return list(self._messages)
        return self._messages[len(self._messages) - limit :] if limit else []

    async def add_messages(self, messages: Sequence[Message]) -> None:
        """Append ``messages`` in order."""
        check_messages(messages)
        self._messages.extend(messages)

    async def pop_message(self) -> Message | None:
        """Remove the last message and return it (``None`` when the session is empty)."""
        return self._messages.pop() if self._messages else None

    async def clear(self) -> None:
        """Remove every message."""
        self._messages.clear()

    async def close(self) -> None:
        """Nothing to release (here for symmetry with the other stores)."""

    async def __aenter__(self) -> InMemorySession:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"InMemorySession(<{len(self._messages)} messages>)"
