"""RunContext: what a tool can know about the run that calls it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .events import ToolProgress
from .usage import Usage

if TYPE_CHECKING:
    from .messages import Message

__all__ = ["RunContext", "DepsT"]

DepsT = TypeVar("DepsT")


@dataclass
class RunContext(Generic[DepsT]):
    """Injected into tools that declare a parameter typed ``RunContext`` (or ``RunContext[Deps]``).

    The parameter never appears in the tool's JSON schema.

    Attributes:
        deps: what the caller passed as ``run(..., deps=...)``.
        usage: usage of the run so far.
        messages: the conversation so far (read it; do not modify it).
        turn: the number of the current model turn, from 1.
        tool_name: the tool being called.
        tool_call_id: the id of the call being executed.
        retry: how many times in a row this tool has failed so far in this run.
        model_name: the model the agent talks to.
        metadata: free for your tools to share state within a run.
        agent_name: the name of the agent running (None when it has none).
    """

    deps: DepsT
    usage: Usage = field(default_factory=Usage)
    messages: list[Message] = field(default_factory=list)
    turn: int = 0
    tool_name: str = ""
    tool_call_id: str = ""
    retry: int = 0
    model_name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    agent_name: str | None = None
    progress_sink: Callable[[ToolProgress], None] | None = field(default=None, repr=False, compare=False)
    """Where :meth:`report_progress` sends its reports (set by the loop; None outside a run)."""
    _run: Any = field(default=None, repr=False, compare=False)
    """The run in flight (internal: what an agent used as a tool needs of its parent run)."""

    async def report_progress(self, message: str, *, progress: float | None = None, total: float | None = None) -> None:
        """Tell the caller how the tool is getting on: the stream yields a
        :class:`~agentkit.events.ToolProgress` at once (``fetched 3 of 10 pages``; ``progress=3,
        total=10``). Does nothing when the tool was called outside a run."""
        if not isinstance(message, str):
            raise TypeError(f"report_progress() takes a message string, not {type(message).__name__}")
        if self.progress_sink is not None:
            path = self._run.path if self._run is not None else ()
            self.progress_sink(ToolProgress(self.tool_call_id, self.tool_name, message, progress, total, self.turn, path))
