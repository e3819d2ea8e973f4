"""Token and request accounting, summed across the turns of a run."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Usage"]


@dataclass
class Usage:
    """What a run (or one response) used.

    ``requests`` counts model requests; ``tool_calls`` counts tool functions executed.
    ``details`` holds provider-reported extras (e.g. ``cached_tokens``, ``reasoning_tokens``),
    summed key by key; ``cost`` is the provider-reported cost when there is one (OpenRouter).
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

    def __add__(self, other: Usage) -> Usage:
        total = Usage()
        total.add(self)
        total.add(other)
        return total
