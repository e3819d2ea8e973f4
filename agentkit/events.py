"""Typed events: what ``agent.run_stream()`` and ``agent.iter()`` yield while a run is under way.

Every event carries ``turn`` (the model request it belongs to, from 1); tool events also carry
``tool_call_id``. Models yield the first six kinds while a response streams in; the loop adds
tool execution (started, progress, result as each call ends), partial and final output.

``agent.iter()`` yields *steps* instead, one per decision of the loop: :class:`ModelRequestStep`,
:class:`ModelResponseStep`, :class:`ToolCallsStep`, :class:`ToolResultsStep` and
:class:`FinalResultStep`.
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


@dataclass
class TextDelta:
    """A piece of the model's answer text."""

    text: str
    turn: int = 0


@dataclass
class ReasoningDelta:
    """A piece of the model's reasoning (kept apart from the answer)."""

    text: str
    turn: int = 0


@dataclass
class ToolCallStarted:
    """The model began a tool call: its name and id are known, arguments follow."""

    tool_call_id: str
    name: str
    index: int = 0
    turn: int = 0


@dataclass
class ToolCallArgsDelta:
    """A fragment of a tool call's JSON arguments."""

    tool_call_id: str
    delta: str
    index: int = 0
    turn: int = 0


@dataclass
class ToolCallReady:
    """A tool call is complete. ``arguments`` is the parsed JSON (None if it is not valid JSON;
    ``raw_arguments`` has the text either way)."""

    tool_call_id: str
    name: str
    arguments: Any
    raw_arguments: str
    turn: int = 0


@dataclass
class ResponseComplete:
    """The model's response for this turn is complete."""

    response: ModelResponse
    turn: int = 0

    @property
    def finish_reason(self) -> str | None:
        """Why the model stopped (``stop``, ``tool_calls``, ``length``, ...)."""
        return self.response.finish_reason

    @property
    def usage(self) -> Usage:
        """What this one response used."""
        return self.response.usage


@dataclass
class ToolExecutionStarted:
    """A tool call began to run (its arguments are validated as part of the call)."""

    tool_call_id: str
    name: str
    arguments: str
    turn: int = 0


@dataclass
class ToolProgress:
    """A running tool reported progress (``await ctx.report_progress(...)``)."""

    tool_call_id: str
    name: str
    message: str
    progress: float | None = None
    total: float | None = None
    turn: int = 0


@dataclass
class ToolResult:
    """A tool call finished: ``content`` is what the model will read; ``is_error`` marks failures.

    Streams yield it the moment each call ends (completion order); the history keeps call order.
    """

    tool_call_id: str
    name: str
    content: str
    is_error: bool = False
    turn: int = 0


@dataclass
class PartialOutput(Generic[T]):
    """Structured output so far, parsed from incomplete JSON.

    ``data`` is the parsed partial JSON; ``output`` the typed value when the partial data already
    validates against ``output_type`` (None until then).
    """

    data: Any
    output: T | None = None
    turn: int = 0


@dataclass
class FinalOutput(Generic[T]):
    """The run's final, validated output."""

    output: T
    turn: int = 0
    usage: Usage = field(default_factory=Usage)


ModelStreamEvent = Union[TextDelta, ReasoningDelta, ToolCallStarted, ToolCallArgsDelta, ToolCallReady, ResponseComplete]
"""What a model yields while streaming; the last event is always :class:`ResponseComplete`."""

AgentEvent = Union[ModelStreamEvent, ToolExecutionStarted, ToolProgress, ToolResult, PartialOutput[Any], FinalOutput[Any]]
"""Anything ``agent.run_stream()`` yields."""


# -- steps: what agent.iter() yields -----------------------------------------------------------


@dataclass
class ModelRequestStep:
    """A model request is about to be sent (history processors and hooks already applied)."""

    request: ModelRequest
    turn: int = 0


@dataclass
class ModelResponseStep:
    """The model answered (the assistant message is already in the history)."""

    response: ModelResponse
    turn: int = 0


@dataclass
class ToolCallsStep:
    """The calls of this turn that are about to run (approved, known tools, not the output tool)."""

    calls: list[ToolCall]
    turn: int = 0


@dataclass
class ToolResultsStep:
    """The results of this turn's calls, in call order (already in the history)."""

    results: list[ToolMessage]
    turn: int = 0


@dataclass
class FinalResultStep(Generic[T]):
    """The run's final, validated output; the last step."""

    output: T
    turn: int = 0
    usage: Usage = field(default_factory=Usage)


Step = Union[ModelRequestStep, ModelResponseStep, ToolCallsStep, ToolResultsStep, FinalResultStep[Any]]
"""Anything ``agent.iter()`` yields."""
