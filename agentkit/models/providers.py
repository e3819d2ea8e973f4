"""Configured chat models, one class per provider: where the key and endpoint come from.

Each class is :class:`~.openai_chat.OpenAIChatModel` with the provider's profile, base URL and
environment variables (the endpoint facts come from the provider registry, :mod:`agentkit._providers`).
The key is checked at the first request, not when the model is built: a missing key raises
:class:`~agentkit.errors.MissingAPIKeyError` naming the variable then, before anything is sent.
Every class also takes ``context_length=`` (tokens; default: the known one for the model id,
see :data:`agentkit.history.CONTEXT_LENGTHS`) and the keyword options of :class:`~agentkit._http.client.ClientOptions`
(headers, http_client, max_retries, retry_rate_limits, max_retry_wait, timeout, idle_timeout,
strict_settings, transport).
"""

from __future__ import annotations

from typing_extensions import Unpack

from .. import _providers
from .._http.client import ClientOptions
from .._providers import MISTRAL_BASE_URL, OPENAI_BASE_URL, OPENROUTER_BASE_URL
from .openai_chat import OpenAIChatModel
from .profiles import MISTRAL, OPENAI, OPENAI_COMPATIBLE, Profile, openrouter_profile

__all__ = [
    "OpenAICompatible",
    "OpenAI",
    "OpenRouter",
    "Mistral",
    "openrouter_options",
    "OPENAI_BASE_URL",
    "OPENROUTER_BASE_URL",
    "MISTRAL_BASE_URL",
]


def openrouter_options(app_url: str | None, app_name: str | None, options: ClientOptions) -> ClientOptions:
    """``options`` with OpenRouter's app attribution headers (``HTTP-Referer``, ``X-Title``) added,
    from the arguments or ``OPENROUTER_APP_URL`` / ``OPENROUTER_APP_NAME``."""
    headers = _providers.openrouter_headers(app_url, app_name)
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
        context_length: int | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(
            model_name, base_url=base_url, api_key=api_key, profile=profile, context_length=context_length, **options
        )


class OpenAI(OpenAIChatModel):
    """OpenAI's chat-completions API. Key from ``api_key`` or ``OPENAI_API_KEY`` (checked at the
    first request); base URL from ``base_url``, ``OPENAI_BASE_URL`` or the public endpoint."""

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        context_length: int | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        endpoint = _providers.endpoint("openai")
        super().__init__(
            model_name,
            base_url=endpoint.base_url(base_url),
            api_key=api_key,
            api_key_env=endpoint.key_env,
            profile=OPENAI,
            provider="openai",
            context_length=context_length,
            **options,
        )


class OpenRouter(OpenAIChatModel):
    """OpenRouter (Mistral Nemo, Mistral Large 3 and hundreds of other models).

    Key from ``api_key`` or ``OPENROUTER_API_KEY`` (checked at the first request); base URL from
    ``base_url``, ``OPENROUTER_BASE_URL`` or the public endpoint. ``app_url`` / ``app_name`` (or
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
        context_length: int | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        endpoint = _providers.endpoint("openrouter")
        super().__init__(
            model_name,
            base_url=endpoint.base_url(base_url),
            api_key=api_key,
            api_key_env=endpoint.key_env,
            profile=openrouter_profile(model_name),
            provider="openrouter",
            context_length=context_length,
            **openrouter_options(app_url, app_name, options),
        )


class Mistral(OpenAIChatModel):
    """Mistral's own API. Key from ``api_key`` or ``MISTRAL_API_KEY`` (checked at the first request);
    base URL from ``base_url``, ``MISTRAL_BASE_URL`` or the public endpoint. Use :class:`~agentkit.settings.MistralSettings`
    for ``safe_prompt``, ``prompt_mode``, ``prediction`` and ``reasoning_effort``; settings Mistral
    does not accept are dropped with a warning (an error with ``strict_settings=True``)."""

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        context_length: int | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        endpoint = _providers.endpoint("mistral")
        super().__init__(
            model_name,
            base_url=endpoint.base_url(base_url),
            api_key=api_key,
            api_key_env=endpoint.key_env,
            profile=MISTRAL,
            provider="mistral",
            context_length=context_length,
            **options,
        )
