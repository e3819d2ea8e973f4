"""The Model interface: one request in neutral types, one response back.

Everything provider-specific happens behind :meth:`Model.request`; the agent loop only sees
:class:`ModelRequest` and :class:`ModelResponse`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..messages import AssistantMessage, Message
from ..output import OutputFormat
from ..settings import ModelSettings
from ..tools import ToolDefinition
from ..usage import Usage

__all__ = ["Model", "ModelRequest", "ModelResponse"]


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

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections the model owns (no-op by default)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_name!r})"
