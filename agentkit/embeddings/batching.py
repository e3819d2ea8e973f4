"""Split many inputs into requests within a provider's limits, and send them with bounded concurrency.

Limits are counted in inputs and in *approximate* tokens: a text counts ``ceil(utf8_bytes / 3)``
tokens, which overestimates English (about 4 bytes a token) and roughly matches CJK scripts (3
bytes a character, about a token each), so a request planned within a limit stays within it.
A text that alone exceeds the token limit still goes out, alone, and the provider decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ._deps import require_numpy

__all__ = ["BatchLimits", "approx_tokens", "plan_batches", "run_batches"]

T = TypeVar("T")


@dataclass(frozen=True)
class BatchLimits:
    """How much one request may carry.

    Attributes:
        max_inputs: texts per request.
        max_tokens: approximate tokens per request (see :func:`approx_tokens`).
    """

    max_inputs: int
    max_tokens: int

    def __post_init__(self) -> None:
        if self.max_inputs < 1 or self.max_tokens < 1:
            raise ValueError(f"batch limits must be >= 1, not {self}")


def approx_tokens(texts: Sequence[str]) -> list[int]:
    """An upper estimate of each text's token count: ``ceil(utf8_bytes / 3)``, at least 1."""
    return [max(1, -(-len(text.encode("utf-8", "surrogatepass")) // 3)) for text in texts]


def plan_batches(texts: Sequence[str], limits: BatchLimits) -> list[range]:
    """Consecutive ranges of ``texts`` covering them all, each within ``limits`` (a lone oversized text excepted)."""
    require_numpy()
    import numpy as np

    n = len(texts)
    if n == 0:
        return []
    ends = np.cumsum(np.asarray(approx_tokens(texts), dtype=np.int64))  # ends[i]: tokens of texts[0..i]
    batches = []
    start = 0
    while start < n:
        before = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, before + limits.max_tokens, side="right"))
        stop = max(start + 1, min(stop, start + limits.max_inputs, n))
        batches.append(range(start, stop))
        start = stop
    return batches


async def run_batches(batches: Sequence[range], send: Callable[[range], Awaitable[T]], concurrency: int) -> list[T]:
    """``[await send(b) for b in batches]`` with at most ``concurrency`` in flight, results in order.

    The first failure cancels the batches still running and propagates.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, not {concurrency}")
    results: list[T | None] = [None] * len(batches)
    queue = iter(enumerate(batches))  # shared: each worker takes the next batch when it is free

    async def worker() -> None:
        for position, batch in queue:
            results[position] = await send(batch)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(batches)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return results  # type: ignore[return-value]  # every slot was filled
