"""Guardrails: checks that run beside an agent and can stop it.

* **Input guardrails** (``Agent(input_guardrails=[...])``) look at a run's input. They run
  concurrently with the first model request (``Guardrail(fn, run_first=True)``: before it); one
  that trips cancels that request and raises :class:`~agentkit.errors.GuardrailTripped`.
* **Output guardrails** (``Agent(output_guardrails=[...])``) look at the final output before
  the run returns it.
* **Tool guardrails** (``@tool(guardrails=[...])``) check a call's arguments before it runs and
  its result after; a tripped one answers the model with an error message, or ends the run
  when its result says ``halt=True``.

A guardrail is a sync or async function of the run context and what it checks, returning a
:class:`GuardrailResult` (a sync one runs in a worker thread). One that raises ends the run
with :class:`~agentkit.errors.GuardrailError`. It can itself run an agent (a cheap classifier
model): see ``docs/guardrails.md``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

from .context import RunContext
from .errors import ToolDefinitionError, UserError

__all__ = [
    "GuardrailResult",
    "Guardrail",
    "ToolGuardrail",
    "GuardrailFunction",
    "GuardrailLike",
    "ToolGuardrailLike",
    "prepare_guardrails",
    "prepare_tool_guardrails",
]


@dataclass(frozen=True)
class GuardrailResult:
    """What a guardrail found.

    Attributes:
        tripped: True stops what it guards (the run, or for a tool guardrail the call).
        info: anything worth keeping (a classifier's output, a reason); carried by
            :class:`~agentkit.errors.GuardrailTripped`.
        message: tool guardrails: what the model reads instead of the call's result (a default
            names the guardrail).
        halt: tool guardrails: end the whole run with ``GuardrailTripped`` instead of answering
            the model.
    """

    tripped: bool
    info: Any = None
    message: str | None = None
    halt: bool = False


GuardrailFunction = Callable[[RunContext[Any], Any], Union[GuardrailResult, Awaitable[GuardrailResult]]]
"""``fn(ctx, value) -> GuardrailResult`` (sync or async): ``value`` is the run's input, its final
output, or (tool guardrails) the call's arguments as a dict."""


@dataclass(frozen=True)
class Guardrail:
    """An input or output guardrail with options; a plain function is ``Guardrail(fn)``.

    Attributes:
        function: ``fn(ctx, value) -> GuardrailResult``, sync or async.
        name: a name for errors and traces (default: the function's name).
        run_first: input guardrails: finish before the first model request is sent, instead
            of running concurrently with it (no tokens are spent on an input that trips it).
    """

    function: GuardrailFunction
    name: str = ""
    run_first: bool = False

    def __post_init__(self) -> None:
        if not callable(self.function):
            raise UserError(f"A guardrail must be a function (ctx, value) -> GuardrailResult, not {self.function!r}.")
        if not self.name:
            object.__setattr__(self, "name", getattr(self.function, "__name__", type(self.function).__name__))


@dataclass(frozen=True)
class ToolGuardrail:
    """A tool guardrail: ``before`` checks the arguments (a dict), ``after`` the result (the tool's
    return value); either may be None. A plain function in ``@tool(guardrails=[...])`` is a
    ``before`` check.
    """

    before: GuardrailFunction | None = None
    after: GuardrailFunction | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.before is None and self.after is None:
            raise UserError("A ToolGuardrail needs before=..., after=... or both.")
        for check in (self.before, self.after):
            if check is not None and not callable(check):
                raise UserError(f"A tool guardrail check must be a function (ctx, value) -> GuardrailResult, not {check!r}.")
        if not self.name:
            check = self.before or self.after
            object.__setattr__(self, "name", getattr(check, "__name__", type(check).__name__))


GuardrailLike = Union[Guardrail, GuardrailFunction]
"""An input or output guardrail: a :class:`Guardrail`, or a plain function."""


def prepare_guardrails(items: Sequence[GuardrailLike], what: str) -> tuple[Guardrail, ...]:
    """``items`` as :class:`Guardrail` values; raises :class:`~agentkit.errors.UserError` for anything else."""
    given: object = items
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise UserError(f"{what} must be a list of guardrails (functions or Guardrail), not {type(items).__name__}.")
    return tuple(item if isinstance(item, Guardrail) else Guardrail(item) for item in items)


ToolGuardrailLike = Union[ToolGuardrail, GuardrailFunction]
"""A tool guardrail: a :class:`ToolGuardrail`, or a plain function (a ``before`` check of the arguments)."""


def prepare_tool_guardrails(items: Sequence[ToolGuardrailLike]) -> tuple[ToolGuardrail, ...]:
    """``items`` as :class:`ToolGuardrail` values (a plain function checks the arguments); raises
    :class:`~agentkit.errors.ToolDefinitionError` for anything else."""
    given: object = items
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise ToolDefinitionError(f"guardrails must be a list of functions or ToolGuardrail, not {type(items).__name__}.")
    prepared: list[ToolGuardrail] = []
    for item in items:
        one: object = item
        if isinstance(one, Guardrail):  # Guardrail(fn, name=...): a named before check
            prepared.append(ToolGuardrail(before=one.function, name=one.name))
        elif isinstance(item, ToolGuardrail):
            prepared.append(item)
        elif callable(item):
            prepared.append(ToolGuardrail(before=item))
        else:
            raise ToolDefinitionError(f"A tool guardrail must be a function (ctx, value) or a ToolGuardrail, not {item!r}.")
    return tuple(prepared)
