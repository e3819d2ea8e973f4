"""HTTPModel: the base of the chat models that talk to one HTTP API through an :class:`~agentkit._http.client.HTTPClient`."""

from __future__ import annotations

import copy
from typing import Any

from .. import _providers
from .._exchange import ModelRequest
from .._http.client import ClientOptions, connect
from .._http.errors import register_url_secrets
from .._tokens import TokenCounter, check_context_length
from ..tools import ToolDefinition
from ._context import known_context_length
from .base import Model

__all__ = ["HTTPModel"]


class HTTPModel(Model):
    """Base of the models that talk to one HTTP API (chat completions, Responses) through an ``HTTPClient``.

    Args:
        model_name: the provider's model id.
        base_url: the API root.
        api_key: the key, sent as ``Authorization: Bearer ...``.
        provider: the provider's name, for errors.
        options: :class:`~agentkit._http.client.ClientOptions`.
        api_key_env: the environment variable the key comes from when ``api_key`` is None. It is
            read now, or at the first request when it is not set yet: a missing key raises
            :class:`~agentkit.errors.MissingAPIKeyError` then, before anything is sent, so a model
            can be built (an agent defined, its tools listed) without a key.
        context_length: the model's context length in tokens (default: looked up by
            ``model_name`` in :data:`agentkit.history.CONTEXT_LENGTHS`, else unknown).
            When known, a request that cannot fit it raises
            :class:`~agentkit.errors.ContextLengthExceeded` before it is sent.

    ``token_counter`` is the model's :class:`~agentkit.history.TokenCounter`: the context check
    estimates with it, and :func:`~agentkit.history.fit_context` calibrates it with what the
    provider reports.
    """

    def __init__(
        self,
        model_name: str,
        *,
        base_url: str,
        api_key: str | None,
        provider: str,
        options: ClientOptions,
        api_key_env: str | None = None,
        context_length: int | None = None,
    ) -> None:
        self.model_name = model_name
        self.context_length = context_length if context_length is not None else known_context_length(model_name)
        self.token_counter = TokenCounter()
        self.provider = provider
        self.strict_settings = options.get("strict_settings", False)
        known = _providers.get(provider)
        label = known.label if known is not None else provider
        self._http = connect(model_name, base_url, api_key, provider, options, key_env=api_key_env, key_label=label)
        register_url_secrets(base_url)  # a key in its query string (?api_key=...) is a key too
        self._tools_cache: tuple[tuple[ToolDefinition, ...], list[dict[str, Any]]] | None = None

    def _check_context(self, request: ModelRequest) -> None:
        """Raise :class:`~agentkit.errors.ContextLengthExceeded` for a request that cannot fit the
        context length (when it is known; near-free for requests far below it)."""
        if self.context_length is not None:
            check_context_length(request, self.context_length, self.token_counter, self.model_name, self.provider)

    # -- the tools part of a request body, shared by the chat-completions and Responses clients --
    def _body_tools(self, body: dict[str, Any], request: ModelRequest) -> None:
        settings = request.settings
        body["tools"] = self._wire_tools(request.tools)
        if settings.tool_choice is not None:
            body["tool_choice"] = self._wire_tool_choice(settings.tool_choice)
        if settings.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = settings.parallel_tool_calls

    def _wire_tools(self, tools: tuple[ToolDefinition, ...]) -> list[dict[str, Any]]:
        """The tools in this API's form, built once per tuple (the agent sends the same one every turn)."""
        cached = self._tools_cache
        if cached is not None and cached[0] is tools:
            return cached[1]
        wire = [self._wire_tool(t) for t in tools]
        self._tools_cache = (tools, wire)
        return wire

    def _wire_tool(self, tool: ToolDefinition) -> dict[str, Any]:
        raise NotImplementedError

    def _wire_tool_choice(self, choice: str) -> Any:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._http.base_url

    def with_rate_limit_retries(self, enabled: bool) -> Model:
        """This model, or a copy whose client retries 429s or not as ``enabled`` says.

        The copy shares this model's connection pool, settings and key; closing either closes
        the pool. With ``enabled=False`` a 429 raises :class:`~agentkit.errors.RateLimitError`
        at once (other statuses are still retried).
        """
        http = self._http.with_retry_rate_limits(enabled)
        if http is self._http:
            return self
        clone = copy.copy(self)
        clone._http = http
        return clone

    async def aclose(self) -> None:
        """Close the HTTP connections this model opened."""
        await self._http.aclose()
