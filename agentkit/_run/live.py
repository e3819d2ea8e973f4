"""One run in flight: its spec, its serializable state, and what only lives while it runs
(deps, settings, limits, approvals, the result). Also how a run starts or resumes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from ..context import RunContext
from ..errors import AgentRunError, InvalidRunState, MaxTurnsExceeded, OutputValidationError, UsageLimitExceeded, UserError
from ..messages import Message, SystemMessage, ToolCall, UserMessage
from ..output import OutputInvalid
from ..settings import ModelSettings
from ..tools import Tool
from ..usage import Usage, UsageLimits
from .spec import RunSpec
from .state import Approval, RunResult, RunState, unanswered

__all__ = ["LiveRun", "check_deps"]

E = TypeVar("E", bound=AgentRunError)
_AUTO = ModelSettings(tool_choice="auto")


class LiveRun:
    """The mutable side of one run. ``state`` is the part that serializes (:class:`RunState`)."""

    __slots__ = ("approvals", "deps", "forced", "limits", "model_name", "result", "resumed", "settings", "spec", "state")

    def __init__(
        self,
        spec: RunSpec,
        state: RunState,
        deps: Any,
        settings: ModelSettings,
        limits: UsageLimits | None,
        approvals: dict[str, Approval],
        resumed: list[ToolCall] | None = None,
    ) -> None:
        self.spec = spec
        self.state = state
        self.deps = deps
        self.settings = settings
        self.limits = limits
        self.approvals = approvals
        self.result: RunResult[Any] | None = None
        self.model_name: str | None = None
        self.forced = settings.tool_choice not in (None, "auto", "none")
        self.resumed = resumed

    # -- starting ----------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        spec: RunSpec,
        prompt: str | None,
        messages: Sequence[Message] | None,
        deps: Any,
        settings: ModelSettings,
        limits: UsageLimits | None,
        state: RunState | None,
        approvals: Mapping[str, Approval] | None,
    ) -> LiveRun:
        """A new run (prompt and/or messages), or a paused one resumed (``state`` and ``approvals``)."""
        if prompt is not None and not isinstance(prompt, str):
            raise UserError(f"prompt must be a string, not {type(prompt).__name__}.")
        check_deps(spec, deps)
        if state is not None:
            if prompt is not None or messages:
                raise UserError("Resume a paused run with state= alone: it already holds the conversation.")
            return cls._resume(spec, state, deps, settings, limits, approvals)
        if approvals:
            raise UserError("approvals= goes with state= (the paused run they decide on).")
        history: list[Message] = list(messages) if messages else []
        if spec.instructions and not (history and isinstance(history[0], SystemMessage)):
            history.insert(0, SystemMessage(content=spec.instructions))
        start = len(history) if messages else 0
        if prompt is not None:
            history.append(UserMessage(content=prompt))
        if not history:
            raise UserError("Nothing to send: give a prompt or messages.")
        return cls(spec, RunState(history, Usage(), 0, {}, 0, start, {}), deps, settings, limits, {})

    @classmethod
    def _resume(
        cls,
        spec: RunSpec,
        state: RunState,
        deps: Any,
        settings: ModelSettings,
        limits: UsageLimits | None,
        approvals: Mapping[str, Approval] | None,
    ) -> LiveRun:
        if not isinstance(state, RunState):
            raise UserError(f"state must be a RunState (ApprovalRequired.state), not {type(state).__name__}.")
        if not state.messages:
            raise InvalidRunState("This RunState has no messages: there is no paused run to resume.")
        state.checked()  # also one built by hand
        pending = unanswered(state.messages)
        if not pending:
            raise InvalidRunState(
                "This RunState is not paused on tool calls (its last turn has no unanswered calls, or a message follows "
                "them); continue a finished conversation with messages=result.messages instead."
            )
        decisions = dict(approvals or {})
        known = {c.id for c in pending}
        stray = sorted(set(decisions) - known)
        if stray:
            listed = ", ".join(sorted(known))
            raise UserError(f"approvals name calls that are not pending: {', '.join(stray)}. Pending: {listed}.")
        for key, decision in decisions.items():
            if not isinstance(decision, (bool, str)):
                raise UserError(f"The approval for {key!r} must be True, False or a reason (str), not {type(decision).__name__}.")
        copy = state.copy()
        copy.approvals = {}
        return cls(spec, copy, deps, settings, limits, {**state.approvals, **decisions}, resumed=pending)

    # -- contexts ----------------------------------------------------------------------------
    def context(self) -> RunContext[Any]:
        """The :class:`RunContext` of run-level hooks and history processors."""
        state = self.state
        return RunContext(
            deps=self.deps,
            usage=state.usage,
            messages=state.messages,
            turn=state.turn,
            model_name=self.spec.model.model_name,
            agent_name=self.spec.name,
        )

    def tool_context(self, tool: Tool[Any, Any], call: ToolCall) -> RunContext[Any]:
        """The :class:`RunContext` a tool (and the tool hooks) get for one call."""
        ctx = self.context()
        ctx.tool_name = tool.name
        ctx.tool_call_id = call.id
        ctx.retry = self.state.tool_failures.get(tool.name, 0)
        return ctx

    # -- checks and bookkeeping --------------------------------------------------------------
    def error(self, cls: type[E], message: str, **extra: Any) -> E:
        """An error that ends the run, carrying the messages and usage so far."""
        return cls(message, messages=self.state.messages, usage=self.state.usage, **extra)

    def check_request(self) -> None:
        """Raise when another model request is not allowed (``max_turns``, usage limits)."""
        state = self.state
        if state.turn >= self.spec.max_turns:
            raise self.error(MaxTurnsExceeded, f"The run reached max_turns={self.spec.max_turns} without a final answer.")
        why = self.limits.check_request(state.usage) if self.limits is not None else None
        if why is not None:
            raise self.error(UsageLimitExceeded, f"Usage limit: {why}.")

    def check_tool_calls(self, count: int) -> None:
        """Raise when ``count`` more tool calls would pass a usage limit."""
        why = self.limits.check_tool_calls(self.state.usage, count) if self.limits is not None else None
        if why is not None:
            raise self.error(UsageLimitExceeded, f"Usage limit: {why}.")

    def answered_call(self) -> None:
        """A forced ``tool_choice`` was answered with a call: ``auto`` from now on (if the agent says so)."""
        if self.forced and self.spec.reset_tool_choice:
            self.settings = self.settings.merge(_AUTO)
            self.forced = False

    def count_output_failure(self, error: OutputInvalid, raw: str | None) -> None:
        """One more invalid final answer; raise once past ``output_retries``."""
        state = self.state
        state.output_failures += 1
        retries = self.spec.output_retries
        if state.output_failures > retries:
            raise self.error(
                OutputValidationError,
                f"The final answer did not match {self.spec.output_label()} after {retries} re-asks: " + "; ".join(error.errors),
                raw_text=raw,
                errors=error.errors,
            )

    def snapshot(self) -> RunState:
        """An independent copy of the serializable state (to resume from later)."""
        copy = self.state.copy()
        copy.approvals = dict(self.approvals)
        return copy

    def finish(self, output: Any) -> RunResult[Any]:
        """The run's result (kept in :attr:`result`)."""
        state = self.state
        self.result = RunResult(
            output=output,
            messages=state.messages,
            usage=state.usage,
            new_message_index=state.new_message_index,
            model_name=self.model_name or self.spec.model.model_name,
            turns=state.turn,
            agent_name=self.spec.name,
        )
        return self.result


def check_deps(spec: RunSpec, deps: Any) -> None:
    """A tool that takes a ``RunContext`` on an agent with a ``deps_type`` needs ``deps``."""
    if deps is None and spec.deps_type is not None and spec.deps_type is not type(None):
        needing = [t.name for t in spec.tools.values() if t.takes_context]
        if needing:
            raise UserError(
                f"The agent has deps_type={getattr(spec.deps_type, '__name__', spec.deps_type)} and its tools "
                f"{', '.join(needing)} take a RunContext, but the run got no deps: pass deps=... to run()."
            )
