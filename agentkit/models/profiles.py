"""Provider profiles: everything that differs between OpenAI-compatible chat APIs, as data.

The one chat-completions client (``openai_chat.py``) reads a :class:`Profile` to decide how a
field is named, which settings a provider rejects, how ``tool_choice`` is spelled, how tool-call
ids must look and how message order must be fixed. Adding a provider means adding a profile, not
an ``if provider == ...`` in the loop.
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ._content_map import COMPATIBLE_MEDIA, MISTRAL_MEDIA, OPENAI_CHAT_MEDIA, OPENROUTER_MEDIA, MediaRules

__all__ = [
    "Profile",
    "OPENAI",
    "OPENAI_COMPATIBLE",
    "OPENROUTER",
    "MISTRAL",
    "openrouter_profile",
    "mistral_tool_call_id",
    "bridge_tool_to_user",
    "json_object_schema",
    "warn_dropped",
]

WireMessages = list[dict[str, Any]]
ResponseFormatForm = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Profile:
    """What one provider's chat-completions dialect needs.

    Attributes:
        name: the provider's name (used in errors and warnings).
        max_tokens_field: the wire name for ``ModelSettings.max_tokens``.
        renames: neutral setting name → wire name (e.g. ``seed`` → ``random_seed``).
        unsupported: settings the provider rejects; dropped with one warning (or an error
            when the model is built with ``strict_settings=True``).
        tool_choice_map: neutral ``tool_choice`` value → wire value (e.g. ``required`` → ``any``).
        send_tool_strict: whether ``tools[].function.strict`` is sent.
        stream_usage_option: whether to send ``stream_options.include_usage`` when streaming.
        supports_prefix: whether assistant messages may carry ``prefix: true``.
        allowed_fields: when set, any top-level body field outside it is removed (for
            providers that reject unknown fields).
        map_tool_call_id: rewrites tool-call ids on the way out (same input, same output).
        fix_messages: last pass over the wire messages (e.g. order fixes).
        tool_call_content: what an assistant message that only calls tools carries as
            ``content``: ``"omit"`` (no field) or ``"empty"`` (``""``, which servers whose chat
            template reads ``message.content`` need; both are valid for OpenAI's spec).
        response_format_fallbacks: other forms of ``response_format`` (each made from the
            ``json_schema`` one), tried in order when the server rejects the form before it
            with an error that names ``response_format``; the model keeps the first form
            accepted for its later requests.
        media: the content parts the API takes (images, documents, audio), their spelling,
            media types and size limits, and where a tool's images go (see
            :class:`~._content_map.MediaRules`).
    """

    name: str
    max_tokens_field: str = "max_tokens"
    renames: Mapping[str, str] = field(default_factory=dict)
    unsupported: frozenset[str] = frozenset()
    tool_choice_map: Mapping[str, str] = field(default_factory=dict)
    send_tool_strict: bool = True
    stream_usage_option: bool = True
    supports_prefix: bool = False
    allowed_fields: frozenset[str] | None = None
    map_tool_call_id: Callable[[str], str] | None = None
    fix_messages: Callable[[WireMessages], WireMessages] | None = None
    tool_call_content: Literal["omit", "empty"] = "omit"
    response_format_fallbacks: tuple[ResponseFormatForm, ...] = ()
    media: MediaRules = COMPATIBLE_MEDIA


# --- message fixes and id rules --------------------------------------------------------------

_MISTRAL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def mistral_tool_call_id(call_id: str) -> str:
    """A tool-call id Mistral accepts (9 letters/digits): kept when valid, else derived from a hash.

    Deterministic, so an assistant message and its tool results map to the same id, also for
    histories that came from another provider.
    """
    if _MISTRAL_ID.match(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def bridge_tool_to_user(messages: WireMessages) -> WireMessages:
    """Insert an empty assistant turn where a user message would directly follow a tool result.

    Mistral rejects ``tool`` → ``user`` ("Unexpected role 'user' after role 'tool'", code 3230).
    """
    out: WireMessages = []
    previous = None
    for message in messages:
        role = message.get("role")
        if previous == "tool" and role == "user":
            out.append({"role": "assistant", "content": ""})
        out.append(message)
        previous = role
    return out


def json_object_schema(response_format: dict[str, Any]) -> dict[str, Any]:
    """``{type: json_schema, json_schema: {schema}}`` → ``{type: json_object, schema}``.

    The form llama.cpp's server and llama-cpp-python's take (the latter answers ``json_schema``
    with an error); still a valid ``json_object`` response format for OpenAI's spec.
    """
    inner = response_format.get("json_schema")
    schema = inner.get("schema") if isinstance(inner, dict) else None
    return {"type": "json_object", "schema": schema} if schema is not None else {"type": "json_object"}


# --- the profiles -----------------------------------------------------------------------------

OPENAI = Profile(
    name="openai",
    max_tokens_field="max_completion_tokens",
    unsupported=frozenset({"top_k", "min_p", "top_a", "repetition_penalty"}),
    # CreateChatCompletionRequest's fields: OpenAI answers 400 "Unrecognized request argument" to others
    # (e.g. OpenRouterSettings' models/provider/plugins when a FallbackModel moves to OpenAI)
    allowed_fields=frozenset(
        {
            "audio",
            "frequency_penalty",
            "function_call",
            "functions",
            "logit_bias",
            "logprobs",
            "max_completion_tokens",
            "max_tokens",
            "messages",
            "metadata",
            "modalities",
            "model",
            "moderation",
            "n",
            "parallel_tool_calls",
            "prediction",
            "presence_penalty",
            "prompt_cache_key",
            "prompt_cache_options",
            "prompt_cache_retention",
            "reasoning_effort",
            "response_format",
            "safety_identifier",
            "seed",
            "service_tier",
            "stop",
            "store",
            "stream",
            "stream_options",
            "temperature",
            "tool_choice",
            "tools",
            "top_logprobs",
            "top_p",
            "user",
            "verbosity",
            "web_search_options",
        }
    ),
    media=OPENAI_CHAT_MEDIA,
)
"""OpenAI's own API: ``max_completion_tokens``; no top_k/min_p/top_a/repetition_penalty; an
allow-list of the body fields its spec documents."""

OPENAI_COMPATIBLE = Profile(
    name="openai-compatible",
    tool_call_content="empty",
    response_format_fallbacks=(json_object_schema,),
)
"""Any OpenAI-compatible server (vLLM, llama.cpp, Ollama, LM Studio, ...): every field passed as
is; an assistant message that only calls tools carries ``content: ""`` (llama-cpp-python's
``chatml-function-calling`` template fails on a missing ``content`` and its request model rejects
``null``); native structured output asks for ``json_schema`` and, when the server rejects that
(llama-cpp-python does), for ``json_object`` with the schema."""

OPENROUTER = Profile(name="openrouter", media=OPENROUTER_MEDIA)
"""OpenRouter: every sampling parameter of the seeds, plus models/provider/reasoning/plugins."""

MISTRAL = Profile(
    name="mistral",
    renames={"seed": "random_seed"},
    unsupported=frozenset({"top_k", "min_p", "top_a", "repetition_penalty", "logit_bias", "logprobs", "top_logprobs"}),
    tool_choice_map={"required": "any"},
    stream_usage_option=False,
    supports_prefix=True,
    allowed_fields=frozenset(
        {
            "model",
            "messages",
            "temperature",
            "top_p",
            "max_tokens",
            "stream",
            "stop",
            "random_seed",
            "metadata",
            "response_format",
            "tools",
            "tool_choice",
            "presence_penalty",
            "frequency_penalty",
            "n",
            "prediction",
            "parallel_tool_calls",
            "reasoning_effort",
            "prompt_mode",
            "guardrails",
            "prompt_cache_key",
            "service_tier",
            "safe_prompt",
        }
    ),
    map_tool_call_id=mistral_tool_call_id,
    fix_messages=bridge_tool_to_user,
    media=MISTRAL_MEDIA,
)
"""Mistral's API: an allow-list body (unknown fields are a 422), ``random_seed``, ``any``,
9-character tool-call ids, no ``tool`` → ``user`` adjacency, ``prefix`` assistant messages."""

_OPENROUTER_MISTRAL = replace(OPENROUTER, map_tool_call_id=mistral_tool_call_id, fix_messages=bridge_tool_to_user)


def openrouter_profile(model_name: str) -> Profile:
    """OpenRouter's profile for one model: Mistral models keep Mistral's id and order rules,
    because OpenRouter passes ids and messages through to Mistral unchanged."""
    return _OPENROUTER_MISTRAL if model_name.startswith("mistralai/") else OPENROUTER


_LOGGED_DROPS: set[tuple[str, tuple[str, ...]]] = set()


def warn_dropped(provider: str, fields: list[str]) -> None:
    """Warn that settings were not sent (Python's warning filters show each message once; the
    ``agentkit`` logger's WARNING line too)."""
    key = (provider, tuple(fields))
    if key not in _LOGGED_DROPS and len(_LOGGED_DROPS) < 1000:
        _LOGGED_DROPS.add(key)
        logging.getLogger("agentkit").warning("%s does not accept %s; not sent.", provider, ", ".join(fields))
    warnings.warn(
        f"{provider} does not accept {', '.join(fields)}; not sent. "
        f"Build the model with strict_settings=True to make this an error.",
        UserWarning,
        stacklevel=4,
    )
