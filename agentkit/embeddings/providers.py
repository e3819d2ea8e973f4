"""What differs between embedding providers: endpoint, key, accepted request fields, request limits.

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

import os
from dataclasses import dataclass

from ..models.providers import MISTRAL_BASE_URL, OPENAI_BASE_URL, OPENROUTER_BASE_URL
from .batching import BatchLimits

__all__ = ["EmbeddingProvider", "PROVIDERS", "OPENAI_LIMITS", "MISTRAL_LIMITS", "DEFAULT_LIMITS"]

OPENAI_LIMITS = BatchLimits(max_inputs=2048, max_tokens=250_000)
MISTRAL_LIMITS = BatchLimits(max_inputs=512, max_tokens=16_000)
DEFAULT_LIMITS = BatchLimits(max_inputs=256, max_tokens=16_000)


@dataclass(frozen=True)
class EmbeddingProvider:
    """One provider's embeddings endpoint.

    Attributes:
        name: the prefix in model strings (``"openai"``), also the ``provider`` of its errors.
        label: the name users know it by, for messages.
        key_env: the environment variable holding the API key.
        base_url_env: the environment variable that overrides the base URL.
        default_base_url: the public endpoint.
        dimension_field: the request field for the output dimension.
        takes_dtype: whether ``output_dtype`` (int8, uint8, binary, ubinary) is accepted.
        default_encoding: ``encoding_format`` sent for float vectors when the caller chose none
            (None: not sent).
    """

    name: str
    label: str
    key_env: str
    base_url_env: str
    default_base_url: str
    dimension_field: str
    takes_dtype: bool
    default_encoding: str | None

    def base_url(self, given: str | None) -> str:
        """``given``, else the environment variable, else the public endpoint."""
        return given or os.environ.get(self.base_url_env) or self.default_base_url

    def limits(self, model_name: str) -> BatchLimits:
        """Default per-request limits for ``model_name`` on this provider."""
        if self.name == "openai":
            return OPENAI_LIMITS
        if self.name == "mistral":
            return MISTRAL_LIMITS
        if model_name.startswith("openai/"):
            return OPENAI_LIMITS
        if model_name.startswith("mistralai/"):
            return MISTRAL_LIMITS
        return DEFAULT_LIMITS


PROVIDERS = {
    # base64 by default (float vectors only) for OpenAI, as its own SDK does, and Mistral: a quarter of the
    # bytes, and ~100x faster to parse than JSON number lists (benchmarks/EMBEDDINGS.md); OpenRouter's
    # upstreams may not all support it, so it gets the provider's default there
    "openai": EmbeddingProvider(
        "openai", "OpenAI", "OPENAI_API_KEY", "OPENAI_BASE_URL", OPENAI_BASE_URL, "dimensions", False, "base64"
    ),
    "mistral": EmbeddingProvider(
        "mistral", "Mistral", "MISTRAL_API_KEY", "MISTRAL_BASE_URL", MISTRAL_BASE_URL, "output_dimension", True, "base64"
    ),
    "openrouter": EmbeddingProvider(
        "openrouter", "OpenRouter", "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL", OPENROUTER_BASE_URL, "dimensions", False, None
    ),
}
