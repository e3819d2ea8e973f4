"""FallbackModel: try the next model when one fails after its own retries."""

from __future__ import annotations

import copy
from collections.abc import AsyncGenerator
from contextlib import aclosing

from ..errors import AllModelsFailed, ProviderError, UserError
from ..events import ModelStreamEvent, ResponseComplete
from ..pricing import price_for
from .base import Model, ModelRequest, ModelResponse
from .registry import infer_model

__all__ = ["FallbackModel", "AllModelsFailed"]


class FallbackModel(Model):
    """Send each request to ``primary``; when it fails (after its own retries), to the next model.

    >>> FallbackModel("openrouter:mistralai/mistral-large-2512", "mistral:mistral-large-latest")

    Args:
        primary: the model to try first (a Model or a model string).
        others: the models to try next, in order.
        fallback_on: the errors that move on to the next model (default: every provider
            error). Anything else propagates at once. When every model fails,
            :class:`~agentkit.errors.AllModelsFailed` carries each one's error.
    """

    def __init__(
        self,
        primary: Model | str,
        *others: Model | str,
        fallback_on: type[ProviderError] | tuple[type[ProviderError], ...] = (ProviderError,),
    ) -> None:
        self.models = [infer_model(m) for m in (primary, *others)]
        self.fallback_on = fallback_on if isinstance(fallback_on, tuple) else (fallback_on,)
        if not all(isinstance(cls, type) and issubclass(cls, ProviderError) for cls in self.fallback_on):
            raise UserError(f"fallback_on must be ProviderError subclasses (agentkit.errors), not {fallback_on!r}.")
        self.model_name = self.models[0].model_name
        self.provider = "fallback"

    async def request(self, request: ModelRequest) -> ModelResponse:
        """The first successful answer among the models, tried in order."""
        errors: list[ProviderError] = []
        for model in self.models:
            try:
                response = await model.request(request)
            except self.fallback_on as e:
                errors.append(e)
                continue
            return _priced(response, model)
        raise AllModelsFailed(errors)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        """Stream from the first model that starts answering.

        A model that fails before its first event is skipped like in :meth:`request`; once events
        have been yielded, a failure propagates (what was streamed cannot be taken back).
        """
        errors: list[ProviderError] = []
        for model in self.models:
            async with aclosing(model.stream(request)) as events:
                try:
                    first = await events.__anext__()
                except self.fallback_on as e:
                    errors.append(e)
                    continue
                except StopAsyncIteration:
                    return
                yield _named(first, model)
                async for event in events:
                    yield _named(event, model)
                return
        raise AllModelsFailed(errors)

    def with_rate_limit_retries(self, enabled: bool) -> Model:
        """A fallback over each model's :meth:`~agentkit.models.Model.with_rate_limit_retries` (``self`` when none changes)."""
        models = [model.with_rate_limit_retries(enabled) for model in self.models]
        if all(new is old for new, old in zip(models, self.models, strict=True)):
            return self
        clone = copy.copy(self)
        clone.models = models
        return clone

    async def aclose(self) -> None:
        """Close every model's connections (all of them, even when one fails to close)."""
        first: BaseException | None = None
        for model in self.models:
            try:
                await model.aclose()
            except Exception as e:
                first = first or e
        if first is not None:
            raise first

    def __repr__(self) -> str:
        return f"FallbackModel({', '.join(repr(m) for m in self.models)})"


def _named(event: ModelStreamEvent, model: Model) -> ModelStreamEvent:
    """``event``, with the answering model's name (and price) on a complete response."""
    if isinstance(event, ResponseComplete):
        _priced(event.response, model)
    return event


def _priced(response: ModelResponse, model: Model) -> ModelResponse:
    """``response`` with the answering model's name when it has none, and its cost at that model's
    price when the provider reported none (the run would price it at the first model's)."""
    if response.model_name is None:
        response.model_name = model.model_name
    usage = response.usage
    if usage.cost is None and (usage.prompt_tokens or usage.completion_tokens):
        price = price_for(model)
        if price is not None:
            usage.cost = price.cost(usage)
    return response
