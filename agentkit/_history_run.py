"""What a history processor can learn of the run it serves (internal to :mod:`agentkit.history`).

A processor gets the run's :class:`~agentkit.RunContext`. Its ``usage`` is the run's running
total: when a processor is called for request *n + 1*, the ``prompt_tokens`` added since its call
for request *n* (one request later) are what the provider counted for request *n* — whose
messages are what the processor returned then. :class:`Calibration` feeds those pairs to a
:class:`~agentkit.history.TokenCounter`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._tokens import TokenCounter
from .context import RunContext
from .messages import Message
from .models._context import known_context_length
from .tools import ToolDefinition
from .usage import Usage

__all__ = ["RunFacts", "run_facts", "Calibration"]


@dataclass(frozen=True)
class RunFacts:
    """What the next request carries besides its messages."""

    model: Any = None
    tools: tuple[ToolDefinition, ...] = ()
    output_schema: dict[str, Any] | None = None
    max_tokens: int | None = None

    @property
    def context_length(self) -> int | None:
        """The model's context length, when known."""
        length = getattr(self.model, "context_length", None)
        if isinstance(length, int) and length > 0:
            return length
        name = getattr(self.model, "model_name", None)
        return known_context_length(name) if isinstance(name, str) else None

    @property
    def counter(self) -> TokenCounter | None:
        """The model's own counter (HTTP models have one), else None."""
        counter = getattr(self.model, "token_counter", None)
        return counter if isinstance(counter, TokenCounter) else None


def run_facts(ctx: RunContext[Any] | None) -> RunFacts:
    """The model, tools, output schema and ``max_tokens`` of the run ``ctx`` belongs to (empty
    outside a run)."""
    run = getattr(ctx, "_run", None)
    spec = getattr(run, "spec", None)
    if spec is None:
        return RunFacts()
    native = getattr(spec, "native", None)
    schema = getattr(native, "schema", None)
    settings = getattr(run, "settings", None)
    max_tokens = getattr(settings, "max_tokens", None)
    tools = getattr(spec, "tool_defs", ())
    return RunFacts(
        model=getattr(spec, "model", None),
        tools=tools if isinstance(tools, tuple) else tuple(tools),  # the same tuple every turn: its cost is cached
        output_schema=schema if isinstance(schema, dict) else None,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
    )


@dataclass
class _Sent:
    usage: Usage
    requests: int
    prompt_tokens: int
    messages: tuple[Message, ...]
    facts: RunFacts


class Calibration:
    """Per run (by its usage object): what the processor sent last, and the usage then."""

    def __init__(self, runs: int = 256) -> None:
        self._sent: OrderedDict[int, _Sent] = OrderedDict()
        self._runs = runs

    def observe(self, ctx: RunContext[Any] | None, counter: TokenCounter) -> None:
        """Record into ``counter`` what the provider reported for the request this processor
        prepared last in ``ctx``'s run, when exactly one request was made since."""
        if ctx is None:
            return
        usage = ctx.usage
        sent = self._sent.get(id(usage))
        if sent is None or sent.usage is not usage or usage.requests != sent.requests + 1:
            return
        reported = usage.prompt_tokens - sent.prompt_tokens
        if reported > 0:
            counter.record(sent.messages, sent.facts.tools, reported, output_schema=sent.facts.output_schema)

    def sent(self, ctx: RunContext[Any] | None, messages: Sequence[Message], facts: RunFacts) -> None:
        """Remember what this processor returned for ``ctx``'s next request."""
        if ctx is None:
            return
        usage = ctx.usage
        self._sent[id(usage)] = _Sent(usage, usage.requests, usage.prompt_tokens, tuple(messages), facts)
        self._sent.move_to_end(id(usage))
        while len(self._sent) > self._runs:
            self._sent.popitem(last=False)
