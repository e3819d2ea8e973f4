"""Model clients. Import what you use; HTTP machinery loads only when a client is built.

* :class:`OpenAICompatible` — any OpenAI-compatible chat-completions server.
* :class:`OpenAI` — OpenAI's API (``OPENAI_API_KEY``).
* :class:`Model`, :class:`ModelRequest`, :class:`ModelResponse` — the interface, to write your own.
* :func:`infer_model` — ``"provider:model"`` strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Model, ModelRequest, ModelResponse
from .profiles import OPENAI, OPENAI_COMPATIBLE, Profile
from .registry import infer_model, known_providers, register_provider

if TYPE_CHECKING:
    from .openai_chat import OpenAI, OpenAIChatModel, OpenAICompatible

__all__ = [
    "Model",
    "ModelRequest",
    "ModelResponse",
    "Profile",
    "OPENAI",
    "OPENAI_COMPATIBLE",
    "OpenAIChatModel",
    "OpenAICompatible",
    "OpenAI",
    "infer_model",
    "known_providers",
    "register_provider",
]

_LAZY = {"OpenAIChatModel", "OpenAICompatible", "OpenAI"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import openai_chat

        return getattr(openai_chat, name)
    raise AttributeError(f"module 'agentkit.models' has no attribute {name!r}")
