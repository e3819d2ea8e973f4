"""The Model interface: one request in neutral types, one response back.

Everything provider-specific happens behind :meth:`Model.request`; the agent loop only sees
:class:`ModelRequest` and :class:`ModelResponse`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

from ..events import (
    ModelStreamEvent,
    ReasoningDelta,
    ResponseComplete,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallReady,
    ToolCallStarted,
)
from ..messages import AssistantMessage, Message
from ..output import OutputFormat
from ..settings import ModelSettings
from ..tools import ToolDefinition
from ..usage import Usage

__all__ = ["Model", "ModelRequest", "ModelResponse", "events_from_response"]


@dataclass
class ModelRequest:
    """One request, provider-neutral.

    ``tools`` is a tuple the agent builds once; models may cache its wire form by identity.
    ``output`` asks for JSON-schema output (``response_format``) when set; ``output_tool`` names
    the tool among ``tools`` that carries the final answer in tool output mode.
    """

    messages: Sequence[Message]
    tools: tuple[ToolDefinition, ...] = ()
    settings: ModelSettings = field(default_factory=ModelSettings)
    output: OutputFormat | None = None
    output_tool: str | None = None


@dataclass
class ModelResponse:
    """One answer: the assistant message, what it used, and why it stopped."""

    message: AssistantMessage
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    model_name: str | None = None
    response_id: str | None = None


class Model(ABC):
    """A chat model the agent can talk to. Subclass it to add a provider or a fake.

    Implementations must never put an API key into a repr, an exception or a log line.
    """

    model_name: str = ""
    provider: str = ""

    @abstractmethod
    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send one request and return the parsed answer (raising ``ProviderError`` on failure)."""

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        """Send one request and yield events as the answer arrives; the last is ``ResponseComplete``.

        The default makes one :meth:`request` and replays its answer as events, so every model
        can stream; HTTP models override it to stream for real.
        """
        response = await self.request(request)
        for event in events_from_response(response):
            yield event

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections the model owns (no-op by default)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_name!r})"


def events_from_response(response: ModelResponse) -> list[ModelStreamEvent]:
    """The events a streamed version of ``response`` would have produced, ending in ``ResponseComplete``."""
    message = response.message
    events: list[ModelStreamEvent] = []
    if message.reasoning:
        events.append(ReasoningDelta(message.reasoning))
    if message.content:
        events.append(TextDelta(message.content))
    for index, call in enumerate(message.tool_calls):
        events.append(ToolCallStarted(call.id, call.name, index))
        if call.arguments:
            events.append(ToolCallArgsDelta(call.id, call.arguments, index))
    for call in message.tool_calls:
        try:
            parsed = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError:
            parsed = None
        events.append(ToolCallReady(call.id, call.name, parsed, call.arguments))
    events.append(ResponseComplete(response))
    return events
