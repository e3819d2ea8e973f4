"""Model strings: ``"provider:model"`` → a configured :class:`Model`.

The providers and their chat-model factories live in the one provider registry
(:mod:`agentkit._providers`), which embeddings and the CLI read too. Keys and base URLs come from
environment variables inside each model class; a missing key is reported at the model's first
request (before anything is sent), so a model string can be turned into a model without one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .. import _providers
from ..errors import UserError
from .base import Model

__all__ = ["infer_model", "register_provider", "known_providers"]


def register_provider(prefix: str, factory: Callable[[str], Model]) -> None:
    """Make ``"prefix:<model>"`` strings build models with ``factory(model_name)``.

    For a provider the registry already knows (``"openai"``), only its chat-model factory is
    replaced; its endpoint facts and embeddings stay as they were.
    """
    known = _providers.get(prefix)
    if known is None:
        _providers.register(_providers.Provider(prefix, prefix, chat=factory))
    else:
        _providers.register(dataclasses.replace(known, chat=factory))


def known_providers() -> list[str]:
    """The provider prefixes model strings may use."""
    return sorted(p.name for p in _providers.providers() if p.chat is not None)


def infer_model(model: Model | str) -> Model:
    """A :class:`Model` from a model object or a string such as ``"openai:gpt-4o-mini"`` or ``"test"``."""
    if isinstance(model, Model):
        return model
    if not isinstance(model, str):
        raise UserError(f"model must be a Model or a string like 'openai:gpt-4o-mini', not {type(model).__name__}.")
    if model == "test":
        from .test import TestModel

        return TestModel()
    prefix, sep, name = model.partition(":")
    examples = ", ".join(f"'{p}:<model>'" for p in known_providers())
    if not sep or not prefix or not name.strip():
        raise UserError(f"Model string {model!r} is not of the form 'provider:model'. Use one of {examples}, or 'test'.")
    provider = _providers.get(prefix)
    factory = provider.chat_factory() if provider is not None else None
    if factory is None:
        hint = f" ({provider.label} models need a base_url: build the model class)" if provider is not None else ""
        raise UserError(f"Unknown provider {prefix!r} in model string {model!r}{hint}. Known providers: {examples}, or 'test'.")
    built = factory(name.strip())
    if not isinstance(built, Model):
        raise UserError(f"The factory registered for {prefix!r} returned {type(built).__name__}, not a Model.")
    return built
