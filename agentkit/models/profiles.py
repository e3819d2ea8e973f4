"""Provider profiles: everything that differs between OpenAI-compatible chat APIs, as data.

The one chat-completions client (``openai_chat.py``) reads a :class:`Profile` to decide how a
field is named, which settings a provider rejects, how ``tool_choice`` is spelled, how tool-call
ids must look and how message order must be fixed. Adding a provider means adding a profile, not
an ``if provider == ...`` in the loop.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Profile", "OPENAI", "OPENAI_COMPATIBLE", "warn_dropped"]

WireMessages = list[dict[str, Any]]


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
        allowed_fields: when set, any top-level body field outside it is removed (for
            providers that reject unknown fields).
        map_tool_call_id: rewrites tool-call ids on the way out (same input, same output).
        fix_messages: last pass over the wire messages (e.g. order fixes).
    """

    name: str
    max_tokens_field: str = "max_tokens"
    renames: Mapping[str, str] = field(default_factory=dict)
    unsupported: frozenset[str] = frozenset()
    tool_choice_map: Mapping[str, str] = field(default_factory=dict)
    send_tool_strict: bool = True
    stream_usage_option: bool = True
    allowed_fields: frozenset[str] | None = None
    map_tool_call_id: Callable[[str], str] | None = None
    fix_messages: Callable[[WireMessages], WireMessages] | None = None


OPENAI = Profile(
    name="openai",
    max_tokens_field="max_completion_tokens",
    unsupported=frozenset({"top_k", "min_p", "top_a", "repetition_penalty"}),
)
"""OpenAI's own API: ``max_completion_tokens``; no top_k/min_p/top_a/repetition_penalty."""

OPENAI_COMPATIBLE = Profile(name="openai-compatible")
"""Any OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...): every field passed as is."""


_warned: set[tuple[str, str]] = set()


def warn_dropped(provider: str, fields: list[str]) -> None:
    """Warn once per provider and field that a setting was not sent."""
    new = [f for f in fields if (provider, f) not in _warned]
    if not new:
        return
    _warned.update((provider, f) for f in new)
    warnings.warn(
        f"{provider} does not accept {', '.join(new)}; not sent. "
        f"Build the model with strict_settings=True to make this an error.",
        UserWarning,
        stacklevel=4,
    )
