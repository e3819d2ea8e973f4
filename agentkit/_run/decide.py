"""Each loop decision is a value: a final answer, tool calls to run, a re-ask, a pause, or a
handoff.

:func:`decide` judges one model message; the tool-call turn (``tool_calls.py``) may end in a
:class:`Final` too (the output tool), a :class:`Pause` (approvals) or a :class:`HandOff` (the
model called a ``transfer_to_...`` tool).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from ..messages import AssistantMessage, ToolCall
from ..output import OutputInvalid
from .spec import RunSpec

if TYPE_CHECKING:
    from ..handoffs import Handoff

__all__ = ["Final", "CallTools", "Reask", "Pause", "HandOff", "Decision", "decide", "unique_call_ids"]


@dataclass(frozen=True)
class Final:
    """The run is over: ``output`` is the validated final answer."""

    output: Any


@dataclass(frozen=True)
class CallTools:
    """Run these calls, then ask the model again (unless the output tool ends the run)."""

    calls: list[ToolCall]


@dataclass(frozen=True)
class Reask:
    """The answer was not acceptable: send ``prompt`` back to the model (counts against ``output_retries``)."""

    prompt: str
    error: OutputInvalid
    raw: str | None


@dataclass(frozen=True)
class Pause:
    """Calls need approval that nobody has given yet: the run pauses before running any of them."""

    pending: list[ToolCall]


@dataclass(frozen=True)
class HandOff:
    """The model called a handoff tool: after this turn's calls, the run goes on with ``target``'s
    agent (``value``: the call's validated input; ``call``, ``index``: which call it was)."""

    target: Handoff
    value: Any
    call: ToolCall
    index: int


Decision = Union[Final, CallTools, Reask, Pause, HandOff]


def decide(spec: RunSpec, message: AssistantMessage) -> Decision:
    """What to do with one model message."""
    if message.tool_calls:
        return CallTools(unique_call_ids(message))
    output = spec.output
    if output is None:
        return Final(message.content or "")
    if output.mode == "tool":  # text instead of the final-result tool: ask again
        missing = OutputInvalid([f"no {output.name!r} call"])
        return Reask(f"Call the {output.name!r} tool to give your final answer.", missing, message.content)
    try:
        if message.refusal and not message.content:
            raise OutputInvalid([f"The model refused: {message.refusal}"])
        return Final(output.parse(message.content))
    except OutputInvalid as e:
        return Reask(output.retry_prompt(e.errors), e, message.content)


def unique_call_ids(message: AssistantMessage) -> list[ToolCall]:
    """The message's calls, with duplicate ids made unique (in the message too), so that a result
    or an approval always names exactly one call."""
    calls = message.tool_calls
    if len(calls) < 2:
        return calls
    seen: set[str] = set()
    if len({c.id for c in calls}) == len(calls):
        return calls
    fixed = []
    for call in calls:
        new_id = call.id
        n = 1
        while new_id in seen:
            n += 1
            new_id = f"{call.id}_{n}"
        seen.add(new_id)
        fixed.append(call if new_id == call.id else call.model_copy(update={"id": new_id}))
    message.tool_calls = fixed
    return fixed
