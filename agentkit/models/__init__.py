"""Model clients. Import what you use; HTTP machinery loads only when a client is built.

* :class:`OpenAICompatible` — any OpenAI-compatible chat-completions server.
* :class:`OpenAI` — OpenAI's API (``OPENAI_API_KEY``).
* :class:`OpenRouter` — OpenRouter (``OPENROUTER_API_KEY``).
* :class:`Mistral` — Mistral's API (``MISTRAL_API_KEY``).
* :class:`OpenAIResponses`, :class:`OpenRouterResponses` — the Responses API (``/responses``);
  :class:`ResponsesModel` for any other server that speaks it.
* :class:`Model`, :class:`ModelRequest`, :class:`ModelResponse` — the interface, to write your own.
* :func:`infer_model` — ``"provider:model"`` strings.
* :class:`Profile`, :class:`MediaRules` — what differs between providers, as data (a profile's
  ``media`` says which images, documents and audio its API takes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._content_map import MediaRules
from .base import Model, ModelRequest, ModelResponse
from .fallback import AllModelsFailed, FallbackModel
from .profiles import MISTRAL, OPENAI, OPENAI_COMPATIBLE, OPENROUTER, Profile
from .registry import infer_model, known_providers, register_provider

if TYPE_CHECKING:
    from .openai_chat import OpenAIChatModel
    from .providers import Mistral, OpenAI, OpenAICompatible, OpenRouter
    from .responses import OpenAIResponses, OpenRouterResponses, ResponsesModel

__all__ = [
    "Model",
    "ModelRequest",
    "ModelResponse",
    "Profile",
    "MediaRules",
    "OPENAI",
    "OPENAI_COMPATIBLE",
    "OpenAIChatModel",
    "OpenAICompatible",
    "OpenAI",
    "OpenRouter",
    "Mistral",
    "ResponsesModel",
    "OpenAIResponses",
    "OpenRouterResponses",
    "OPENROUTER",
    "MISTRAL",
    "FallbackModel",
    "AllModelsFailed",
    "infer_model",
    "known_providers",
    "register_provider",
]

_LAZY = {"OpenAIChatModel": "openai_chat", "OpenAICompatible": "providers", "OpenAI": "providers",
         "OpenRouter": "providers", "Mistral": "providers", "ResponsesModel": "responses",
         "OpenAIResponses": "responses", "OpenRouterResponses": "responses"}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'agentkit.models' has no attribute {name!r}")
