"""Configured chat models, one class per provider: where the key and endpoint come from.

Each class is :class:`~.openai_chat.OpenAIChatModel` with the provider's profile, base URL and
environment variables. A missing key raises :class:`~agentkit.errors.MissingAPIKeyError` naming
the variable, before any request.
"""

from __future__ import annotations

import os

import httpx

from ..errors import MissingAPIKeyError
from .openai_chat import OpenAIChatModel
from .profiles import MISTRAL, OPENAI, OPENAI_COMPATIBLE, Profile, openrouter_profile

__all__ = ["OpenAICompatible", "OpenAI", "OpenRouter", "Mistral", "resolve_key"]

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
MISTRAL_BASE_URL = "https://api.mistral.ai/v1"
OPENAI_BASE_URL = "https://api.openai.com/v1"


def resolve_key(api_key: str | None, env_var: str, provider: str) -> str:
    """``api_key``, else the environment variable, else :class:`MissingAPIKeyError`."""
    key = api_key or os.environ.get(env_var)
    if not key:
        raise MissingAPIKeyError(provider, env_var)
    return key


class OpenAICompatible(OpenAIChatModel):
    """Any OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, LM Studio, ...).

    >>> OpenAICompatible("qwen2.5", base_url="http://127.0.0.1:8000/v1")
    """

    def __init__(
        self,
        model_name: str,
        base_url: str,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = 2,
        timeout: float | httpx.Timeout | None = None,
        profile: Profile = OPENAI_COMPATIBLE,
        strict_settings: bool = False,
    ) -> None:
        super().__init__(
            model_name,
            base_url=base_url,
            api_key=api_key,
            headers=headers,
            http_client=http_client,
            profile=profile,
            max_retries=max_retries,
            timeout=timeout,
            strict_settings=strict_settings,
        )


class OpenAI(OpenAIChatModel):
    """OpenAI's chat-completions API. Key from ``api_key`` or ``OPENAI_API_KEY``; base URL from
    ``base_url``, ``OPENAI_BASE_URL`` or the public endpoint."""

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = 2,
        timeout: float | httpx.Timeout | None = None,
        strict_settings: bool = False,
    ) -> None:
        super().__init__(
            model_name,
            base_url=base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL,
            api_key=resolve_key(api_key, "OPENAI_API_KEY", "OpenAI"),
            headers=headers,
            http_client=http_client,
            profile=OPENAI,
            provider="openai",
            max_retries=max_retries,
            timeout=timeout,
            strict_settings=strict_settings,
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
        *,
        headers: dict[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = 2,
        timeout: float | httpx.Timeout | None = None,
        strict_settings: bool = False,
    ) -> None:
        extra: dict[str, str] = {}
        url = app_url or os.environ.get("OPENROUTER_APP_URL")
        name = app_name or os.environ.get("OPENROUTER_APP_NAME")
        if url:
            extra["HTTP-Referer"] = url
        if name:
            extra["X-Title"] = name
        extra.update(headers or {})
        super().__init__(
            model_name,
            base_url=base_url or os.environ.get("OPENROUTER_BASE_URL") or OPENROUTER_BASE_URL,
            api_key=resolve_key(api_key, "OPENROUTER_API_KEY", "OpenRouter"),
            headers=extra,
            http_client=http_client,
            profile=openrouter_profile(model_name),
            provider="openrouter",
            max_retries=max_retries,
            timeout=timeout,
            strict_settings=strict_settings,
        )


class Mistral(OpenAIChatModel):
    """Mistral's own API. Key from ``api_key`` or ``MISTRAL_API_KEY``; base URL from ``base_url``,
    ``MISTRAL_BASE_URL`` or the public endpoint. Use :class:`~agentkit.settings.MistralSettings`
    for ``safe_prompt``, ``prompt_mode``, ``prediction`` and ``reasoning_effort``; settings Mistral
    does not accept are dropped with a warning (an error with ``strict_settings=True``)."""

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = 2,
        timeout: float | httpx.Timeout | None = None,
        strict_settings: bool = False,
    ) -> None:
        super().__init__(
            model_name,
            base_url=base_url or os.environ.get("MISTRAL_BASE_URL") or MISTRAL_BASE_URL,
            api_key=resolve_key(api_key, "MISTRAL_API_KEY", "Mistral"),
            headers=headers,
            http_client=http_client,
            profile=MISTRAL,
            provider="mistral",
            max_retries=max_retries,
            timeout=timeout,
            strict_settings=strict_settings,
        )
