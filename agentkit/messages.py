"""The conversation: typed messages that round-trip through JSON.

These are agentkit's own, provider-neutral types. A model client turns them into its
provider's wire format and parses answers back into them, so a conversation started with one
provider can continue with another.

>>> from agentkit.messages import dump_messages, load_messages
>>> text = dump_messages(result.messages)        # JSON text
>>> messages = load_messages(text)               # back to typed messages
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from .content import ContentPart, UserContent, legacy_content

__all__ = [
    "ToolCall",
    "SystemMessage",
    "UserMessage",
    "AssistantMessage",
    "ToolMessage",
    "Message",
    "message_list_adapter",
    "dump_messages",
    "load_messages",
]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ToolCall(_Base):
    """A call the model asked for. ``arguments`` is the JSON text exactly as the model sent it
    (it may be invalid; the loop reports that back to the model)."""

    id: str
    name: str
    arguments: str = ""


class SystemMessage(_Base):
    """Instructions for the model (the agent's ``instructions`` become one)."""

    role: Literal["system"] = "system"
    content: str


class UserMessage(_Base):
    """A user turn: text, or a list of strings and content parts (:class:`~agentkit.ImageUrl`,
    :class:`~agentkit.DocumentUrl`, :class:`~agentkit.AudioUrl`, :class:`~agentkit.BinaryContent`).

    Each model client maps the parts to its provider's format. Content stored as wire dicts
    (``{"type": "image_url", ...}``, agentkit's format before typed parts) loads as typed parts.
    """

    role: Literal["user"] = "user"
    content: Union[str, list[UserContent]]

    @field_validator("content", mode="before")
    @classmethod
    def _typed_parts(cls, value: Any) -> Any:
        return legacy_content(value)


class AssistantMessage(_Base):
    """A model turn: text, tool calls, or both.

    ``reasoning`` holds the model's reasoning text when the provider returns it (kept apart from
    ``content``); ``refusal`` a refusal message; ``provider_details`` provider-specific fields kept
    verbatim (e.g. OpenRouter's ``provider``, ``native_finish_reason``, ``reasoning_details``).
    ``prefix=True`` (as the last message) asks providers that support it (Mistral) to continue
    this text rather than start a new answer.
    """

    role: Literal["assistant"] = "assistant"
    content: Union[str, None] = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    reasoning: Union[str, None] = None
    refusal: Union[str, None] = None
    provider_details: dict[str, Any] = Field(default_factory=dict)
    prefix: bool = False


class ToolMessage(_Base):
    """The result of one tool call, linked to it by ``tool_call_id``.

    ``is_error`` marks results that report a failure back to the model (bad arguments, unknown
    tool, the tool raised); it is agentkit's bookkeeping and is not sent on the wire.
    ``attachments`` holds the images and files the tool returned (``content`` its text): sent in
    the tool result where the provider accepts them there, else in a user message right after
    the tool results (see ``docs/multimodal.md``).
    """

    role: Literal["tool"] = "tool"
    tool_call_id: str
    content: str
    name: Union[str, None] = None
    is_error: bool = False
    attachments: list[ContentPart] = Field(default_factory=list, exclude_if=lambda parts: not parts)


Message = Annotated[
    Union[SystemMessage, UserMessage, AssistantMessage, ToolMessage],
    Field(discriminator="role"),
]
"""Any message of a conversation, discriminated by ``role``."""


@lru_cache(maxsize=1)
def message_list_adapter() -> TypeAdapter[list[Message]]:
    """A pydantic ``TypeAdapter`` for ``list[Message]`` (``dump_json`` / ``validate_json``)."""
    return TypeAdapter(list[Message])


def dump_messages(messages: Sequence[Message]) -> str:
    """Serialize a conversation to JSON text."""
    return message_list_adapter().dump_json(list(messages)).decode()


def load_messages(data: str | bytes) -> list[Message]:
    """Parse a conversation from JSON text made by :func:`dump_messages`."""
    return message_list_adapter().validate_json(data)
