"""An in-memory vector index over numpy, with metadata per vector, saved to one ``.npz`` file.

Exact search (every vector is scored), which is fast enough for hundreds of thousands of
vectors on a laptop: a matrix-vector product for ``cosine`` / ``dot``, XOR and popcount for
``hamming`` over bit-packed vectors (the ``binary`` / ``ubinary`` dtypes, or
:func:`~agentkit.embeddings.pack_bits`).

The file holds the vectors as an array and everything else (metric, metadata) as JSON text in
another array; it is read with ``allow_pickle=False``, so loading a file never runs code.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import UserError
from ._deps import require_numpy

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["Metric", "Hit", "VectorIndex", "hamming_distances"]

Metric = Literal["cosine", "dot", "hamming"]
FORMAT = "agentkit.vector-index"
VERSION = 1


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes:
        position: the vector's position in the index (the order it was added in).
        score: higher is closer. cosine: in [-1, 1]; dot: the dot product; hamming: the
            fraction of equal bits, ``1 - distance / bits``.
        metadata: what was stored with the vector.
    """

    position: int
    score: float
    metadata: dict[str, Any]


class VectorIndex:
    """Vectors with metadata; :meth:`search` returns the ``k`` closest to a query.

    >>> index = VectorIndex(metric="cosine")
    >>> index.add(result.vectors, [{"text": t} for t in texts])
    >>> index.search(query_vector, k=3)[0].metadata["text"]

    Args:
        metric: ``"cosine"`` (default; vectors are normalised once, when added), ``"dot"``, or
            ``"hamming"`` for bit-packed uint8 vectors.
    """

    def __init__(self, metric: Metric = "cosine") -> None:
        if metric not in ("cosine", "dot", "hamming"):
            raise UserError(f"metric must be 'cosine', 'dot' or 'hamming', not {metric!r}.")
        self.metric: Metric = metric
        require_numpy()
        self._vectors: NDArray[Any] | None = None
        self._metadata: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self._metadata)

    def __repr__(self) -> str:
        return f"VectorIndex(metric={self.metric!r}, vectors={len(self)}, width={self.width})"

    @property
    def width(self) -> int | None:
        """Values per stored row (bytes per row for ``hamming``), or None while empty."""
        return None if self._vectors is None else int(self._vectors.shape[1])

    @property
    def vectors(self) -> NDArray[Any]:
        """The stored rows (normalised, for ``cosine``); read-only."""
        if self._vectors is None:
            return _empty()
        view: NDArray[Any] = self._vectors.view()
        view.flags.writeable = False
        return view

    @property
    def metadata(self) -> list[dict[str, Any]]:
        """The metadata of each row, in order."""
        return self._metadata

    def add(self, vectors: NDArray[Any], metadata: Sequence[dict[str, Any]] | None = None) -> range:
        """Append ``vectors`` (shape ``(n, width)``, or one row) and their metadata; returns their positions.

        Metadata must be JSON-serialisable dicts (checked here, so saving cannot fail later).
        """
        import numpy as np

        rows = np.asarray(vectors)
        if rows.ndim == 1:
            rows = rows[None, :]
        if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] == 0:
            raise UserError(f"vectors must be a non-empty (n, width) array, not shape {rows.shape}.")
        rows = self._prepare(rows)
        if self._vectors is not None and rows.shape[1] != self._vectors.shape[1]:
            raise UserError(f"vectors have width {rows.shape[1]}, but the index holds width {self._vectors.shape[1]}.")
        meta = [{} for _ in range(len(rows))] if metadata is None else [dict(m) for m in metadata]
        if len(meta) != len(rows):
            raise UserError(f"{len(rows)} vectors but {len(meta)} metadata entries.")
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise UserError(f"metadata must be JSON-serialisable: {e}") from None
        start = len(self._metadata)
        self._vectors = rows if self._vectors is None else np.concatenate([self._vectors, rows])
        self._metadata.extend(meta)
        return range(start, start + len(rows))

    def _prepare(self, rows: NDArray[Any]) -> NDArray[Any]:
        import numpy as np

        if self.metric == "hamming":
            if rows.dtype != np.uint8:
                raise UserError(f"hamming needs bit-packed uint8 vectors (binary/ubinary, or pack_bits), not {rows.dtype}.")
            return np.ascontiguousarray(rows)
        if not np.issubdtype(rows.dtype, np.number) or np.issubdtype(rows.dtype, np.complexfloating):
            raise UserError(f"vectors must be numeric, not {rows.dtype}.")
        rows = rows.astype(np.float32)
        if not np.isfinite(rows).all():
            raise UserError("vectors contain NaN or infinity.")
        if self.metric == "cosine":
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            rows = rows / np.where(norms == 0, 1, norms)
        return rows

    def scores(self, query: NDArray[Any]) -> NDArray[Any]:
        """The score of every stored vector against ``query`` (one row), as in :class:`Hit`."""
        import numpy as np

        if self._vectors is None:
            return np.empty(0, dtype=np.float32)
        q = np.asarray(query)
        if q.ndim == 2 and q.shape[0] == 1:
            q = q[0]
        if q.ndim != 1 or q.shape[0] != self._vectors.shape[1]:
            raise UserError(f"the query must be one vector of width {self._vectors.shape[1]}, not shape {np.shape(query)}.")
        q = self._prepare(q[None, :])[0]
        if self.metric == "hamming":
            bits = 8 * q.shape[0]
            similarity: NDArray[Any] = 1.0 - hamming_distances(self._vectors, q) / bits
            return similarity
        dots: NDArray[Any] = self._vectors @ q
        return dots

    def search(self, query: NDArray[Any], k: int = 5) -> list[Hit]:
        """The ``k`` stored vectors closest to ``query``, best first (ties: earlier position first)."""
        import numpy as np

        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UserError(f"k must be a positive integer, not {k!r}.")
        scores = self.scores(query)
        if scores.size == 0:
            return []
        k = min(k, scores.size)
        top = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
        top = top[np.lexsort((top, -scores[top]))]
        return [Hit(int(i), float(scores[i]), self._metadata[i]) for i in top.tolist()]

    # -- one file ---------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index to ``path`` (an ``.npz`` file; replaced atomically). Returns the path."""
        import numpy as np

        target = Path(path)
        header = {"format": FORMAT, "version": VERSION, "metric": self.metric, "metadata": self._metadata}
        meta = np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
        vectors = self._vectors if self._vectors is not None else np.empty((0, 0), dtype=np.float32)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, vectors=vectors, meta=meta)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VectorIndex:
        """Read an index written by :meth:`save` (never unpickles). Raises ``UserError`` for other files."""
        require_numpy()
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as data:
                vectors = data["vectors"]
                header = json.loads(data["meta"].tobytes().decode("utf-8"))
        except (OSError, KeyError, ValueError) as e:
            raise UserError(f"{path} is not a saved VectorIndex: {e}") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise UserError(f"{path} is not a saved VectorIndex (no {FORMAT} header).")
        if header.get("version") != VERSION:
            raise UserError(f"{path} is a VectorIndex of version {header.get('version')}; this agentkit reads {VERSION}.")
        index = cls(header["metric"])
        metadata = header.get("metadata") or []
        if len(metadata) != (vectors.shape[0] if vectors.size else 0):
            raise UserError(f"{path} is damaged: {vectors.shape[0]} vectors but {len(metadata)} metadata entries.")
        expected = np.uint8 if index.metric == "hamming" else np.float32
        if metadata and (vectors.ndim != 2 or vectors.dtype != expected):
            raise UserError(f"{path} is damaged: {index.metric} vectors of dtype {vectors.dtype}, shape {vectors.shape}.")
        if metadata:
            index._vectors = vectors
            index._metadata = list(metadata)
        return index


def hamming_distances(packed: NDArray[Any], query: NDArray[Any]) -> NDArray[Any]:
    """Differing bits between each bit-packed uint8 row of ``packed`` and ``query``."""
    require_numpy()
    import numpy as np

    xor = np.bitwise_xor(packed, query)
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        counts: NDArray[Any] = np.bitwise_count(xor).sum(axis=-1, dtype=np.int64)
    else:
        counts = _popcount()[xor].sum(axis=-1, dtype=np.int64)
    return counts


def _empty() -> NDArray[Any]:
    import numpy as np

    return np.empty((0, 0), dtype=np.float32)


@functools.cache
def _popcount() -> NDArray[Any]:
    """Set bits of each byte value (numpy < 2.0 has no ``bitwise_count``)."""
    import numpy as np

    table: NDArray[Any] = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.uint8)
    return table
