"""Ready-made history processors: fit a long conversation into the context window.

Pass them as ``Agent(history_processors=[...])``. They change what each request sends, never the
stored history (``result.messages`` keeps every message)::

    from agentkit.history import fit_context, keep_last_turns, summarize_older

    agent = Agent("openrouter:mistralai/mistral-nemo", history_processors=[fit_context()])

* :func:`keep_last_turns` — the last *n* turns (a turn: a user message and everything after it
  up to the next one).
* :func:`fit_tokens` — drop the oldest turns until the estimated prompt fits a token budget.
* :func:`fit_context` — :func:`fit_tokens` with the budget taken from the model's context length.
* :func:`summarize_older` — replace the older turns by a summary another model writes (cached).

All of them keep the system message(s) at the start and the first user message (unless told
``keep_system=False`` / ``keep_first_user=False``), and none ever separates an assistant
message's tool calls from their results or keeps a tool result without its call: a cut inside a
tool-call group moves to the group's start.

Token counts come from a :class:`TokenCounter`: a local estimate (bytes per token, overheads,
tool definitions) that calibrates itself with the ``prompt_tokens`` the provider reported for
the earlier requests of a run.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from ._history_cuts import Layout, layout, steps
from ._history_run import Calibration, RunFacts, run_facts
from ._history_summary import SUMMARY_INSTRUCTIONS, SUMMARY_PREFIX, SummarizeOlder, is_summary, summarize_older
from ._tokens import TokenCounter
from .context import RunContext
from .errors import UserError
from .messages import Message
from .models._context import CONTEXT_LENGTHS, known_context_length

__all__ = [
    "keep_last_turns",
    "fit_tokens",
    "fit_context",
    "summarize_older",
    "KeepLastTurns",
    "FitTokens",
    "FitContext",
    "SummarizeOlder",
    "TokenCounter",
    "CONTEXT_LENGTHS",
    "known_context_length",
    "is_summary",
    "SUMMARY_INSTRUCTIONS",
    "SUMMARY_PREFIX",
    "DEFAULT_RESERVE",
]

DEFAULT_RESERVE = 4096
"""Tokens :func:`fit_context` keeps free for the answer when the run sets no ``max_tokens``."""


def _positive(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"{name} must be a positive int, not {value!r}.")
    return value


class KeepLastTurns:
    """The history processor :func:`keep_last_turns` returns (see there)."""

    def __init__(self, n: int, *, keep_first_user: bool = True, keep_system: bool = True) -> None:
        self.n = _positive("keep_last_turns(n)", n)
        self.keep_first_user = keep_first_user
        self.keep_system = keep_system

    def __call__(self, messages: list[Message]) -> list[Message]:
        """The messages to send: the pinned ones and the last ``n`` turns."""
        lay = layout(messages, keep_system=self.keep_system, keep_first_user=self.keep_first_user)
        if len(lay.turns) <= self.n:
            return list(messages)
        return lay.keep(messages, lay.turns[-self.n])

    def __repr__(self) -> str:
        return f"keep_last_turns({self.n})"


def keep_last_turns(n: int, *, keep_first_user: bool = True, keep_system: bool = True) -> KeepLastTurns:
    """A history processor that sends only the last ``n`` turns.

    A turn is a user message and everything after it up to the next user message. The system
    message(s) at the start are kept (unless ``keep_system=False``), and so is the first user
    message, the task (unless ``keep_first_user=False``). A run with a single user message and
    many tool calls is one turn: use :func:`fit_tokens` to trim inside it.
    """
    return KeepLastTurns(n, keep_first_user=keep_first_user, keep_system=keep_system)


class FitTokens:
    """The history processor :func:`fit_tokens` returns (see there).

    ``counter`` is the :class:`TokenCounter` it estimates with (None: the model's own when it
    has one, as HTTP models do, else one of its own); ``last_estimate`` the estimated prompt
    of what it returned last.
    """

    def __init__(
        self, budget: int | None, *, counter: TokenCounter | None = None, keep_first_user: bool = True, keep_system: bool = True
    ) -> None:
        self.budget = None if budget is None else _positive("fit_tokens(budget)", budget)
        self.counter = counter
        self.keep_first_user = keep_first_user
        self.keep_system = keep_system
        self.last_estimate: int | None = None
        self._own = TokenCounter()
        self._calibration = Calibration()

    def _counter(self, facts: RunFacts) -> TokenCounter:
        return self.counter or facts.counter or self._own

    def _budget(self, facts: RunFacts) -> int | None:
        return self.budget

    def __call__(self, ctx: RunContext[Any] | None, messages: list[Message]) -> list[Message]:
        """The messages to send: the oldest turns dropped until the estimate fits the budget."""
        facts = run_facts(ctx)
        counter = self._counter(facts)
        self._calibration.observe(ctx, counter)
        budget = self._budget(facts)
        out = list(messages) if budget is None else self.trim(messages, budget, counter, facts)
        self._calibration.sent(ctx, out, facts)
        return out

    def trim(
        self, messages: Sequence[Message], budget: int, counter: TokenCounter, facts: RunFacts | None = None
    ) -> list[Message]:
        """``messages`` trimmed to ``budget`` estimated tokens (for calling it outside a run).

        Whole turns go first, oldest first; when even the last turn alone is over the budget,
        its oldest model steps go too (its user message stays). What cannot be trimmed further
        is returned as it is.
        """
        facts = facts or RunFacts()
        estimate = counter.estimate(messages, facts.tools, output_schema=facts.output_schema)
        if estimate <= budget:
            self.last_estimate = estimate
            return list(messages)
        lay = layout(messages, keep_system=self.keep_system, keep_first_user=self.keep_first_user)
        costs = counter.message_costs(messages)
        suffix = [*accumulate(reversed(costs), initial=0.0)][::-1]  # suffix[i] = sum(costs[i:])
        fixed, scale = counter.fixed_cost(facts.tools, facts.output_schema), counter.scale
        candidates = _candidates(messages, lay)
        if not candidates:
            self.last_estimate = estimate
            return list(messages)
        chosen = candidates[-1]
        for cut, also in candidates:
            head = {i for i in (*lay.pinned, *also) if i < lay.valid(cut)}
            size = round(scale * (fixed + sum(costs[i] for i in head) + suffix[lay.valid(cut)]))
            if size <= budget:
                chosen = (cut, also)
                break
        out = lay.keep(messages, chosen[0], also=chosen[1])
        self.last_estimate = counter.estimate(out, facts.tools, output_schema=facts.output_schema)
        return out

    def __repr__(self) -> str:
        return f"fit_tokens({self.budget})"


def _candidates(messages: Sequence[Message], lay: Layout) -> list[tuple[int, tuple[int, ...]]]:
    """The cuts to try, ascending: each later turn's start, then the model steps inside the last
    turn (keeping its user message)."""
    found: list[tuple[int, tuple[int, ...]]] = [(t, ()) for t in lay.turns if t > 0]
    last_user = lay.users[-1] if lay.users else -1
    found += [(i, (last_user,) if last_user >= 0 else ()) for i in steps(messages, lay, last_user)]
    return found


def fit_tokens(
    budget: int, *, counter: TokenCounter | None = None, keep_first_user: bool = True, keep_system: bool = True
) -> FitTokens:
    """A history processor that drops the oldest turns until the estimated prompt fits ``budget`` tokens.

    The estimate includes the tool definitions and the output schema the request carries. When
    the last turn alone is over the budget (one user message, then many tool calls), its oldest
    model steps are dropped too, whole tool-call groups at a time; the system message(s), the
    first user message and the last turn's user message always stay.

    ``counter``: the :class:`TokenCounter` to estimate with (default: the model's own, which HTTP
    models have, else a new one). The processor calibrates it with the ``prompt_tokens`` the
    provider reports for what it sent: put it last among the history processors.
    """
    return FitTokens(budget, counter=counter, keep_first_user=keep_first_user, keep_system=keep_system)


class FitContext(FitTokens):
    """The history processor :func:`fit_context` returns (see there)."""

    def __init__(
        self,
        *,
        counter: TokenCounter | None = None,
        reserve: int | None = None,
        context_length: int | None = None,
        margin: float = 0.05,
        keep_first_user: bool = True,
        keep_system: bool = True,
    ) -> None:
        super().__init__(None, counter=counter, keep_first_user=keep_first_user, keep_system=keep_system)
        self.reserve = None if reserve is None else _positive("fit_context(reserve)", reserve)
        self.context_length = None if context_length is None else _positive("fit_context(context_length)", context_length)
        if not 0 <= margin < 1:
            raise UserError(f"fit_context(margin) must be in [0, 1), not {margin!r}.")
        self.margin = margin
        self._warned = False

    def _budget(self, facts: RunFacts) -> int | None:
        length = self.context_length or facts.context_length
        if length is None:
            if not self._warned:
                self._warned = True
                name = getattr(facts.model, "model_name", None) or "the model"
                warnings.warn(
                    f"fit_context(): the context length of {name} is unknown, nothing is trimmed; "
                    "pass fit_context(context_length=...) or build the model with context_length=...",
                    UserWarning,
                    stacklevel=2,
                )
            return None
        reserve = self.reserve if self.reserve is not None else (facts.max_tokens or DEFAULT_RESERVE)
        return max(1, int((length - reserve) * (1 - self.margin)))

    def __repr__(self) -> str:
        return f"fit_context(reserve={self.reserve}, context_length={self.context_length})"


def fit_context(
    counter: TokenCounter | None = None,
    *,
    reserve: int | None = None,
    context_length: int | None = None,
    margin: float = 0.05,
    keep_first_user: bool = True,
    keep_system: bool = True,
) -> FitContext:
    """A history processor that trims the history to the model's context length.

    The budget is ``(context_length - reserve) * (1 - margin)``: ``context_length`` is the
    model's (``model.context_length``: known for the seed models, settable for any; or given
    here), ``reserve`` the tokens kept for the answer (default: the run's ``max_tokens``, else
    :data:`DEFAULT_RESERVE`), ``margin`` room for the estimate's error. Trimming works as
    :func:`fit_tokens`; a model whose context length is unknown gets its history unchanged (with
    one warning).
    """
    return FitContext(
        counter=counter,
        reserve=reserve,
        context_length=context_length,
        margin=margin,
        keep_first_user=keep_first_user,
        keep_system=keep_system,
    )
