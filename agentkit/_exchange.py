"""One model exchange, provider-neutral: :class:`ModelRequest` in, :class:`ModelResponse` out.

Plain data, below both :mod:`agentkit.events` (whose ``ResponseComplete`` carries a response) and
:mod:`agentkit.models.base` (the ``Model`` interface), so neither imports the other for them.
Import them from :mod:`agentkit.models`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .messages import AssistantMessage, Message
from .output import OutputFormat
from .settings import ModelSettings
from .tools import ToolDefinition
from .usage import Usage

__all__ = ["ModelRequest", "ModelResponse"]


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
