"""The one serializable run state, the result of a run, and approval decisions.

``RunState`` is a plain dataclass (the loop updates it on every turn, and a pydantic model would
cost microseconds per change); a pydantic ``TypeAdapter`` reads and writes its JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, Literal, TypeVar, Union, cast

import pydantic
from pydantic import ConfigDict, TypeAdapter

from ..context import RunContext
from ..errors import InvalidRunState
from ..messages import AssistantMessage, Message, ToolCall, ToolMessage, dump_messages
from ..usage import Usage

__all__ = ["RunState", "RunResult", "Approval", "ApprovalCallback", "unanswered"]

OutputT = TypeVar("OutputT")

Approval = Union[bool, str]
"""A decision on a call that needs approval: True approves; False or a reason (str) denies."""

ApprovalCallback = Callable[[ToolCall, RunContext[Any]], Union[Approval, Awaitable[Union[Approval, None]], None]]
"""``approve(call, ctx)`` → a decision, or None to pause the run instead (sync or async)."""


@dataclass
class RunResult(Generic[OutputT]):
    """The outcome of a run.

    Attributes:
        output: the final answer: text, or a value of the agent's ``output_type``.
        messages: the whole conversation, including any history passed in (round-trips through
            JSON with :meth:`messages_json` / :func:`agentkit.messages.load_messages`).
        usage: tokens, requests and tool calls, summed across the run's turns.
        new_message_index: where this run's messages start in ``messages``.
        model_name: the model that gave the final answer, as the provider names it.
        turns: how many model requests the run made.
        agent_name: the name of the agent that gave the final answer.
    """

    output: OutputT
    messages: list[Message]
    usage: Usage
    new_message_index: int = 0
    model_name: str | None = None
    turns: int = 0
    agent_name: str | None = None

    @property
    def new_messages(self) -> list[Message]:
        """The messages this run added (its prompt, the model's turns, tool results)."""
        return self.messages[self.new_message_index :]

    def messages_json(self) -> str:
        """``messages`` as JSON text, to store a conversation and continue it later."""
        return dump_messages(self.messages)

    def to_html(self) -> str:
        """The run as one self-contained HTML page: a timeline, the conversation with its tool
        calls, tokens and cost per step (timings when the run log recorded the run; docs/runlog.md)."""
        from .._runlog_html import result_html

        return result_html(self)


@dataclass
class RunState:
    """Where a run is: its messages, usage, turn and retry counts — serializable.

    ``run.state`` in :meth:`~agentkit.Agent.iter`, and ``ApprovalRequired.state`` for a paused run:
    ``state.model_dump_json()`` / ``RunState.model_validate_json(text)``. Resume a paused run with
    ``agent.run(state=state, approvals={...})`` — in the same process or after a restart
    (``deps`` are not stored: pass them again). Loading checks the state: a negative count, an
    unknown field or JSON that is not a run state raises :class:`~agentkit.errors.InvalidRunState`.

    Attributes:
        messages: the conversation so far.
        usage: what the run used so far.
        turn: how many model requests the run made.
        tool_failures: failed calls in a row, by tool name (against each tool's retry budget).
        output_failures: invalid final answers so far (against ``output_retries``).
        new_message_index: where the run's own messages start in ``messages``.
        approvals: decisions already given for pending calls (kept when a run pauses again on others).
        agent: the name of the agent the run is with (after handoffs; None: the agent it started with).
        handoffs: how many times the run handed off so far.
        nested: the paused runs of sub-agents (``agent.as_tool()``), by the id of the call that runs them.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    messages: list[Message]
    usage: Usage = field(default_factory=Usage)
    turn: int = 0
    tool_failures: dict[str, int] = field(default_factory=dict)
    output_failures: int = 0
    new_message_index: int = 0
    approvals: dict[str, Union[bool, str]] = field(default_factory=dict)
    agent: Union[str, None] = None
    handoffs: int = 0
    nested: dict[str, RunState] = field(default_factory=dict)

    @property
    def pending(self) -> list[ToolCall]:
        """The calls waiting for a decision: those of the last model turn that have no result yet,
        a sub-agent's paused calls in place of the call that runs it."""
        calls: list[ToolCall] = []
        for call in unanswered(self.messages):
            inner = self.nested.get(call.id)
            calls.extend(inner.pending if inner is not None else [call])
        return calls

    def copy(self) -> RunState:
        """An independent copy (the lists and counts; the messages themselves are shared)."""
        return RunState(
            list(self.messages),
            self.usage.copy(),
            self.turn,
            dict(self.tool_failures),
            self.output_failures,
            self.new_message_index,
            dict(self.approvals),
            self.agent,
            self.handoffs,
            {key: inner.copy() for key, inner in self.nested.items()},
        )

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """The state as JSON text (:meth:`model_validate_json` reads it back)."""
        return _adapter().dump_json(self, indent=indent).decode()

    def model_dump(self, *, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """The state as a dict (``mode="json"``: JSON-compatible values only)."""
        return cast("dict[str, Any]", _adapter().dump_python(self, mode=mode))

    @classmethod
    def model_validate_json(cls, data: str | bytes | bytearray) -> RunState:
        """Load a state from JSON text; raises :class:`~agentkit.errors.InvalidRunState` when it is not one."""
        try:
            state = _adapter().validate_json(data)
        except pydantic.ValidationError as e:
            raise InvalidRunState(_explain(e)) from None
        return state.checked()

    @classmethod
    def model_validate(cls, obj: Any) -> RunState:
        """Load a state from Python data (a dict, or a RunState); raises :class:`~agentkit.errors.InvalidRunState`."""
        try:
            state = _adapter().validate_python(obj)
        except pydantic.ValidationError as e:
            raise InvalidRunState(_explain(e)) from None
        return state.checked()

    def checked(self) -> RunState:
        """This state, once its counts are checked; raises :class:`~agentkit.errors.InvalidRunState`."""
        problems = [f"{name} is {value}, must be >= 0" for name, value in self._counts() if value < 0]
        if self.new_message_index > len(self.messages):
            problems.append(f"new_message_index {self.new_message_index} is past the {len(self.messages)} messages")
        if problems:
            raise InvalidRunState("Not a valid RunState: " + "; ".join(problems) + ".")
        for inner in self.nested.values():
            inner.checked()
        return self

    def _counts(self) -> list[tuple[str, int]]:
        usage = self.usage
        counts = [("turn", self.turn), ("output_failures", self.output_failures), ("new_message_index", self.new_message_index)]
        counts.append(("handoffs", self.handoffs))
        counts += [(f"tool_failures[{name!r}]", n) for name, n in self.tool_failures.items()]
        for what in ("prompt_tokens", "completion_tokens", "total_tokens", "requests", "tool_calls"):
            counts.append((f"usage.{what}", getattr(usage, what)))
        return counts


@lru_cache(maxsize=1)
def _adapter() -> TypeAdapter[RunState]:
    return TypeAdapter(RunState)


def _explain(error: pydantic.ValidationError) -> str:
    problems = []
    for err in error.errors(include_url=False)[:10]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return "Not a valid RunState: " + "; ".join(problems) + "."


def unanswered(messages: Sequence[Message]) -> list[ToolCall]:
    """The calls of a final assistant turn that have no tool results yet (a paused run)."""
    answered: set[str] = set()
    for m in reversed(messages):
        if isinstance(m, ToolMessage):
            answered.add(m.tool_call_id)
        elif isinstance(m, AssistantMessage):
            return [c for c in m.tool_calls if c.id not in answered]
        else:
            return []
    return []
