"""The providers agentkit speaks to: one registry for chat models, embeddings and the CLI.

A :class:`Provider` is what identifies an endpoint — the prefix in model strings, the prefix of
its environment variables (``{env}_API_KEY``, ``{env}_BASE_URL``), its public base URL — and
what can be built on it:

* ``chat``: the chat-model factory behind ``"<name>:<model>"`` strings
  (:func:`agentkit.models.infer_model`; :func:`agentkit.models.register_provider` adds one);
* ``embeddings``: the facts of its embeddings endpoint (:class:`EmbeddingsAPI`), behind
  ``Embedder("<name>:<model>")``;
* ``chat_completions``: whether it speaks the chat-completions dialect whose request format
  ``agentkit tools --provider`` shows.

=====================  ==============  ========================  ====  ==========  ================
name                   env             default base URL          chat  embeddings  chat completions
=====================  ==============  ========================  ====  ==========  ================
openai                 ``OPENAI``      api.openai.com/v1         yes   yes         yes
openrouter             ``OPENROUTER``  openrouter.ai/api/v1      yes   yes         yes
mistral                ``MISTRAL``     api.mistral.ai/v1         yes   yes         yes
openai-compatible      (none)          (none: pass base_url)     no    no          yes
openai-responses       ``OPENAI``      api.openai.com/v1         yes   no          no
openrouter-responses   ``OPENROUTER``  openrouter.ai/api/v1      yes   no          no
=====================  ==============  ========================  ====  ==========  ================

This module sits below :mod:`agentkit.models`, :mod:`agentkit.embeddings` and :mod:`agentkit.cli`
and imports none of them: built-in chat factories are named by import path
(``"agentkit.models.providers:OpenAI"``) and imported the first time a model string needs one.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from .errors import UserError

__all__ = ["Provider", "EmbeddingsAPI", "ChatFactory", "register", "get", "endpoint", "providers", "openrouter_headers"]

ChatFactory = Callable[[str], object]
"""Builds the chat model for a model name (``factory("gpt-4o-mini")``); it must return a ``Model``."""

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
MISTRAL_BASE_URL = "https://api.mistral.ai/v1"


@dataclass(frozen=True)
class EmbeddingsAPI:
    """What one provider's ``/embeddings`` endpoint accepts.

    Attributes:
        dimension_field: the request field for the output dimension (``dimensions`` or ``output_dimension``).
        takes_dtype: whether ``output_dtype`` (int8, uint8, binary, ubinary) is accepted.
        default_encoding: ``encoding_format`` sent for float vectors when the caller chose none
            (None: not sent, the provider's default applies).
        max_inputs: inputs per request at most.
        max_tokens: approximate tokens per request at most (counted as
            :func:`~agentkit.embeddings.batching.approx_tokens` does, an upper estimate).
    """

    dimension_field: str
    takes_dtype: bool
    default_encoding: str | None
    max_inputs: int
    max_tokens: int


@dataclass(frozen=True)
class Provider:
    """One provider endpoint and what agentkit builds on it (see the module docstring).

    Attributes:
        name: the prefix in model strings (``"openai"``), also the ``provider`` of its errors.
        label: the name users know it by, for messages (``"OpenAI"``).
        env: the prefix of its environment variables: ``{env}_API_KEY`` holds the key and
            ``{env}_BASE_URL`` overrides the base URL (None: it has neither).
        default_base_url: the public endpoint (None: a base URL must be given).
        chat: the chat-model factory for ``"<name>:<model>"`` strings, or its import path
            ``"module:attribute"`` (imported on first use); None: no model strings.
        embeddings: its embeddings endpoint, when it has one.
        chat_completions: whether it speaks the chat-completions API (its request format is one
            ``agentkit tools`` can show).
    """

    name: str
    label: str
    env: str | None = None
    default_base_url: str | None = None
    chat: Union[ChatFactory, str, None] = None
    embeddings: EmbeddingsAPI | None = None
    chat_completions: bool = False

    @property
    def key_env(self) -> str | None:
        """The environment variable holding the API key (``OPENAI_API_KEY``), if any."""
        return f"{self.env}_API_KEY" if self.env else None

    @property
    def base_url_env(self) -> str | None:
        """The environment variable overriding the base URL (``OPENAI_BASE_URL``), if any."""
        return f"{self.env}_BASE_URL" if self.env else None

    def base_url(self, given: str | None = None) -> str:
        """``given``, else ``{env}_BASE_URL``, else the public endpoint (``UserError`` when there is none)."""
        url = given or (os.environ.get(self.base_url_env) if self.base_url_env else None) or self.default_base_url
        if not url:
            raise UserError(f"{self.label} has no public endpoint: pass base_url=...")
        return url

    def chat_factory(self) -> ChatFactory | None:
        """The chat-model factory (imported now when ``chat`` is an import path), or None."""
        if isinstance(self.chat, str):
            module, _, attribute = self.chat.partition(":")
            factory: ChatFactory = getattr(importlib.import_module(module), attribute)
            return factory
        return self.chat


def openrouter_headers(app_url: str | None = None, app_name: str | None = None) -> dict[str, str]:
    """OpenRouter's app attribution headers (``HTTP-Referer``, ``X-Title``), from the arguments or
    ``OPENROUTER_APP_URL`` / ``OPENROUTER_APP_NAME``; empty when neither is set."""
    headers: dict[str, str] = {}
    url = app_url or os.environ.get("OPENROUTER_APP_URL")
    name = app_name or os.environ.get("OPENROUTER_APP_NAME")
    if url:
        headers["HTTP-Referer"] = url
    if name:
        headers["X-Title"] = name
    return headers


_REGISTRY: dict[str, Provider] = {}


def register(provider: Provider) -> None:
    """Add ``provider``, or replace the one of the same name (keeping its place in :func:`providers`)."""
    if not isinstance(provider.name, str) or not provider.name or ":" in provider.name:
        raise UserError(f"A provider name must be a non-empty string without ':', not {provider.name!r}.")
    _REGISTRY[provider.name] = provider


def get(name: str) -> Provider | None:
    """The provider called ``name``, or None."""
    return _REGISTRY.get(name)


def endpoint(name: str) -> Provider:
    """The provider called ``name`` (a built-in one: ``KeyError`` would be agentkit's bug)."""
    return _REGISTRY[name]


def providers() -> list[Provider]:
    """Every registered provider, built-in ones first, in registration order."""
    return list(_REGISTRY.values())


for _provider in (
    # base64 by default (float vectors only) for OpenAI, as its own SDK does, and Mistral: a quarter of the
    # bytes, and ~100x faster to parse than JSON number lists (benchmarks/EMBEDDINGS.md); OpenRouter's
    # upstreams may not all support it, so it gets the provider's default there
    Provider(
        "openai",
        "OpenAI",
        "OPENAI",
        OPENAI_BASE_URL,
        chat="agentkit.models.providers:OpenAI",
        embeddings=EmbeddingsAPI("dimensions", False, "base64", max_inputs=2048, max_tokens=250_000),
        chat_completions=True,
    ),
    Provider(
        "openrouter",
        "OpenRouter",
        "OPENROUTER",
        OPENROUTER_BASE_URL,
        chat="agentkit.models.providers:OpenRouter",
        embeddings=EmbeddingsAPI("dimensions", False, None, max_inputs=256, max_tokens=16_000),
        chat_completions=True,
    ),
    Provider(
        "mistral",
        "Mistral",
        "MISTRAL",
        MISTRAL_BASE_URL,
        chat="agentkit.models.providers:Mistral",
        embeddings=EmbeddingsAPI("output_dimension", True, "base64", max_inputs=512, max_tokens=16_000),
        chat_completions=True,
    ),
    Provider("openai-compatible", "OpenAI-compatible server", chat_completions=True),
    Provider("openai-responses", "OpenAI", "OPENAI", OPENAI_BASE_URL, chat="agentkit.models.responses:OpenAIResponses"),
    Provider(
        "openrouter-responses",
        "OpenRouter",
        "OPENROUTER",
        OPENROUTER_BASE_URL,
        chat="agentkit.models.responses:OpenRouterResponses",
    ),
):
    register(_provider)
