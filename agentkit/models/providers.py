"""Configured chat models, one class per provider: where the key and endpoint come from.

Each class is :class:`~.openai_chat.OpenAIChatModel` with the provider's profile, base URL and
environment variables. A missing key raises :class:`~agentkit.errors.MissingAPIKeyError` naming
the variable, before any request. Every class also takes the keyword options of
:class:`~agentkit.models._http.ClientOptions` (headers, http_client, max_retries,
max_retry_wait, timeout, idle_timeout, strict_settings).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from typing_extensions import Unpack

from ..errors import MissingAPIKeyError
from ._http import ClientOptions
from .openai_chat import OpenAIChatModel
from .profiles import MISTRAL, OPENAI, OPENAI_COMPATIBLE, Profile, openrouter_profile

__all__ = ["OpenAICompatible", "OpenAI", "OpenRouter", "Mistral", "Endpoint", "resolve_key", "openrouter_options"]

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
MISTRAL_BASE_URL = "https://api.mistral.ai/v1"
OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Endpoint:
    """Where a provider lives: its name, the prefix of its environment variables, its public URL."""

    label: str
    env: str
    default_url: str

    def resolve(self, api_key: str | None, base_url: str | None) -> tuple[str, str]:
        """``(base_url, api_key)`` from the arguments, else ``{env}_BASE_URL`` / ``{env}_API_KEY``;
        a missing key raises :class:`MissingAPIKeyError` naming the variable."""
        url = base_url or os.environ.get(f"{self.env}_BASE_URL") or self.default_url
        return url, resolve_key(api_key, f"{self.env}_API_KEY", self.label)


OPENAI_ENDPOINT = Endpoint("OpenAI", "OPENAI", OPENAI_BASE_URL)
OPENROUTER_ENDPOINT = Endpoint("OpenRouter", "OPENROUTER", OPENROUTER_BASE_URL)
MISTRAL_ENDPOINT = Endpoint("Mistral", "MISTRAL", MISTRAL_BASE_URL)


def resolve_key(api_key: str | None, env_var: str, provider: str) -> str:
    """``api_key``, else the environment variable, else :class:`MissingAPIKeyError`."""
    key = api_key or os.environ.get(env_var)
    if not key:
        raise MissingAPIKeyError(provider, env_var)
    return key


def openrouter_options(app_url: str | None, app_name: str | None, options: ClientOptions) -> ClientOptions:
    """``options`` with OpenRouter's app attribution headers (``HTTP-Referer``, ``X-Title``) added,
    from the arguments or ``OPENROUTER_APP_URL`` / ``OPENROUTER_APP_NAME``."""
    headers: dict[str, str] = {}
    url = app_url or os.environ.get("OPENROUTER_APP_URL")
    name = app_name or os.environ.get("OPENROUTER_APP_NAME")
    if url:
        headers["HTTP-Referer"] = url
    if name:
        headers["X-Title"] = name
    headers.update(options.get("headers") or {})
    return {**options, "headers": headers}


class OpenAICompatible(OpenAIChatModel):
    """Any OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, LM Studio, ...).

    >>> OpenAICompatible("qwen2.5", base_url="http://127.0.0.1:8000/v1")
    """

    def __init__(
        self,
        model_name: str,
        base_url: str,
        api_key: str | None = None,
        *,
        profile: Profile = OPENAI_COMPATIBLE,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(model_name, base_url=base_url, api_key=api_key, profile=profile, **options)


class OpenAI(OpenAIChatModel):
    """OpenAI's chat-completions API. Key from ``api_key`` or ``OPENAI_API_KEY``; base URL from
    ``base_url``, ``OPENAI_BASE_URL`` or the public endpoint."""

    def __init__(
        self, model_name: str, api_key: str | None = None, base_url: str | None = None, **options: Unpack[ClientOptions]
    ) -> None:
        url, key = OPENAI_ENDPOINT.resolve(api_key, base_url)
        super().__init__(
            model_name,
            base_url=url,
            api_key=key,
            profile=OPENAI,
            provider="openai",
            **options,
        )


class OpenRouter(OpenAIChatModel):
    """OpenRouter (Mistral Nemo, Mistral Large 3 and hundreds of other models).

    Key from ``api_key`` or ``OPENROUTER_API_KEY``; base URL from ``base_url``,
    ``OPENROUTER_BASE_URL`` or the public endpoint. ``app_url`` / ``app_name`` (or
    ``OPENROUTER_APP_URL`` / ``OPENROUTER_APP_NAME``) are sent as ``HTTP-Referer`` / ``X-Title``.
    Use :class:`~agentkit.settings.OpenRouterSettings` for fallback ``models``, ``provider``
    routing, ``reasoning`` and ``plugins``.
    """

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        base_url: str | None = None,
        app_url: str | None = None,
        app_name: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        url, key = OPENROUTER_ENDPOINT.resolve(api_key, base_url)
        super().__init__(
            model_name,
            base_url=url,
            api_key=key,
            profile=openrouter_profile(model_name),
            provider="openrouter",
            **openrouter_options(app_url, app_name, options),
        )


class Mistral(OpenAIChatModel):
    """Mistral's own API. Key from ``api_key`` or ``MISTRAL_API_KEY``; base URL from ``base_url``,
    ``MISTRAL_BASE_URL`` or the public endpoint. Use :class:`~agentkit.settings.MistralSettings`
    for ``safe_prompt``, ``prompt_mode``, ``prediction`` and ``reasoning_effort``; settings Mistral
    does not accept are dropped with a warning (an error with ``strict_settings=True``)."""

    def __init__(
        self, model_name: str, api_key: str | None = None, base_url: str | None = None, **options: Unpack[ClientOptions]
    ) -> None:
        url, key = MISTRAL_ENDPOINT.resolve(api_key, base_url)
        super().__init__(
            model_name,
            base_url=url,
            api_key=key,
            profile=MISTRAL,
            provider="mistral",
            **options,
        )
