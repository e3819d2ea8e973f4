"""ModelSettings: every request parameter of the chat-completions APIs agentkit speaks.

Unset fields (``None``) are left out of the request. An agent's settings are defaults; a run's
settings override them field by field (``agent_settings.merge(run_settings)``). Each provider's
profile decides how a field is named on the wire, or whether that provider accepts it at all.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_serializer

__all__ = [
    "ModelSettings",
    "ToolChoice",
    "OpenRouterSettings",
    "ProviderRouting",
    "Reasoning",
    "MaxPrice",
    "MistralSettings",
    "Prediction",
]

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
        """These settings with every field that ``override`` sets (not None) replaced.

        Provider settings classes merge with the base class: ``ModelSettings(temperature=0.2)``
        merged with ``OpenRouterSettings(models=[...])`` gives an ``OpenRouterSettings`` with both.
        """
        if override is None:
            return self
        update = {k: v for k, v in override.__dict__.items() if v is not None}
        if not update:
            return self
        if isinstance(override, type(self)) and type(override) is not type(self):
            base = {k: v for k, v in self.__dict__.items() if v is not None}
            return type(override).model_validate({**base, **update})
        if not isinstance(override, type(self)) and not isinstance(self, type(override)):
            raise TypeError(f"cannot merge {type(self).__name__} with {type(override).__name__}")
        return self.model_copy(update=update)

    def request_fields(self) -> dict[str, Any]:
        """The set request fields by their neutral names, as JSON-ready values (no tool_choice/extras)."""
        return {
            k: (v.model_dump(exclude_none=True) if isinstance(v, BaseModel) else v)
            for k, v in self.__dict__.items()
            if v is not None and k not in _NOT_SAMPLING
        }

    def __repr_args__(self) -> Any:
        for key, value in self.__dict__.items():
            if value is None:
                continue
            if key == "extra_headers":  # may carry credentials
                value = {name: "***" for name in value}
            yield key, value


_NOT_SAMPLING = frozenset({"tool_choice", "parallel_tool_calls", "extra_body", "extra_headers"})


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    def __repr_args__(self) -> Any:
        return [(k, v) for k, v in self.__dict__.items() if v is not None]


class MaxPrice(_Options):
    """OpenRouter: the most to pay, in USD per million tokens (or per request/image/audio).

    Sent as decimal strings, as OpenRouter's schema specifies.
    """

    prompt: Union[float, None] = None
    completion: Union[float, None] = None
    request: Union[float, None] = None
    image: Union[float, None] = None
    audio: Union[float, None] = None

    @field_serializer("prompt", "completion", "request", "image", "audio")
    def _as_decimal_string(self, value: Union[float, None]) -> Union[str, None]:
        return None if value is None else format(value, "g")


class ProviderRouting(_Options):
    """OpenRouter's ``provider`` object: which upstream providers may serve the request, and how to pick.

    See https://openrouter.ai/docs/features/provider-routing.
    """

    order: Union[list[str], None] = None
    only: Union[list[str], None] = None
    ignore: Union[list[str], None] = None
    allow_fallbacks: Union[bool, None] = None
    require_parameters: Union[bool, None] = None
    """Only route to providers that support every parameter sent (e.g. json_schema output)."""
    data_collection: Union[Literal["allow", "deny"], None] = None
    zdr: Union[bool, None] = None
    """Zero data retention endpoints only."""
    quantizations: Union[list[str], None] = None
    sort: Union[Literal["price", "throughput", "latency"], None] = None
    max_price: Union[MaxPrice, None] = None


class Reasoning(_Options):
    """OpenRouter's ``reasoning`` object: how much the model may think, and whether to return it."""

    effort: Union[Literal["max", "xhigh", "high", "medium", "low", "minimal", "none"], None] = None
    max_tokens: Union[int, None] = None
    exclude: Union[bool, None] = None
    enabled: Union[bool, None] = None


class OpenRouterSettings(ModelSettings):
    """:class:`ModelSettings` plus OpenRouter's own request fields.

    >>> OpenRouterSettings(models=["mistralai/mistral-nemo", "mistralai/mistral-small"],
    ...                    provider=ProviderRouting(sort="price", require_parameters=True))
    """

    models: Union[list[str], None] = None
    """Fallback models, tried in order when the first is unavailable."""
    provider: Union[ProviderRouting, None] = None
    reasoning: Union[Reasoning, None] = None
    plugins: Union[list[dict[str, Any]], None] = None
    """e.g. ``[{"id": "web"}]`` or ``[{"id": "response-healing"}]``."""
    user: Union[str, None] = None
    session_id: Union[str, None] = None


class Prediction(_Options):
    """Predicted output (speculative decoding): text the answer is expected to largely repeat."""

    type: Literal["content"] = "content"
    content: str = ""


class MistralSettings(ModelSettings):
    """:class:`ModelSettings` plus Mistral's own request fields."""

    safe_prompt: Union[bool, None] = None
    """Prepend Mistral's safety prompt."""
    prompt_mode: Union[Literal["reasoning"], None] = None
    prediction: Union[Prediction, None] = None
    reasoning_effort: Union[Literal["none", "minimal", "low", "medium", "high", "xhigh"], None] = None
