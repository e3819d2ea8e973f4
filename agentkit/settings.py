"""ModelSettings: every request parameter of the chat-completions APIs agentkit speaks.

Unset fields (``None``) are left out of the request. An agent's settings are defaults; a run's
settings override them field by field (``agent_settings.merge(run_settings)``). Each provider's
profile decides how a field is named on the wire, or whether that provider accepts it at all.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ModelSettings", "ToolChoice"]

ToolChoice = Union[Literal["auto", "none", "required"], str]
"""``"auto"``, ``"none"``, ``"required"``, or the name of one tool to force."""


class ModelSettings(BaseModel):
    """Request parameters; every field is optional and unset ones are not sent.

    Misspelt or wrongly typed fields raise ``pydantic.ValidationError`` at once.
    ``extra_body`` is merged into the request body last (for parameters agentkit has no field
    for); ``extra_headers`` is added to the request's headers.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    tool_choice: Union[ToolChoice, None] = None
    """``auto`` | ``none`` | ``required`` | a tool name. After a forced choice (required or a
    name) has been answered with a tool call, the next turns use ``auto`` unless the agent was
    made with ``reset_tool_choice=False``."""
    parallel_tool_calls: Union[bool, None] = None
    """Whether the model may return several tool calls in one turn (sent only with tools)."""
    temperature: Union[float, None] = Field(default=None, ge=0)
    top_p: Union[float, None] = Field(default=None, ge=0, le=1)
    top_k: Union[int, None] = Field(default=None, ge=0)
    min_p: Union[float, None] = Field(default=None, ge=0, le=1)
    top_a: Union[float, None] = Field(default=None, ge=0, le=1)
    repetition_penalty: Union[float, None] = Field(default=None, gt=0, le=2)
    frequency_penalty: Union[float, None] = Field(default=None, ge=-2, le=2)
    presence_penalty: Union[float, None] = Field(default=None, ge=-2, le=2)
    stop: Union[str, list[str], None] = None
    seed: Union[int, None] = None
    max_tokens: Union[int, None] = Field(default=None, ge=1)
    """Upper bound on generated tokens (sent as ``max_completion_tokens`` where the provider
    wants that name)."""
    logit_bias: Union[dict[str, float], None] = None
    """Token id (as a string) → bias from -100 to 100."""
    logprobs: Union[bool, None] = None
    top_logprobs: Union[int, None] = Field(default=None, ge=0, le=20)
    extra_body: Union[dict[str, Any], None] = None
    extra_headers: Union[dict[str, str], None] = None

    def merge(self, override: ModelSettings | None) -> ModelSettings:
        """These settings with every field that ``override`` sets (not None) replaced."""
        if override is None:
            return self
        update = {k: v for k, v in override.__dict__.items() if v is not None}
        if not update:
            return self
        return self.model_copy(update=update)

    def request_fields(self) -> dict[str, Any]:
        """The set sampling fields, by their neutral names (no tool_choice/extras)."""
        return {k: v for k, v in self.__dict__.items() if v is not None and k not in _NOT_SAMPLING}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if v is not None)
        return f"ModelSettings({fields})"


_NOT_SAMPLING = frozenset({"tool_choice", "parallel_tool_calls", "extra_body", "extra_headers"})
