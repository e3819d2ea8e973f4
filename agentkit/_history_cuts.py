"""Where a history may be cut: turns, tool-call groups, the messages that are always kept.

Internal to :mod:`agentkit.history`. A *cut* at index ``i`` keeps ``messages[i:]`` (plus the
pinned messages before ``i``). A cut is valid when no tool-call group straddles it: a group runs
from an assistant message that calls tools to the last tool message answering one of its calls,
and a cut inside one moves back to the group's start (so calls and results stay together, and no
tool message is left without its call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .messages import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage

__all__ = ["Layout", "layout"]


@dataclass(frozen=True)
class Layout:
    """One history, analysed.

    Attributes:
        starts: for each index, the valid cut at or before it (the start of the tool-call
            group the index is inside, else the index itself).
        pinned: the indices always kept (the leading system messages, the first user message).
        turns: the index where each turn starts (each user message after the leading system
            messages), group-adjusted, ascending, without duplicates.
        users: the indices of those user messages.
    """

    size: int
    starts: tuple[int, ...]
    pinned: tuple[int, ...]
    turns: tuple[int, ...]
    users: tuple[int, ...]

    def valid(self, cut: int) -> int:
        """``cut`` moved back to the start of the tool-call group it is inside (``size`` stays)."""
        return cut if cut >= self.size else self.starts[cut]

    def keep(
        self, messages: Sequence[Message], cut: int, extra: Sequence[Message] = (), also: Sequence[int] = ()
    ) -> list[Message]:
        """The pinned messages before ``cut`` (and the indices ``also``), then ``extra``, then ``messages[cut:]``."""
        cut = self.valid(cut)
        head = sorted({i for i in (*self.pinned, *also) if i < cut})
        return [*(messages[i] for i in head), *extra, *messages[cut:]]


def layout(messages: Sequence[Message], *, keep_system: bool = True, keep_first_user: bool = True) -> Layout:
    """Analyse ``messages``: valid cuts, pinned messages and turn starts."""
    size = len(messages)
    reach = list(range(size))  # reach[a]: the last tool result of assistant a's calls
    call_at: dict[str, int] = {}
    for j, m in enumerate(messages):
        if isinstance(m, AssistantMessage):
            for call in m.tool_calls:
                call_at[call.id] = j
        elif isinstance(m, ToolMessage):
            a = call_at.get(m.tool_call_id)
            if a is not None and j > reach[a]:
                reach[a] = j
    starts: list[int] = []
    span_start, span_end = 0, -1
    for i in range(size):
        if i <= span_end:  # inside a (merged) group: a cut here moves to its start
            starts.append(span_start)
            span_end = max(span_end, reach[i])
        else:
            starts.append(i)
            span_start, span_end = i, reach[i]
    leading = 0
    while leading < size and isinstance(messages[leading], SystemMessage):
        leading += 1
    users = [i for i in range(leading, size) if isinstance(messages[i], UserMessage)]
    pinned = list(range(leading)) if keep_system else []
    if keep_first_user and users:
        pinned.append(users[0])
    turns = sorted({starts[i] for i in users})
    return Layout(size, tuple(starts), tuple(pinned), tuple(turns), tuple(users))


def steps(messages: Sequence[Message], lay: Layout, after: int) -> list[int]:
    """The valid cuts after index ``after`` where a model step begins (an assistant message)."""
    return [i for i in range(after + 1, lay.size) if isinstance(messages[i], AssistantMessage) and lay.starts[i] == i]
