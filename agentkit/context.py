"""RunContext: what a tool can know about the run that calls it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

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
