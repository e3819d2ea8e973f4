"""The Model interface: one request in neutral types, one response back.

Everything provider-specific happens behind :meth:`Model.request`; the agent loop only sees
:class:`ModelRequest` and :class:`ModelResponse` (defined in :mod:`agentkit._exchange`, below
both this module and :mod:`agentkit.events`, and re-exported here).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator

from .._exchange import ModelRequest, ModelResponse
from ..events import (
    ModelStreamEvent,
    ReasoningDelta,
    ResponseComplete,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallReady,
    ToolCallStarted,
)

__all__ = ["Model", "ModelRequest", "ModelResponse", "events_from_response"]


class Model(ABC):
    """A chat model the agent can talk to. Subclass it to add a provider or a fake.

    Implementations must never put an API key into a repr, an exception or a log line.
    """

    model_name: str = ""
    provider: str = ""
    context_length: int | None = None
    """The most tokens a request (prompt plus answer) may have, when known (None: unknown).
    HTTP models take it as ``context_length=`` or look their id up in a table of known models;
    :func:`agentkit.history.fit_context` trims the history to it."""

    @abstractmethod
    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send one request and return the parsed answer (raising ``ProviderError`` on failure)."""

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        """Send one request and yield events as the answer arrives; the last is ``ResponseComplete``.

        The default makes one :meth:`request` and replays its answer as events, so every model
        can stream; HTTP models override it to stream for real.
        """
        response = await self.request(request)
        for event in events_from_response(response):
            yield event

    def with_rate_limit_retries(self, enabled: bool) -> Model:
        """This model, with its own retrying of 429 answers turned on or off.

        With ``enabled=False`` a 429 raises :class:`~agentkit.errors.RateLimitError` at once, for
        a caller that paces requests and handles rate limits itself (``run_many`` does). HTTP
        models return a copy that shares their connection pool (``retry_rate_limits`` of
        :class:`~agentkit._http.client.ClientOptions`); :class:`~.fallback.FallbackModel` maps it
        over its models. The default returns ``self``: a model that does no retrying of its own
        (a test model, say) already raises what it raises.
        """
        return self

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections the model owns (no-op by default)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_name!r})"


def events_from_response(response: ModelResponse) -> list[ModelStreamEvent]:
    """The events a streamed version of ``response`` would have produced, ending in ``ResponseComplete``."""
    message = response.message
    events: list[ModelStreamEvent] = []
    if message.reasoning:
        events.append(ReasoningDelta(message.reasoning))
    if message.content:
        events.append(TextDelta(message.content))
    for index, call in enumerate(message.tool_calls):
        events.append(ToolCallStarted(call.id, call.name, index))
        if call.arguments:
            events.append(ToolCallArgsDelta(call.id, call.arguments, index))
    for call in message.tool_calls:
        try:
            parsed = json.loads(call.arguments) if call.arguments.strip() else {}
        except (ValueError, RecursionError):  # RecursionError: arguments nested thousands deep
            parsed = None
        events.append(ToolCallReady(call.id, call.name, parsed, call.arguments))
    events.append(ResponseComplete(response))
    return events
