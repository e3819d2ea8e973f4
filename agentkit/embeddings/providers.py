"""What differs between embedding providers: endpoint, key, accepted request fields, request limits.

The facts live in the one provider registry (:mod:`agentkit._providers`, its
:class:`~agentkit._providers.EmbeddingsAPI` entries); this module reads them for embeddings.

=========== ============================ ======================= ================================
provider    key (env var)                dimension field          per-request limits (default)
=========== ============================ ======================= ================================
openai      ``OPENAI_API_KEY``           ``dimensions``           2048 inputs, ~250k tokens
mistral     ``MISTRAL_API_KEY``          ``output_dimension``     512 inputs, ~16k tokens
openrouter  ``OPENROUTER_API_KEY``       ``dimensions``           by model: ``openai/*`` as
                                                                  OpenAI, ``mistralai/*`` as
                                                                  Mistral, else 256 / ~16k
=========== ============================ ======================= ================================

OpenAI accepts at most 2048 inputs and 300k tokens a request (8191 per input); Mistral rejects
requests over 16,384 tokens ("Too many tokens in batch") and inputs over its 8k context. The
token limits here are counted with :func:`~agentkit.embeddings.batching.approx_tokens`, an upper
estimate, so they sit a little under the real ones. Only Mistral takes ``output_dtype``; base
URLs come from ``base_url``, then ``OPENAI_BASE_URL`` / ``MISTRAL_BASE_URL`` /
``OPENROUTER_BASE_URL``, then the public endpoint.
"""

from __future__ import annotations

from .. import _providers
from .._providers import EmbeddingsAPI, Provider
from .batching import BatchLimits

__all__ = ["embedding_providers", "embedding_provider", "embeddings_api", "batch_limits"]

_UPSTREAMS = {"openai/": "openai", "mistralai/": "mistral"}
"""A router's model-name prefix → the registry provider whose limits apply (``openrouter:openai/...``)."""


def embedding_providers() -> list[Provider]:
    """The registered providers that have an embeddings endpoint, in registry order."""
    return [p for p in _providers.providers() if p.embeddings is not None]


def embedding_provider(name: str) -> Provider | None:
    """The provider called ``name`` when it has an embeddings endpoint, else None."""
    provider = _providers.get(name)
    return provider if provider is not None and provider.embeddings is not None else None


def embeddings_api(provider: Provider) -> EmbeddingsAPI:
    """``provider``'s embeddings endpoint (``ValueError`` for a provider without one)."""
    if provider.embeddings is None:
        raise ValueError(f"{provider.label} has no embeddings endpoint")
    return provider.embeddings


def batch_limits(provider: Provider, model_name: str) -> BatchLimits:
    """Default per-request limits for ``model_name`` on ``provider``.

    A router's model named after its upstream (``openai/...``, ``mistralai/...``) gets that
    upstream's limits; any other, the provider's own.
    """
    api = embeddings_api(provider)
    if provider.name not in _UPSTREAMS.values():  # an upstream's own model names have no vendor prefix
        for prefix, upstream in _UPSTREAMS.items():
            known = embedding_provider(upstream)
            if model_name.startswith(prefix) and known is not None:
                api = embeddings_api(known)
                break
    return BatchLimits(max_inputs=api.max_inputs, max_tokens=api.max_tokens)
