"""Context lengths of known models, by the id each provider gives them.

An HTTP model looks its own id up here when it is built without ``context_length=``; a model
that is not in the table has no known context length (nothing is checked or trimmed for it
unless one is given). Sources: the model pages the seeds were specified from
(``openrouter.ai/mistralai/mistral-nemo``: "Context 131K", "128k token context length";
``openrouter.ai/mistralai/mistral-large-2512``: "Context 262K").
"""

from __future__ import annotations

__all__ = ["CONTEXT_LENGTHS", "known_context_length"]

_NEMO = 131_072
_LARGE_3 = 262_144

CONTEXT_LENGTHS: dict[str, int] = {
    # Mistral Nemo (12B, with NVIDIA)
    "mistralai/mistral-nemo": _NEMO,  # OpenRouter
    "open-mistral-nemo": _NEMO,  # Mistral's API
    "open-mistral-nemo-2407": _NEMO,
    "mistral-nemo": _NEMO,
    # Mistral Large 3 (2512)
    "mistralai/mistral-large-2512": _LARGE_3,  # OpenRouter
    "mistral-large-2512": _LARGE_3,  # Mistral's API
    "mistral-large-latest": _LARGE_3,  # Mistral's alias of the newest Large, mistral-large-2512 since December 2025
}
"""Model id → context length in tokens. Add to it (``CONTEXT_LENGTHS["my-model"] = 32_768``)
before building a model, or give ``context_length=`` to the model."""


def known_context_length(model_name: str) -> int | None:
    """The context length of ``model_name`` from :data:`CONTEXT_LENGTHS` (None when unknown)."""
    return CONTEXT_LENGTHS.get(model_name)
