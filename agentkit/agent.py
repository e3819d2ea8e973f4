"""Agent: a model, tools and instructions — configuration and the public run methods.

The loop itself lives in :mod:`agentkit._run`: :meth:`Agent._begin` turns the agent into a frozen
:class:`~agentkit._run.spec.RunSpec` and a :class:`~agentkit._run.live.LiveRun`, and
:func:`~agentkit._run.loop.run_loop` runs it, yielding events. ``run()`` drains those events,
``run_stream()`` passes the stream events on, ``iter()`` the steps. Nothing here knows which
provider it talks to.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, overload

from typing_extensions import TypeVar

from ._agent_batch import BatchRuns
from ._agent_run import begin, build_spec, events
from ._agent_tools import AgentTools, HandoffTargets
from ._run.hooks import HookSet, prepare_hooks
from ._run.loop import PLAIN, STREAMING, drain
from ._run.spec import RunSpec, ToolErrors, check_options, check_settings
from ._run.state import Approval, ApprovalCallback, RunResult, RunState
from ._run.stream import AgentRun, AgentStream, SyncAgentStream
from ._run.subagent import agent_tool
from ._sync import run_sync
from .content import Prompt
from .guardrails import GuardrailLike, prepare_guardrails
from .handoffs import HandoffLike
from .hooks import HistoryProcessor, Hooks
from .instrumentation import Instrument, check_instrument
from .messages import Message
from .models.base import Model
from .models.registry import infer_model
from .output import OutputMode, OutputSchema
from .runlog import LogOption, check_log
from .settings import ModelSettings
from .tools import Tool, ToolLike
from .usage import ToolLimits, UsageLimits

if TYPE_CHECKING:
    from .sessions import Session

__all__ = ["Agent", "RunResult", "RunState", "Approval", "ApprovalCallback", "AgentStream", "SyncAgentStream", "AgentRun"]

DepsT = TypeVar("DepsT", default=Any)
OutputT = TypeVar("OutputT", default=str)

_TOOL_LIMITS = ToolLimits()


class Agent(HandoffTargets, BatchRuns[DepsT, OutputT], Generic[DepsT, OutputT]):
    """A model, tools and instructions, run as a loop until the model gives a final answer.

    Args:
        model: a :class:`~agentkit.models.Model`, or a string: ``"openai:gpt-4o-mini"``, ``"test"``.
        tools: tools (``@tool`` functions, ``Tool`` objects or plain functions) and toolsets.
        instructions: the system message, added at the start of a new conversation.
        output_type: ``str`` (default) or a type to parse the final answer into (pydantic
            model, dataclass, TypedDict, ``list[...]``, Literal, Enum, primitives).
        output_mode: ``"native"`` (``response_format`` json_schema) or ``"tool"`` (a
            ``final_result`` tool, for servers without json_schema support).
        output_retries: how many times an invalid final answer is sent back for correction.
        output_strict: force (True) or forbid (False) strict output schemas; None: when possible.
        settings: default request parameters; ``run(settings=...)`` overrides them per run.
        max_turns: the most model requests a run may make.
        tool_retries: default retry budget of each tool (consecutive failed calls allowed).
        reset_tool_choice: after a forced ``tool_choice`` was answered with a call, use
            ``auto`` for the rest of the run (so a forced choice cannot loop forever).
        usage_limits: default :class:`~agentkit.usage.UsageLimits` for every run.
        approve: called for each call of a tool that requires approval, with the call and
            its :class:`RunContext`; returns True, False or a denial reason (or None to pause
            the run with :class:`~agentkit.errors.ApprovalRequired`). Without it, such calls
            always pause the run.
        hooks: :class:`~agentkit.hooks.Hooks` called at each step of every run (``run(hooks=...)``
            adds more for one run).
        history_processors: functions ``(messages)`` or ``(ctx, messages)``, sync or async, that
            change what each request sends (trim, redact, summarize) — never the stored history.
        tool_errors: ``"return"`` (default): an unexpected exception inside a tool goes back to
            the model as an error result (and is logged with its traceback at WARNING);
            ``"raise"``: it ends the run with :class:`~agentkit.errors.ToolExecutionError`.
        tool_limits: :class:`~agentkit.usage.ToolLimits`: tool calls run per model turn (64;
            the rest are answered with a message) and at once (16).
        deps_type: the type of ``deps``: type checkers then check ``run(deps=...)``; at run
            start, tools that take a ``RunContext`` require ``deps``.
        name: a name for logs, reprs, results, event paths, and its handoff and ``as_tool()`` tools.
        handoffs: agents (or :class:`~agentkit.handoffs.Handoff` with options) this one may pass
            the conversation to: each is a ``transfer_to_<name>`` tool; the run goes on with it.
        max_handoffs: the most handoffs a run started here may make (then ``MaxHandoffsExceeded``).
        input_guardrails: checks of the run's input, run with the first model request;
            one that trips ends the run (:class:`~agentkit.errors.GuardrailTripped`).
        output_guardrails: checks of the final output before the run returns it.
        instrument: OpenTelemetry spans of its runs: True, :class:`~agentkit.InstrumentationSettings`,
            False (never) or None (as :func:`agentkit.instrument` says; see docs/observability.md).
        log: record its runs in a SQLite run log: a file, True (the default file), False (never)
            or None (as ``AGENTKIT_LOG`` says; see docs/runlog.md).
    """

    @overload
    def __init__(
        self,
        model: Model | str,
        *,
        tools: Sequence[ToolLike] = (),
        instructions: str | None = None,
        output_type: type[OutputT] | None = None,
        output_mode: OutputMode = "native",
        output_retries: int = 2,
        output_strict: bool | None = None,
        settings: ModelSettings | None = None,
        max_turns: int = 10,
        tool_retries: int = 1,
        reset_tool_choice: bool = True,
        usage_limits: UsageLimits | None = None,
        approve: ApprovalCallback | None = None,
        hooks: Sequence[Hooks] = (),
        history_processors: Sequence[HistoryProcessor] = (),
        tool_errors: ToolErrors = "return",
        tool_limits: ToolLimits = _TOOL_LIMITS,
        deps_type: type[DepsT] | None = None,
        name: str | None = None,
        handoffs: Sequence[HandoffLike] = (),
        max_handoffs: int = 10,
        input_guardrails: Sequence[GuardrailLike] = (),
        output_guardrails: Sequence[GuardrailLike] = (),
        instrument: Instrument = None,
        log: LogOption = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[DepsT, Any],
        model: Model | str,
        *,
        tools: Sequence[ToolLike] = (),
        instructions: str | None = None,
        output_type: object,
        output_mode: OutputMode = "native",
        output_retries: int = 2,
        output_strict: bool | None = None,
        settings: ModelSettings | None = None,
        max_turns: int = 10,
        tool_retries: int = 1,
        reset_tool_choice: bool = True,
        usage_limits: UsageLimits | None = None,
        approve: ApprovalCallback | None = None,
        hooks: Sequence[Hooks] = (),
        history_processors: Sequence[HistoryProcessor] = (),
        tool_errors: ToolErrors = "return",
        tool_limits: ToolLimits = _TOOL_LIMITS,
        deps_type: type[DepsT] | None = None,
        name: str | None = None,
        handoffs: Sequence[HandoffLike] = (),
        max_handoffs: int = 10,
        input_guardrails: Sequence[GuardrailLike] = (),
        output_guardrails: Sequence[GuardrailLike] = (),
        instrument: Instrument = None,
        log: LogOption = None,
    ) -> None: ...

    def __init__(
        self,
        model: Model | str,
        *,
        tools: Sequence[ToolLike] = (),
        instructions: str | None = None,
        output_type: Any = None,
        output_mode: OutputMode = "native",
        output_retries: int = 2,
        output_strict: bool | None = None,
        settings: ModelSettings | None = None,
        max_turns: int = 10,
        tool_retries: int = 1,
        reset_tool_choice: bool = True,
        usage_limits: UsageLimits | None = None,
        approve: ApprovalCallback | None = None,
        hooks: Sequence[Hooks] = (),
        history_processors: Sequence[HistoryProcessor] = (),
        tool_errors: ToolErrors = "return",
        tool_limits: ToolLimits = _TOOL_LIMITS,
        deps_type: Any = None,
        name: str | None = None,
        handoffs: Sequence[HandoffLike] = (),
        max_handoffs: int = 10,
        input_guardrails: Sequence[GuardrailLike] = (),
        output_guardrails: Sequence[GuardrailLike] = (),
        instrument: Instrument = None,
        log: LogOption = None,
    ) -> None:
        self.model: Model = infer_model(model)
        check_options(max_turns, output_retries, tool_retries, tool_errors, tool_limits, max_handoffs)
        check_settings(settings)
        self.instructions = instructions
        self.max_turns = max_turns
        self.output_retries = output_retries
        self.tool_retries = tool_retries
        self.reset_tool_choice = reset_tool_choice
        self.usage_limits = usage_limits
        self.approve = approve
        self.tool_errors: ToolErrors = tool_errors
        self.tool_limits = tool_limits
        self.settings = settings or ModelSettings()
        self.deps_type = deps_type
        self.name = name
        self.max_handoffs = max_handoffs
        check_instrument(instrument)
        self.instrument: Instrument = instrument
        self.log: LogOption = check_log(log)
        self._input_guardrails = prepare_guardrails(input_guardrails, "input_guardrails")
        self._output_guardrails = prepare_guardrails(output_guardrails, "output_guardrails")
        self._hooks = prepare_hooks(hooks, history_processors)
        self.output_type: Any = str if output_type is None else output_type
        self._output: OutputSchema[Any] | None = None
        if self.output_type is not str:
            self._output = OutputSchema(self.output_type, mode=output_mode, strict=output_strict)
        self._toolbox = AgentTools(tools, self._output)
        self.handoffs = handoffs  # checked, and their transfer_to_... tools added
        if self._toolbox.connected:
            self._toolbox.check_tool_choice(self.settings)

    async def connect(self) -> None:
        """Enter the toolsets (e.g. start MCP servers) and add their tools, once (else the first run does it)."""
        if not self._toolbox.connected:
            await self._toolbox.connect()
            self._toolbox.check_tool_choice(self.settings)

    @property
    def tools(self) -> list[Tool[Any, Any]]:
        """The agent's tools, in order."""
        return list(self._toolbox.by_name.values())

    @property
    def output_tool(self) -> str | None:
        """The name of the final-result tool (``output_mode="tool"``), else None."""
        return self._spec().output_tool

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        output = getattr(self.output_type, "__name__", self.output_type)
        return f"Agent({label}model={self.model!r}, tools={list(self._toolbox.by_name)}, output_type={output!r})"

    async def run(
        self,
        prompt: Prompt | None = None,
        *,
        messages: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        state: RunState | None = None,
        approvals: Mapping[str, Approval] | None = None,
        hooks: Sequence[Hooks] = (),
        session: Session | None = None,
    ) -> RunResult[OutputT]:
        """Run the loop until a final answer.

        Args:
            prompt: the user's message: a string, or a list of strings and content parts
                (``["What is this?", BinaryContent.from_path("cat.png")]``); None continues
                ``messages`` as they are.
            messages: an earlier conversation to continue (e.g. ``result.messages``).
            deps: anything the tools need, handed to them as ``RunContext.deps``.
            settings: request parameters for this run, over the agent's defaults.
            usage_limits: limits for this run, over the agent's ``usage_limits``.
            state: a paused run to resume (``ApprovalRequired.state``, also after a restart:
                it round-trips through JSON); give no prompt or messages with it.
            approvals: decisions for the paused calls, by tool-call id: True approves, False
                denies, a string denies with that reason for the model.
            hooks: more :class:`~agentkit.hooks.Hooks` for this run (after the agent's).
            session: a :class:`~agentkit.sessions.Session`: its messages are the history, and the
                run's messages are added to it as each step completes (also when the run fails).

        Raises:
            ApprovalRequired: a tool that requires approval was called; the run is paused
                (nothing of that turn ran yet) — resume with ``state=`` and ``approvals=``.
            UsageLimitExceeded: a usage limit would be passed by the next request or tool calls.
            AgentRunError: the run could not finish (``MaxTurnsExceeded``, ``ToolRetriesExceeded``,
                ``OutputValidationError``, ``HookError``, ``ToolExecutionError``); each carries the messages so far.
            ProviderError: the provider failed (after retries).
            UserError: the arguments are wrong (also a ``state`` that cannot be resumed).

        Cancelling the task that awaits it stops the run at once: the response being read is
        closed and running tools are cancelled (a sync tool's thread finishes in the background).
        """
        run = begin(self, prompt, messages, deps, settings, usage_limits, state, approvals, hooks, session)
        await drain(events(self, run, PLAIN))
        assert run.result is not None
        return run.result

    def run_sync(
        self,
        prompt: Prompt | None = None,
        *,
        messages: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        state: RunState | None = None,
        approvals: Mapping[str, Approval] | None = None,
        hooks: Sequence[Hooks] = (),
        session: Session | None = None,
    ) -> RunResult[OutputT]:
        """:meth:`run`, for synchronous code (also where an event loop is running). Ctrl-C stops the run at once."""
        return run_sync(
            self.run(
                prompt,
                messages=messages,
                deps=deps,
                settings=settings,
                usage_limits=usage_limits,
                state=state,
                approvals=approvals,
                hooks=hooks,
                session=session,
            )
        )

    def run_stream(
        self,
        prompt: Prompt | None = None,
        *,
        messages: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        state: RunState | None = None,
        approvals: Mapping[str, Approval] | None = None,
        hooks: Sequence[Hooks] = (),
        session: Session | None = None,
    ) -> AgentStream[OutputT]:
        """Run the loop, streaming every turn; tool events arrive as each call starts and ends.

        >>> async with agent.run_stream("Weather in Paris?") as stream:
        ...     async for event in stream:      # TextDelta, ToolExecutionStarted, ToolResult, ...
        ...         ...
        ...     result = stream.result           # the same RunResult that run() returns

        Leaving the ``async with`` (or breaking out of the loop) closes the HTTP response and
        cancels running tools. Options as for :meth:`run`.
        """
        run = begin(self, prompt, messages, deps, settings, usage_limits, state, approvals, hooks, session)
        return AgentStream(events(self, run, STREAMING), run)

    def run_stream_sync(
        self,
        prompt: Prompt | None = None,
        *,
        messages: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        state: RunState | None = None,
        approvals: Mapping[str, Approval] | None = None,
        hooks: Sequence[Hooks] = (),
        session: Session | None = None,
    ) -> SyncAgentStream[OutputT]:
        """:meth:`run_stream` for synchronous code: ``for event in agent.run_stream_sync(...)``."""
        return SyncAgentStream(
            self.run_stream(
                prompt,
                messages=messages,
                deps=deps,
                settings=settings,
                usage_limits=usage_limits,
                state=state,
                approvals=approvals,
                hooks=hooks,
                session=session,
            )
        )

    def iter(
        self,
        prompt: Prompt | None = None,
        *,
        messages: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        state: RunState | None = None,
        approvals: Mapping[str, Approval] | None = None,
        hooks: Sequence[Hooks] = (),
        session: Session | None = None,
    ) -> AgentRun[OutputT]:
        """Run the loop one step at a time (options as for :meth:`run`).

        >>> async with agent.iter("Weather in Paris?") as run:
        ...     async for step in run:   # ModelRequestStep, ModelResponseStep, ToolCallsStep,
        ...         print(run.state.turn, type(step).__name__)   # ToolResultsStep, FinalResultStep
        ...     print(run.result.output)

        ``break`` or ``await run.cancel()`` stops the run between steps.
        """
        run = begin(self, prompt, messages, deps, settings, usage_limits, state, approvals, hooks, session)
        return AgentRun(events(self, run, PLAIN), run)

    def as_tool(
        self,
        name: str | None = None,
        description: str | None = None,
        *,
        input_type: Any = str,
        max_turns: int | None = None,
    ) -> Tool[Any, Any]:
        """This agent as another agent's tool: a call runs it; its final output (JSON if structured) is the result.

        The sub-run shares the parent's ``deps`` and usage limits (its usage counts into the parent's);
        it streams its events into the parent's stream (``event.agent == name``), is cancelled with it,
        pauses the whole run for approvals, and when it cannot finish the parent's model gets a tool error.

        Args:
            name: the tool's name (default: the agent's name).
            description: the tool's description for the model.
            input_type: ``str`` (one ``input`` parameter) or a pydantic model, dataclass or
                TypedDict whose fields become the tool's parameters.
            max_turns: the sub-run's ``max_turns`` (default: the agent's).
        """
        return agent_tool(self, name, description, input_type, max_turns)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # a property's setter runs (handoffs)
        self.__dict__["_cached_spec"] = None  # any change of configuration makes a new spec

    def _spec(self, extra_hooks: HookSet | None = None) -> RunSpec:
        """All the loop needs of this agent, frozen for one run (built again after any change)."""
        return build_spec(self, extra_hooks)

    def with_model(self, model: Model | str) -> Agent[DepsT, OutputT]:
        """This agent with another model (same tools, instructions, output type and settings).

        >>> cheap = agent.with_model("openrouter:mistralai/mistral-nemo")
        """
        clone = copy.copy(self)
        clone.model = infer_model(model)
        return clone

    async def aclose(self) -> None:
        """Close the model's connections and the toolsets' (e.g. MCP servers)."""
        try:
            await self._toolbox.close()
        finally:
            await self.model.aclose()

    def close_sync(self) -> None:
        """:meth:`aclose` for synchronous code (after ``run_sync``)."""
        run_sync(self.aclose())

    async def __aenter__(self) -> Agent[DepsT, OutputT]:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
