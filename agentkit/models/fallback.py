"""FallbackModel: try the next model when one fails after its own retries."""

from __future__ import annotations

from ..errors import ProviderError
from .base import Model, ModelRequest, ModelResponse
from .registry import infer_model

__all__ = ["FallbackModel", "AllModelsFailed"]


class AllModelsFailed(ProviderError):
    """Every model of a :class:`FallbackModel` failed; ``errors`` holds each one's error, in order."""

    def __init__(self, errors: list[ProviderError]) -> None:
        self.errors = errors
        lines = "; ".join(f"{e.provider or 'model'}: {e}" for e in errors)
        last = errors[-1]
        super().__init__(
            f"all {len(errors)} models failed: {lines}",
            status=last.status,
            provider="fallback",
            code=last.code,
            type=last.type,
            retry_after=last.retry_after,
            request_id=last.request_id,
        )


class FallbackModel(Model):
    """Send each request to ``primary``; when it fails (after its own retries), to the next model.

    >>> FallbackModel("openrouter:mistralai/mistral-large-2512", "mistral:mistral-large-latest")

    Args:
        primary: the model to try first (a Model or a model string).
        others: the models to try next, in order.
        fallback_on: the errors that move on to the next model (default: every provider
            error). Anything else propagates at once.
    """

    def __init__(
        self,
        primary: Model | str,
        *others: Model | str,
        fallback_on: tuple[type[ProviderError], ...] = (ProviderError,),
    ) -> None:
        self.models = [infer_model(m) for m in (primary, *others)]
        self.fallback_on = fallback_on
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
            if response.model_name is None:
                response.model_name = model.model_name
            return response
        raise AllModelsFailed(errors)

    async def aclose(self) -> None:
        """Close every model's connections."""
        for model in self.models:
            await model.aclose()

    def __repr__(self) -> str:
        return f"FallbackModel({', '.join(repr(m) for m in self.models)})"
