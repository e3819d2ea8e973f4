"""Model strings: ``"provider:model"`` → a configured :class:`Model`.

Providers register a factory here; keys and base URLs come from environment variables inside
each model class, so a missing key is reported before any request.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UserError
from .base import Model

__all__ = ["infer_model", "register_provider", "known_providers"]

_FACTORIES: dict[str, Callable[[str], Model]] = {}


def register_provider(prefix: str, factory: Callable[[str], Model]) -> None:
    """Make ``"prefix:<model>"`` strings build models with ``factory(model_name)``."""
    _FACTORIES[prefix] = factory


def known_providers() -> list[str]:
    """The provider prefixes model strings may use."""
    return sorted(_FACTORIES)


def infer_model(model: Model | str) -> Model:
    """A :class:`Model` from a model object or a string such as ``"openai:gpt-4o-mini"`` or ``"test"``."""
    if isinstance(model, Model):
        return model
    if not isinstance(model, str):
        raise UserError(f"model must be a Model or a string like 'openai:gpt-4o-mini', not {type(model).__name__}.")
    if model == "test":
        from ..testing import TestModel

        return TestModel()
    provider, sep, name = model.partition(":")
    examples = ", ".join(f"'{p}:<model>'" for p in known_providers())
    if not sep or not provider or not name.strip():
        raise UserError(f"Model string {model!r} is not of the form 'provider:model'. Use one of {examples}, or 'test'.")
    factory = _FACTORIES.get(provider)
    if factory is None:
        raise UserError(f"Unknown provider {provider!r} in model string {model!r}. Known providers: {examples}, or 'test'.")
    return factory(name.strip())


def _openai(name: str) -> Model:
    from .providers import OpenAI

    return OpenAI(name)


def _openrouter(name: str) -> Model:
    from .providers import OpenRouter

    return OpenRouter(name)


def _mistral(name: str) -> Model:
    from .providers import Mistral

    return Mistral(name)


def _openai_responses(name: str) -> Model:
    from .responses import OpenAIResponses

    return OpenAIResponses(name)


def _openrouter_responses(name: str) -> Model:
    from .responses import OpenRouterResponses

    return OpenRouterResponses(name)


register_provider("openai", _openai)
register_provider("openrouter", _openrouter)
register_provider("mistral", _mistral)
register_provider("openai-responses", _openai_responses)
register_provider("openrouter-responses", _openrouter_responses)
