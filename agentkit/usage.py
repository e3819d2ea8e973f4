"""Token and request accounting, summed across the turns of a run."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UserError

__all__ = ["Usage", "UsageLimits", "ToolLimits"]


@dataclass
class Usage:
    """What a run (or one response) used.

    ``requests`` counts model requests; ``tool_calls`` counts tool functions executed.
    ``details`` holds provider-reported extras (e.g. ``cached_tokens``, ``reasoning_tokens``),
    summed key by key; ``cost`` is in USD: the provider's figure when it reports one (OpenRouter),
    else the tokens at the model's price (see :mod:`agentkit.pricing`); None when unknown.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    requests: int = 0
    tool_calls: int = 0
    cost: float | None = None
    details: dict[str, int] = field(default_factory=dict)

    def add(self, other: Usage) -> None:
        """Add ``other`` into this usage, in place."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens
        self.requests += other.requests
        self.tool_calls += other.tool_calls
        if other.cost is not None:
            self.cost = (self.cost or 0.0) + other.cost
        for key, value in other.details.items():
            self.details[key] = self.details.get(key, 0) + value

    def copy(self) -> Usage:
        """An independent copy."""
        return Usage(**{**self.__dict__, "details": dict(self.details)})

    def __add__(self, other: Usage) -> Usage:
        total = Usage()
        total.add(self)
        total.add(other)
        return total


@dataclass(frozen=True)
class UsageLimits:
    """Limits on one run, checked before each model request (and tool calls before they run).

    A run that would pass one raises :class:`~agentkit.errors.UsageLimitExceeded` carrying the
    usage so far. ``None`` means no limit.

    ``max_cost`` (USD) stops the run before the request that would cross it: that request's cost
    is estimated (see :func:`agentkit.pricing.next_request_cost`) and the run ends when the cost so
    far plus the estimate is more than ``max_cost``. For a sub-agent's requests, the cost counted
    is the whole run's.
    """

    max_requests: int | None = None
    max_tool_calls: int | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_total_tokens: int | None = None
    max_cost: float | None = None

    def check_request(self, usage: Usage, next_cost: float = 0.0) -> str | None:
        """Why another model request is not allowed (None when it is).

        ``next_cost`` is the estimated cost of that request: with ``max_cost`` set, the request is
        not sent when ``usage.cost`` (USD so far) plus ``next_cost`` is more than ``max_cost``.
        """
        if self.max_cost is not None:
            spent = usage.cost or 0.0
            if spent + next_cost > self.max_cost:
                cost = f"${spent:.6g} spent and the next request estimated at ${next_cost:.6g}"
                return f"{cost} would pass max cost (${self.max_cost:g})"
        if self.max_requests is not None and usage.requests + 1 > self.max_requests:
            return f"the next request would pass max requests ({self.max_requests})"
        tokens = (
            (self.max_input_tokens, usage.prompt_tokens, "input tokens"),
            (self.max_output_tokens, usage.completion_tokens, "output tokens"),
            (self.max_total_tokens, usage.total_tokens, "total tokens"),
        )
        for limit, used, what in tokens:
            if limit is not None and used >= limit:  # any further request would go past it
                return f"{used} {what} used, max {limit}"
        return None

    def check_tool_calls(self, usage: Usage, more: int) -> str | None:
        """Why ``more`` tool calls are not allowed (None when they are)."""
        if self.max_tool_calls is not None and usage.tool_calls + more > self.max_tool_calls:
            return f"{more} more tool calls would pass max tool calls ({self.max_tool_calls}); {usage.tool_calls} made so far"
        return None


@dataclass(frozen=True)
class ToolLimits:
    """How much of one model turn's tool calls run, and how many at once.

    A model can answer with any number of calls; a run executes at most ``max_calls_per_turn`` of
    them (the rest are answered with a message asking the model to call them in a later turn)
    and runs at most ``max_concurrent`` at the same time (the others wait their turn).

    Attributes:
        max_calls_per_turn: calls executed per model turn (default 64).
        max_concurrent: calls running at once (default 16; sync tools also share a pool of
            worker threads).
    """

    max_calls_per_turn: int = 64
    max_concurrent: int = 16

    def __post_init__(self) -> None:
        for label, value in (("max_calls_per_turn", self.max_calls_per_turn), ("max_concurrent", self.max_concurrent)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"ToolLimits.{label} must be a positive int, not {value!r}.")
