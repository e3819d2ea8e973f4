"""A batch's money: its ``max_cost`` (a model wrapper that refuses the request that would cross it)
and ``estimate`` (a random sample run first, projected over the whole input)."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import BatchCostExceeded
from .models.base import Model, ModelRequest, ModelResponse
from .pricing import next_request_cost, price_for
from .usage import Usage

if TYPE_CHECKING:
    from .batch import BatchItem

__all__ = ["CostGuard", "BatchEstimate", "sample_size", "pick_sample", "project", "guard_of", "guarded"]

SAMPLE_SHARE = 0.02
SAMPLE_MIN = 3
SAMPLE_MAX = 20


class CostGuard(Model):
    """The batch's model, refusing any request that would take the batch past ``max_cost``.

    Before each request: the cost spent so far by the batch, plus the estimates of the requests
    in flight, plus this request's estimate (:func:`~agentkit.pricing.next_request_cost`, with the
    batch's requests so far as the run's); more
    than ``max_cost`` raises :class:`~agentkit.errors.BatchCostExceeded`, which stops the batch.
    """

    def __init__(self, inner: Model, max_cost: float) -> None:
        self.inner = inner
        self.max_cost = max_cost
        self.spent = 0.0
        self.in_flight = 0.0
        self.used = Usage()  # the batch's requests so far: their mean is a floor for the next one's estimate
        self.model_name = inner.model_name
        self.provider = inner.provider
        self.context_length = inner.context_length

    def check(self, estimate: float) -> None:
        """Raise :class:`~agentkit.errors.BatchCostExceeded` when a request estimated at
        ``estimate`` would take the batch past ``max_cost``."""
        committed = self.spent + self.in_flight
        if committed + estimate > self.max_cost:
            raise BatchCostExceeded(
                f"Usage limit: the batch has spent ${self.spent:.6g} (${self.in_flight:.6g} more in flight) and the next "
                f"request estimated at ${estimate:.6g} would pass its max cost (${self.max_cost:g})."
            )

    def charge(self, usage: Usage) -> None:
        """A request this guard did not send (a sub-agent's, or after a handoff to another agent's model): its cost counts."""
        self.spent += usage.cost or 0.0
        self.used.add(usage)

    async def request(self, request: ModelRequest) -> ModelResponse:
        estimate = next_request_cost(self.inner, request.messages, request.tools, request.settings.max_tokens, self.used)
        self.check(estimate)
        self.in_flight += estimate
        try:
            response = await self.inner.request(request)
        finally:
            self.in_flight -= estimate
        usage = response.usage
        if usage.cost is None:
            price = price_for(self.inner)
            usage.cost = price.cost(usage) if price is not None else None
        self.spent += usage.cost or 0.0
        self.used.add(usage)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def guard_of(model: Any) -> CostGuard | None:
    """The batch's :class:`CostGuard` among ``model`` and the models it wraps (``inner``), if any."""
    while model is not None:
        if isinstance(model, CostGuard):
            return model
        model = getattr(model, "inner", None)
    return None


def guarded(model: Any) -> bool:
    """Whether ``model``'s requests go through a batch's :class:`CostGuard` (which counts them itself)."""
    return guard_of(model) is not None


def sample_size(count: int) -> int:
    """How many of ``count`` inputs an estimate runs: 2 % of them, at least 3, at most 20."""
    return min(count, max(SAMPLE_MIN, min(SAMPLE_MAX, math.ceil(count * SAMPLE_SHARE))))


def pick_sample(keys: Sequence[str], seed: int | None = None) -> list[str]:
    """A random sample (:func:`sample_size`) of ``keys``, in their order."""
    chosen = set(random.Random(seed).sample(range(len(keys)), sample_size(len(keys))))
    return [key for i, key in enumerate(keys) if i in chosen]


@dataclass
class BatchEstimate:
    """What a whole batch is projected to cost and take, from a random sample of it that ran.

    ``cost`` and ``seconds`` are the projections for every input not done before the estimate
    (the sample included); ``cost_low`` to ``cost_high`` and ``seconds_low`` to ``seconds_high`` are a
    rough 95 % interval: the sample's mean ± 2 standard errors, times the inputs, kept within the
    sample's cheapest and dearest input times the inputs. ``cost`` is None when no input of the
    sample reported or could be priced. The sample's results are in the results file: running the
    batch again with it skips them.

    Attributes:
        inputs: inputs not done before the estimate (the sample and the rest).
        remaining: inputs still to run after the sample.
        sample: the sample's items (their usage and output).
        failed: how many of the sample failed.
        concurrency: the concurrency the time projection assumes.
    """

    inputs: int
    remaining: int
    sample: list[BatchItem] = field(default_factory=list)
    failed: int = 0
    concurrency: int = 1
    sample_cost: float | None = None
    cost: float | None = None
    cost_low: float | None = None
    cost_high: float | None = None
    seconds: float = 0.0
    seconds_low: float = 0.0
    seconds_high: float = 0.0

    def summary(self) -> str:
        """Two lines for people: the projected cost and time, with their ranges."""
        n = len(self.sample)
        head = f"Sample: {n} of {self.inputs} inputs ran ({self.failed} failed)"
        head += f", ${self.sample_cost:.4f}." if self.sample_cost is not None else "; no cost reported or priced."
        everything = f"Projected cost for all {self.inputs}: "
        if self.cost is not None:
            money = everything + f"${self.cost:.4f} (${self.cost_low or 0:.4f} to ${self.cost_high or 0:.4f})"
        else:
            money = everything + "unknown (set a price with agentkit.set_price)"
        low, high = _duration(self.seconds_low), _duration(self.seconds_high)
        time = f"; time for the {self.remaining} left: {_duration(self.seconds)} ({low} to {high})"
        return f"{head}\n{money}{time} at concurrency {self.concurrency}."


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


def _interval(values: list[float], count: int) -> tuple[float, float, float]:
    """``count`` times the mean of ``values``, and that with the mean ± 2 standard errors (within min/max)."""
    mean = statistics.fmean(values)
    spread = 2 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    low, high = max(mean - spread, min(values)), min(mean + spread, max(values))
    return mean * count, low * count, high * count


def project(sample: list[BatchItem], seconds: list[float], inputs: int, concurrency: int) -> BatchEstimate:
    """The :class:`BatchEstimate` of a batch of ``inputs`` from its ``sample`` (each input's run time in ``seconds``)."""
    remaining = inputs - len(sample)
    estimate = BatchEstimate(inputs, remaining, sample, sum(not item.ok for item in sample), concurrency)
    costs = [item.usage.cost for item in sample if item.usage.cost is not None]
    if costs:
        estimate.sample_cost = sum(costs)
        mean, low, high = _interval(costs, remaining)
        estimate.cost, estimate.cost_low, estimate.cost_high = (estimate.sample_cost + x for x in (mean, low, high))
    if seconds and remaining:
        waves = remaining / min(concurrency, remaining)  # runs one after another per worker
        estimate.seconds, estimate.seconds_low, estimate.seconds_high = _interval(seconds, 1)
        estimate.seconds, estimate.seconds_low, estimate.seconds_high = (
            x * waves for x in (estimate.seconds, estimate.seconds_low, estimate.seconds_high)
        )
    return estimate
