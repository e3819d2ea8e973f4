"""One run in flight: its spec, its serializable state, and what only lives while it runs
(deps, settings, limits, approvals, the result, where it sits among agents). Also how a run
starts, resumes, and passes to another agent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .._batch_cost import guard_of, guarded
from ..content import Prompt, prompt_content
from ..context import RunContext
from ..errors import (
    AgentRunError,
    InvalidRunState,
    MaxHandoffsExceeded,
    MaxTurnsExceeded,
    OutputValidationError,
    UsageLimitExceeded,
    UserError,
)
from ..messages import Message, SystemMessage, ToolCall, ToolMessage, UserMessage
from ..output import OutputInvalid
from ..pricing import next_request_cost, price_for
from ..settings import ModelSettings
from ..tools import Tool
from ..usage import Usage, UsageLimits
from .hooks import HookSet
from .spec import AgentLike, RunSpec

if TYPE_CHECKING:
    from ..handoffs import Handoff
    from ..sessions import Session
from .state import Approval, RunResult, RunState, unanswered

__all__ = ["LiveRun", "check_deps"]

E = TypeVar("E", bound=AgentRunError)
_AUTO = ModelSettings(tool_choice="auto")


class LiveRun:
    """The mutable side of one run. ``state`` is the part that serializes (:class:`RunState`)."""

    __slots__ = (
        "approvals",
        "budget",
        "deps",
        "extra_hooks",
        "forced",
        "hops",
        "limits",
        "live_tools",
        "max_handoffs",
        "model_name",
        "outer",
        "override",
        "parent",
        "path",
        "result",
        "resumed",
        "saved",
        "session",
        "settings",
        "spec",
        "state",
        "trace",
    )

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
        self.path: tuple[str, ...] = (spec.label,)
        """The agents from the outermost run to this one (events carry it)."""
        self.outer: tuple[Usage, ...] = ()
        """The usage of the runs this one is nested in (a sub-agent's usage counts toward theirs)."""
        self.extra_hooks: HookSet | None = None
        self.override: ModelSettings | None = None
        """The run's own ``settings=`` (laid over each agent's after a handoff)."""
        self.max_handoffs = spec.max_handoffs
        self.live_tools = False
        """Whether the caller watches tool events live (a stream): sub-agents then stream theirs."""
        self.hops: list[tuple[str, str]] = []
        self.session: Session | None = None
        """Where the run's messages are stored as each step completes (``run(session=...)``)."""
        self.saved = 0
        """How many of ``state.messages`` the session has (or were loaded from it)."""
        self.parent: tuple[LiveRun, str] | None = None
        """The run and tool call this one runs inside (an agent used as a tool)."""
        self.trace: Any = None
        """What instrumentation keeps of this run (its spans, its clock), when it is watched."""
        self.budget: Any = guard_of(spec.model)
        """``run_many(max_cost=...)``'s guard: it counts the requests of a model it does not wrap
        (a sub-agent's, after a handoff) and refuses those that would cross the batch's budget."""

    # -- starting ----------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        spec: RunSpec,
        prompt: Prompt | None,
        messages: Sequence[Message] | None,
        deps: Any,
        settings: ModelSettings,
        limits: UsageLimits | None,
        state: RunState | None,
        approvals: Mapping[str, Approval] | None,
    ) -> LiveRun:
        """A new run (prompt and/or messages), or a paused one resumed (``state`` and ``approvals``)."""
        content = None if prompt is None else prompt_content(prompt)  # a string, or checked strings and parts
        check_deps(spec, deps, targets=True)
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
        if content is not None:
            history.append(UserMessage(content=content))
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
        known = {c.id for c in state.pending}  # a paused sub-agent's calls in place of the call running it
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
            _run=self,
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

    @property
    def total_usage(self) -> Usage:
        """What the usage limits are checked against: the outermost run's usage (a sub-agent's counts there too)."""
        return self.outer[0] if self.outer else self.state.usage

    def check_request(self) -> None:
        """Raise when another model request is not allowed (``max_turns``, usage limits)."""
        state = self.state
        if state.turn >= self.spec.max_turns:
            raise self.error(MaxTurnsExceeded, f"The run reached max_turns={self.spec.max_turns} without a final answer.")
        budget = self.budget
        if budget is not None and not guarded(self.spec.model):  # the guard checks its own model's requests
            spec = self.spec
            budget.check(next_request_cost(spec.model, state.messages, spec.tool_defs, self.settings.max_tokens, budget.used))
        limits = self.limits
        if limits is None:
            return
        usage = self.total_usage
        estimate = 0.0
        if limits.max_cost is not None:
            spec = self.spec
            estimate = next_request_cost(spec.model, state.messages, spec.tool_defs, self.settings.max_tokens, usage)
        why = limits.check_request(usage, estimate)
        if why is not None:
            raise self.error(UsageLimitExceeded, f"Usage limit: {why}.")

    def check_tool_calls(self, count: int) -> None:
        """Raise when ``count`` more tool calls would pass a usage limit; else count them."""
        why = self.limits.check_tool_calls(self.total_usage, count) if self.limits is not None else None
        if why is not None:
            raise self.error(UsageLimitExceeded, f"Usage limit: {why}.")
        self.state.usage.tool_calls += count
        for usage in self.outer:
            usage.tool_calls += count

    def add_usage(self, used: Usage) -> None:
        """One response's usage, into this run's and into the runs it is nested in (its cost priced
        from the model's price when the provider did not report one)."""
        if used.cost is None and (used.prompt_tokens or used.completion_tokens):
            price = price_for(self.spec.model)
            if price is not None:
                used.cost = price.cost(used)
        if self.budget is not None and not guarded(self.spec.model):
            self.budget.charge(used)
        for usage in (self.state.usage, *self.outer) if self.outer else (self.state.usage,):
            usage.add(used)
            if used.requests == 0:
                usage.requests += 1

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

    # -- handoffs ----------------------------------------------------------------------------
    async def enter(self, agent: AgentLike, label: str | None = None) -> None:
        """Go on with ``agent`` (called ``label`` in paths and state): its spec (tools, model,
        output...) and settings (under the run's own)."""
        await agent.connect()
        from ..runlog import carry_log

        spec = carry_log(self.spec, agent._spec(self.extra_hooks), handoff=True)  # the run's log goes on recording it
        check_deps(spec, self.deps)
        self.spec = spec
        self.settings = agent.settings.merge(self.override) if self.override is not None else agent.settings
        self.forced = self.settings.tool_choice not in (None, "auto", "none")
        label = label or spec.label
        self.path = (*self.path[:-1], label)
        self.state.agent = label

    def check_handoff(self, to: str, call_id: str) -> None:
        """Raise :class:`MaxHandoffsExceeded` when the run may not hand off once more (the call's
        result then says it was not transferred)."""
        if self.state.handoffs < self.max_handoffs:
            return
        hop = (self.path[-1], to)
        messages = self.state.messages
        for i in range(len(messages) - 1, -1, -1):
            m = messages[i]
            if isinstance(m, ToolMessage) and m.tool_call_id == call_id:
                text = f"Not transferred: the run reached max_handoffs={self.max_handoffs}."
                messages[i] = m.model_copy(update={"content": text, "is_error": True})
                break
        hops = " -> ".join([h[0] for h in [*self.hops, hop]] + [to])
        raise self.error(
            MaxHandoffsExceeded,
            f"The run reached max_handoffs={self.max_handoffs} ({hops}): raise max_handoffs, "
            "or change the instructions that make the agents hand back and forth.",
            handoffs=[*self.hops, hop],
        )

    async def hand_off(self, agent: AgentLike, label: str, input_filter: Any) -> tuple[str, str]:
        """Pass the run to ``agent`` (after :meth:`check_handoff`): switch, give it its own system
        message, filter the conversation. Returns the hop ``(from, to)``."""
        source = self.spec
        hop = (self.path[-1], label)
        await self.enter(agent, label)
        self.hops.append(hop)
        self.state.handoffs += 1
        self._instructions(source.instructions, self.spec.instructions)
        if input_filter is not None:
            state = self.state
            before = {id(m) for m in state.messages[: state.new_message_index]}
            state.messages = list(input_filter(list(state.messages)))
            # the run's messages start after the last one the filter kept of the history it was given
            kept = [i for i, m in enumerate(state.messages) if id(m) in before]
            state.new_message_index = kept[-1] + 1 if kept else 0
        return hop

    def _instructions(self, old: str | None, new: str | None) -> None:
        """The new agent's instructions in place of the old one's, as the first message."""
        state = self.state
        messages = state.messages
        first = messages[0] if messages else None
        if isinstance(first, SystemMessage) and (first.content == old or new):
            if new:
                messages[0] = SystemMessage(content=new)
            else:
                del messages[0]
                state.new_message_index = max(0, state.new_message_index - 1)
        elif new:
            messages.insert(0, SystemMessage(content=new))
            state.new_message_index += 1 if state.new_message_index else 0

    def find_agent(self, name: str) -> AgentLike:
        """The agent called ``name`` among those this run's agent can hand off to (directly or not)."""
        start = self.spec.agent
        if start is not None and self.spec.label == name:
            return start
        for handoff in reachable(self.spec):
            if handoff.name == name:
                return handoff.agent
        raise InvalidRunState(
            f"This RunState is with agent {name!r}, which {self.spec.label!r} cannot hand off to: "
            "resume it from the agent it started with."
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


def reachable(spec: RunSpec) -> list[Handoff]:
    """The handoffs of ``spec``'s agent and of every agent they lead to (each once)."""
    found: list[Handoff] = []
    seen: list[AgentLike] = [spec.agent] if spec.agent is not None else []
    queue = list(spec.handoffs.values())
    while queue:
        handoff = queue.pop(0)
        found.append(handoff)
        if any(handoff.agent is other for other in seen):
            continue
        seen.append(handoff.agent)
        queue.extend(handoff.agent._spec().handoffs.values())
    return found


def check_deps(spec: RunSpec, deps: Any, *, targets: bool = False) -> None:
    """A tool that takes a ``RunContext`` on an agent with a ``deps_type`` needs ``deps``
    (``targets``: also on the agents the run may hand off to, checked at its start)."""
    if deps is None and targets and spec.handoffs:
        for handoff in reachable(spec):
            check_deps(handoff.agent._spec(), None)
    if deps is None and spec.deps_type is not None and spec.deps_type is not type(None):
        needing = [t.name for t in spec.tools.values() if t.takes_context]
        if needing:
            raise UserError(
                f"The agent has deps_type={getattr(spec.deps_type, '__name__', spec.deps_type)} and its tools "
                f"{', '.join(needing)} take a RunContext, but the run got no deps: pass deps=... to run()."
            )
