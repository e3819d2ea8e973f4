"""Typed events: what ``agent.run_stream()`` and ``agent.iter()`` yield while a run is under way.

Every event carries ``turn`` (the model request it belongs to, from 1); tool events also carry
``tool_call_id``. Models yield the first six kinds while a response streams in; the loop adds
tool execution (started, progress, result as each call ends), handoffs, partial and final output.
Every event also carries ``path`` and ``agent``: which agent it came from — a sub-agent used as
a tool streams its events into its parent's stream, each marked with its path.

``agent.iter()`` yields *steps* instead, one per decision of the loop: :class:`ModelRequestStep`,
:class:`ModelResponseStep`, :class:`ToolCallsStep`, :class:`ToolResultsStep` and
:class:`FinalResultStep` — and :class:`AgentHandoff` when the run passes to another agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union

from .usage import Usage

if TYPE_CHECKING:
    from ._exchange import ModelRequest, ModelResponse
    from .messages import ToolCall, ToolMessage

__all__ = [
    "TextDelta",
    "ReasoningDelta",
    "ToolCallStarted",
    "ToolCallArgsDelta",
    "ToolCallReady",
    "ResponseComplete",
    "ToolExecutionStarted",
    "ToolProgress",
    "ToolResult",
    "AgentHandoff",
    "PartialOutput",
    "FinalOutput",
    "ModelStreamEvent",
    "AgentEvent",
    "ModelRequestStep",
    "ModelResponseStep",
    "ToolCallsStep",
    "ToolResultsStep",
    "FinalResultStep",
    "Step",
]

T = TypeVar("T")


class _FromAgent:
    """Where an event came from: ``path`` names the agents from the outermost run to the one that
    produced it (``("lead", "researcher")`` for a sub-agent used as a tool; an agent without a
    name is ``"agent"``); :attr:`agent` is the last of them."""

    __slots__ = ()
    path: tuple[str, ...]

    @property
    def agent(self) -> str | None:
        """The name of the agent this event came from (``path[-1]``)."""
        return self.path[-1] if self.path else None


@dataclass
class TextDelta(_FromAgent):
    """A piece of the model's answer text."""

    text: str
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class ReasoningDelta(_FromAgent):
    """A piece of the model's reasoning (kept apart from the answer)."""

    text: str
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class ToolCallStarted(_FromAgent):
    """The model began a tool call: its name and id are known, arguments follow."""

    tool_call_id: str
    name: str
    index: int = 0
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class ToolCallArgsDelta(_FromAgent):
    """A fragment of a tool call's JSON arguments."""

    tool_call_id: str
    delta: str
    index: int = 0
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class ToolCallReady(_FromAgent):
    """A tool call is complete. ``arguments`` is the parsed JSON (None if it is not valid JSON;
    ``raw_arguments`` has the text either way)."""

    tool_call_id: str
    name: str
    arguments: Any
    raw_arguments: str
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class ResponseComplete(_FromAgent):
    """The model's response for this turn is complete."""

    response: ModelResponse
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)

    @property
    def finish_reason(self) -> str | None:
        """Why the model stopped (``stop``, ``tool_calls``, ``length``, ...)."""
        return self.response.finish_reason

    @property
    def usage(self) -> Usage:
        """What this one response used."""
        return self.response.usage


@dataclass
class ToolExecutionStarted(_FromAgent):
    """A tool call began to run (its arguments are validated as part of the call)."""

    tool_call_id: str
    name: str
    arguments: str
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class ToolProgress(_FromAgent):
    """A running tool reported progress (``await ctx.report_progress(...)``)."""

    tool_call_id: str
    name: str
    message: str
    progress: float | None = None
    total: float | None = None
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class ToolResult(_FromAgent):
    """A tool call finished: ``content`` is what the model will read; ``is_error`` marks failures.

    Streams yield it the moment each call ends (completion order); the history keeps call order.
    """

    tool_call_id: str
    name: str
    content: str
    is_error: bool = False
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class AgentHandoff(_FromAgent):
    """The run passed from one agent to another (the model called a ``transfer_to_...`` tool):
    the requests from here on are the new agent's. Both a stream event and a step; its ``path``
    is already the new agent's."""

    from_agent: str
    to_agent: str
    tool_call_id: str = ""
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class PartialOutput(Generic[T], _FromAgent):
    """Structured output so far, parsed from incomplete JSON.

    ``data`` is the parsed partial JSON; ``output`` the typed value when the partial data already
    validates against ``output_type`` (None until then).
    """

    data: Any
    output: T | None = None
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class FinalOutput(Generic[T], _FromAgent):
    """The run's final, validated output."""

    output: T
    turn: int = 0
    usage: Usage = field(default_factory=Usage)
    path: tuple[str, ...] = field(default=(), compare=False)


ModelStreamEvent = Union[TextDelta, ReasoningDelta, ToolCallStarted, ToolCallArgsDelta, ToolCallReady, ResponseComplete]
"""What a model yields while streaming; the last event is always :class:`ResponseComplete`."""

AgentEvent = Union[
    ModelStreamEvent, ToolExecutionStarted, ToolProgress, ToolResult, AgentHandoff, PartialOutput[Any], FinalOutput[Any]
]
"""Anything ``agent.run_stream()`` yields."""


# -- steps: what agent.iter() yields -----------------------------------------------------------


@dataclass
class ModelRequestStep(_FromAgent):
    """A model request is about to be sent (history processors and hooks already applied)."""

    request: ModelRequest
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class ModelResponseStep(_FromAgent):
    """The model answered (the assistant message is already in the history)."""

    response: ModelResponse
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class ToolCallsStep(_FromAgent):
    """The calls of this turn that are about to run (approved, known tools, not the output tool)."""

    calls: list[ToolCall]
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class ToolResultsStep(_FromAgent):
    """The results of this turn's calls, in call order (already in the history)."""

    results: list[ToolMessage]
    turn: int = 0
    path: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class FinalResultStep(Generic[T], _FromAgent):
    """The run's final, validated output; the last step."""

    output: T
    turn: int = 0
    usage: Usage = field(default_factory=Usage)
    path: tuple[str, ...] = field(default=(), compare=False)


Step = Union[ModelRequestStep, ModelResponseStep, ToolCallsStep, ToolResultsStep, AgentHandoff, FinalResultStep[Any]]
"""Anything ``agent.iter()`` yields."""
