"""Embedding responses → numpy arrays, whatever shape the provider answered in.

* Rows come back ordered by their ``index`` (a missing ``index`` means "in order").
* Each row may be a list of numbers or a base64 string, whatever was asked: base64 carries
  little-endian float32 for ``float``, raw bytes for the integer types.
* ``float`` → float32; ``int8`` / ``uint8`` → those dtypes; ``binary`` / ``ubinary`` → bit-packed
  uint8 rows (``dim / 8`` bytes, bit 1 = a positive dimension). ``binary`` arrives as signed
  bytes in offset-binary form (value = packed byte - 128), so 128 is added back; ``ubinary``
  arrives as the packed bytes themselves. :func:`unpack_bits` turns packed rows into ±1 or 0/1.

All the work per element is numpy's (or the base64 decoder's); Python touches each row at most
once. Base64 is decoded by pybase64 (SIMD, ~3x faster; in the ``embeddings`` extra) when it is
installed, else by the standard library's ``binascii``.
"""

from __future__ import annotations

import binascii
import functools
import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._deps import require_numpy

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["OutputDtype", "DTYPES", "decode_embeddings", "unpack_bits", "pack_bits"]

OutputDtype = Literal["float", "int8", "uint8", "binary", "ubinary"]
DTYPES: tuple[OutputDtype, ...] = ("float", "int8", "uint8", "binary", "ubinary")

# numpy dtype of the bytes inside a base64 row, and the range of integer list values, per output dtype
_WIRE = {"float": "<f4", "int8": "i1", "uint8": "u1", "binary": "i1", "ubinary": "u1"}
_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "binary": (-128, 127), "ubinary": (0, 255)}
_RESULT = {"float": "float32", "int8": "int8", "uint8": "uint8", "binary": "uint8", "ubinary": "uint8"}


def decode_embeddings(data: Any, expected: int, dtype: OutputDtype = "float") -> NDArray[Any]:
    """The rows of an embeddings response's ``data`` as one ``(expected, dim)`` array, in input order.

    Raises ``ValueError`` saying what is wrong when the answer does not fit: not a list of
    objects with an ``embedding``, the wrong number of rows, indexes that are not a permutation
    of ``0..expected-1``, rows of different lengths, values out of the dtype's range.
    """
    require_numpy()
    import numpy as np

    if dtype not in _WIRE:
        raise ValueError(f"unknown output dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    if not isinstance(data, list) or not all(isinstance(item, dict) and "embedding" in item for item in data):
        raise ValueError("'data' is not a list of objects with an 'embedding'")
    if len(data) != expected:
        raise ValueError(f"expected {expected} embeddings, got {len(data)}")
    rows = [item["embedding"] for item in _in_order(data)]
    if not rows:
        return np.empty((0, 0), dtype=_RESULT[dtype])
    if all(isinstance(row, str) for row in rows):
        out = _from_base64(rows, dtype)
    elif all(isinstance(row, list) for row in rows):
        out = _from_lists(rows, dtype)
    else:  # some of each (or junk): row by row
        out = np.concatenate([_from_base64([r], dtype) if isinstance(r, str) else _from_lists([r], dtype) for r in rows])
    if out.shape[1] == 0:
        raise ValueError("the embeddings are empty")
    return out


def _in_order(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import numpy as np

    indexes = [item.get("index", position) for position, item in enumerate(data)]
    if not all(type(i) is int for i in indexes):
        raise ValueError("an embedding's 'index' is not an integer")
    order = np.argsort(np.asarray(indexes, dtype=np.int64), kind="stable")
    if not np.array_equal(np.asarray(indexes)[order], np.arange(len(data))):
        raise ValueError(f"the embeddings' indexes are not 0..{len(data) - 1} (each once): {sorted(indexes)[:10]}...")
    if np.array_equal(order, np.arange(len(data))):
        return data
    return [data[i] for i in order.tolist()]


def _from_base64(rows: Sequence[str], dtype: OutputDtype) -> NDArray[Any]:
    import numpy as np

    try:
        chunks = list(map(_b64decode(), rows))
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"an embedding is not valid base64: {e}") from None
    size = len(chunks[0])
    if any(len(c) != size for c in chunks):
        raise ValueError("the base64 embeddings have different lengths")
    wire = np.dtype(_WIRE[dtype])
    if size % wire.itemsize:
        raise ValueError(f"a base64 embedding of {size} bytes is not a whole number of {wire.name} values")
    out = np.frombuffer(b"".join(chunks), dtype=wire).reshape(len(chunks), size // wire.itemsize)
    if dtype == "binary":
        packed: NDArray[Any] = out.view(np.uint8) ^ np.uint8(0x80)  # offset binary: packed byte = signed value + 128
        return packed
    return out.astype(_RESULT[dtype], copy=False)


@functools.cache
def _b64decode() -> Callable[[str], bytes]:
    try:
        decode: Callable[[str], bytes] = importlib.import_module("pybase64").b64decode
    except ImportError:
        return binascii.a2b_base64
    return decode


def _from_lists(rows: Sequence[list[Any]], dtype: OutputDtype) -> NDArray[Any]:
    import numpy as np

    try:
        if dtype == "float":
            out = np.asarray(rows, dtype=np.float32)
        else:
            out = np.asarray(rows, dtype=np.int64)  # exact first, then range-checked
    except (ValueError, TypeError, OverflowError) as e:
        raise ValueError(f"the embeddings are not rows of numbers of one length: {e}") from None
    if out.ndim != 2:
        raise ValueError("the embeddings are not rows of numbers of one length")
    if dtype == "float":
        return out
    low, high = _RANGE[dtype]
    if out.size and (out.min() < low or out.max() > high):
        raise ValueError(f"{dtype} embedding values must lie in [{low}, {high}]")
    if dtype == "binary":
        out = out + 128
    return out.astype(_RESULT[dtype])


def unpack_bits(packed: NDArray[np.uint8], *, signed: bool = True, dim: int | None = None) -> NDArray[Any]:
    """Bit-packed rows (``binary`` / ``ubinary`` results) → one value per dimension.

    ``signed=True`` gives int8 ±1 (bit 1 → +1, bit 0 → -1), ``signed=False`` gives uint8 0/1.
    ``dim`` keeps the first ``dim`` dimensions (default: 8 per byte).
    """
    require_numpy()
    import numpy as np

    array = np.asarray(packed)
    if array.dtype != np.uint8:
        raise ValueError(f"packed bits must be a uint8 array, not {array.dtype}")
    bits = np.unpackbits(array, axis=-1, count=dim)
    if not signed:
        return bits
    signs: NDArray[Any] = (bits.astype(np.int8) << 1) - np.int8(1)
    return signs


def pack_bits(vectors: NDArray[Any]) -> NDArray[np.uint8]:
    """Binarize vectors by sign and pack 8 dimensions per byte (positive → 1), like ``ubinary``."""
    require_numpy()
    import numpy as np

    return np.packbits(np.asarray(vectors) > 0, axis=-1)
