"""Agent and the loop: request → tool calls → results → … → final answer.

The whole path of a run is in :meth:`Agent.run`; each step delegates to one module:
``models`` sends the request, ``tools`` validates and executes calls, ``output`` checks the
final answer. Nothing here knows which provider it talks to.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union, overload

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

from ._sync import run_sync
from .context import RunContext
from .errors import (
    ApprovalRequired,
    MaxTurnsExceeded,
    ModelRetry,
    OutputValidationError,
    ToolRetriesExceeded,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
    UserError,
)
from .events import (
    AgentEvent,
    FinalOutput,
    PartialOutput,
    ResponseComplete,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallStarted,
    ToolResult,
)
from .messages import AssistantMessage, Message, SystemMessage, ToolCall, ToolMessage, UserMessage, dump_messages
from .models.base import Model, ModelRequest
from .models.registry import infer_model
from .output import OutputInvalid, OutputMode, OutputSchema
from .settings import ModelSettings
from .tools import Tool, ToolArgumentsError, ToolDefinition, ToolLike, Toolset, serialize_result
from .usage import Usage, UsageLimits

if TYPE_CHECKING:
    from .batch import BatchInput, BatchItem

__all__ = ["Agent", "RunResult", "RunState", "Approval", "ApprovalCallback", "AgentStream", "SyncAgentStream"]

DepsT = TypeVar("DepsT")
OutputT = TypeVar("OutputT")

_UNKNOWN_TOOL = "<unknown tool>"
_AUTO = ModelSettings(tool_choice="auto")


@dataclass
class RunResult(Generic[OutputT]):
    """The outcome of a run.

    Attributes:
        output: the final answer: text, or a value of the agent's ``output_type``.
        messages: the whole conversation, including any history passed in (round-trips through
            JSON with :meth:`messages_json` / :func:`agentkit.messages.load_messages`).
        usage: tokens, requests and tool calls, summed across the run's turns.
        new_message_index: where this run's messages start in ``messages``.
    """

    output: OutputT
    messages: list[Message]
    usage: Usage
    new_message_index: int = 0
    model_name: str | None = None
    turns: int = 0

    @property
    def new_messages(self) -> list[Message]:
        """The messages this run added (its prompt, the model's turns, tool results)."""
        return self.messages[self.new_message_index :]

    def messages_json(self) -> str:
        """``messages`` as JSON text, to store a conversation and continue it later."""
        return dump_messages(self.messages)


Approval = Union[bool, str]
"""A decision on a call that needs approval: True approves; False or a reason (str) denies."""

ApprovalCallback = Callable[[ToolCall, RunContext[Any]], Union[Approval, Awaitable[Union[Approval, None]], None]]
"""``approve(call, ctx)`` → a decision, or None to pause the run instead (sync or async)."""


class RunState(BaseModel):
    """A paused run, serializable: ``state.model_dump_json()`` / ``RunState.model_validate_json()``.

    Resume it with ``agent.run(state=state, approvals={...})`` — in the same process or after a
    restart (``deps`` are not stored: pass them again).
    """

    model_config = ConfigDict(defer_build=True)

    messages: list[Message]
    usage: Usage = PydanticField(default_factory=Usage)
    turn: int = 0
    tool_failures: dict[str, int] = PydanticField(default_factory=dict)
    output_failures: int = 0
    new_message_index: int = 0

    @property
    def pending(self) -> list[ToolCall]:
        """The calls of the last model turn that have no result yet."""
        return _unanswered(self.messages)


@dataclass
class _Run(Generic[DepsT]):
    """The mutable state of one run."""

    messages: list[Message]
    deps: DepsT
    settings: ModelSettings
    usage: Usage = field(default_factory=Usage)
    turn: int = 0
    tool_failures: dict[str, int] = field(default_factory=dict)
    output_failures: int = 0
    start: int = 0
    result: RunResult[Any] | None = None
    limits: UsageLimits | None = None
    approvals: dict[str, Approval] = field(default_factory=dict)

    def snapshot(self) -> RunState:
        """The serializable state of this run, to resume it later."""
        return RunState(
            messages=list(self.messages),
            usage=self.usage.copy(),
            turn=self.turn,
            tool_failures=dict(self.tool_failures),
            output_failures=self.output_failures,
            new_message_index=self.start,
        )


class Agent(Generic[DepsT, OutputT]):
    """A model, tools and instructions, run as a loop until the model gives a final answer.

    Args:
        model: a :class:`~agentkit.models.Model`, or a string: ``"openai:gpt-4o-mini"``, ``"test"``.
        tools: tools (``@tool`` functions, ``Tool`` objects or plain functions).
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
        deps_type: the type of ``deps`` (for type checkers; not enforced at run time).
        name: a name for logs and reprs.
    """

    @overload
    def __init__(
        self: Agent[Any, str],
        model: Model | str,
        *,
        tools: Sequence[ToolLike] = (),
        instructions: str | None = None,
        output_type: None = None,
        output_mode: OutputMode = "native",
        output_retries: int = 2,
        output_strict: bool | None = None,
        settings: ModelSettings | None = None,
        max_turns: int = 10,
        tool_retries: int = 1,
        reset_tool_choice: bool = True,
        usage_limits: UsageLimits | None = None,
        approve: ApprovalCallback | None = None,
        deps_type: Any = None,
        name: str | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[Any, OutputT],
        model: Model | str,
        *,
        tools: Sequence[ToolLike] = (),
        instructions: str | None = None,
        output_type: type[OutputT],
        output_mode: OutputMode = "native",
        output_retries: int = 2,
        output_strict: bool | None = None,
        settings: ModelSettings | None = None,
        max_turns: int = 10,
        tool_retries: int = 1,
        reset_tool_choice: bool = True,
        usage_limits: UsageLimits | None = None,
        approve: ApprovalCallback | None = None,
        deps_type: Any = None,
        name: str | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[Any, Any],
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
        deps_type: Any = None,
        name: str | None = None,
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
        deps_type: Any = None,
        name: str | None = None,
    ) -> None:
        self.model: Model = infer_model(model)
        if not isinstance(max_turns, int) or max_turns < 1:
            raise UserError(f"max_turns must be a positive int, not {max_turns!r}.")
        for label, value in (("output_retries", output_retries), ("tool_retries", tool_retries)):
            if not isinstance(value, int) or value < 0:
                raise UserError(f"{label} must be an int >= 0, not {value!r}.")
        if settings is not None and not isinstance(settings, ModelSettings):
            raise UserError(f"settings must be a ModelSettings, not {type(settings).__name__}.")
        self.instructions = instructions
        self.max_turns = max_turns
        self.output_retries = output_retries
        self.tool_retries = tool_retries
        self.reset_tool_choice = reset_tool_choice
        self.usage_limits = usage_limits
        self.approve = approve
        self.settings = settings or ModelSettings()
        self.deps_type = deps_type
        self.name = name
        self.output_type: Any = str if output_type is None else output_type
        self._output: OutputSchema[Any] | None = None
        if self.output_type is not str:
            self._output = OutputSchema(self.output_type, mode=output_mode, strict=output_strict)
        self._own_tools: list[Tool[Any, Any]] = []
        self._toolsets: list[Toolset] = []
        for item in tools:
            if isinstance(item, Tool):
                self._own_tools.append(item)
            elif isinstance(item, Toolset):
                self._toolsets.append(item)
            else:
                self._own_tools.append(Tool(item))
        self._output_tool: str | None = None
        if self._output is not None and self._output.tool_definition is not None:
            self._output_tool = self._output.name
        self._set_tools(self._own_tools)
        self._stack: AsyncExitStack | None = None
        self._connect_lock = asyncio.Lock()
        if not self._toolsets:
            self._check_tool_choice(self.settings)

    def _set_tools(self, tools: Sequence[Tool[Any, Any]]) -> None:
        """Index the tools by name and build the tool definitions sent with every request (once)."""
        by_name: dict[str, Tool[Any, Any]] = {}
        for t in tools:
            if t.name in by_name:
                raise UserError(f"Two tools are named {t.name!r}; pass name=... to one of them.")
            by_name[t.name] = t
        definitions: list[ToolDefinition] = [t.definition for t in by_name.values()]
        if self._output is not None and self._output.tool_definition is not None:
            if self._output.name in by_name:
                raise UserError(f"A tool is named {self._output.name!r}, which the output tool uses; rename the tool.")
            definitions.append(self._output.tool_definition)
        self._tools = by_name
        self._tool_defs = tuple(definitions)

    async def _connect_toolsets(self) -> None:
        """Enter the toolsets (once) and add their tools to the agent's."""
        if self._stack is not None or not self._toolsets:
            return
        async with self._connect_lock:
            if self._stack is None:
                await self._enter_toolsets()

    async def _enter_toolsets(self) -> None:
        stack = AsyncExitStack()
        try:
            found = list(self._own_tools)
            for toolset in self._toolsets:
                await stack.enter_async_context(toolset)
                found.extend(toolset.get_tools())
            self._set_tools(found)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        self._check_tool_choice(self.settings)

    @property
    def tools(self) -> list[Tool[Any, Any]]:
        """The agent's tools, in order."""
        return list(self._tools.values())

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        output = getattr(self.output_type, "__name__", self.output_type)
        return f"Agent({label}model={self.model!r}, tools={list(self._tools)}, output_type={output!r})"

    # -- running ----------------------------------------------------------------------------
    def run_sync(
        self,
        prompt: str | None = None,
        *,
        messages: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        state: RunState | None = None,
        approvals: Mapping[str, Approval] | None = None,
    ) -> RunResult[OutputT]:
        """:meth:`run`, for synchronous code (also works where an event loop is running)."""
        return run_sync(
            self.run(
                prompt,
                messages=messages,
                deps=deps,
                settings=settings,
                usage_limits=usage_limits,
                state=state,
                approvals=approvals,
            )
        )

    async def run(
        self,
        prompt: str | None = None,
        *,
        messages: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        state: RunState | None = None,
        approvals: Mapping[str, Approval] | None = None,
    ) -> RunResult[OutputT]:
        """Run the loop until a final answer.

        Args:
            prompt: the user's message; None continues ``messages`` as they are.
            messages: an earlier conversation to continue (e.g. ``result.messages``).
            deps: anything the tools need, handed to them as ``RunContext.deps``.
            settings: request parameters for this run, over the agent's defaults.
            usage_limits: limits for this run, over the agent's ``usage_limits``.
            state: a paused run to resume (``ApprovalRequired.state``, also after a restart:
                it round-trips through JSON); give no prompt or messages with it.
            approvals: decisions for calls of tools that require approval, by tool-call id:
                True approves, False denies, a string denies with that reason for the model.

        Raises:
            ApprovalRequired: a tool that requires approval was called; the run is paused
                (nothing of that turn ran yet) — resume with ``state=`` and ``approvals=``.
            UsageLimitExceeded: a usage limit would be passed by the next request or tool calls.
            MaxTurnsExceeded, ToolRetriesExceeded, OutputValidationError: the run could not
                finish; each carries the messages so far.
            ProviderError: the provider failed (after retries).
        """
        run = self._start(prompt, messages, deps, settings, usage_limits, state, approvals)
        async for _ in self._loop(run, stream=False):
            pass  # pragma: no cover - the non-streaming loop yields nothing
        assert run.result is not None
        return run.result

    def run_stream(
        self,
        prompt: str | None = None,
        *,
        messages: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        state: RunState | None = None,
        approvals: Mapping[str, Approval] | None = None,
    ) -> AgentStream[OutputT]:
        """Run the loop, streaming every turn; tools run between turns.

        >>> async with agent.run_stream("Weather in Paris?") as stream:
        ...     async for event in stream:      # TextDelta, ToolCallStarted, ToolResult, ...
        ...         ...
        ...     result = stream.result           # the same RunResult that run() returns

        Leaving the ``async with`` (or breaking out of the loop) closes the HTTP response and
        cancels running tools.
        """
        run = self._start(prompt, messages, deps, settings, usage_limits, state, approvals)
        return AgentStream(self._loop(run, stream=True), run)

    def run_stream_sync(
        self,
        prompt: str | None = None,
        *,
        messages: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        state: RunState | None = None,
        approvals: Mapping[str, Approval] | None = None,
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
            )
        )

    # -- the loop -----------------------------------------------------------------------------
    def _start(
        self,
        prompt: str | None,
        messages: Sequence[Message] | None,
        deps: Any,
        settings: ModelSettings | None,
        usage_limits: UsageLimits | None,
        state: RunState | None,
        approvals: Mapping[str, Approval] | None,
    ) -> _Run[Any]:
        if prompt is not None and not isinstance(prompt, str):
            raise UserError(f"prompt must be a string, not {type(prompt).__name__}.")
        if settings is not None and not isinstance(settings, ModelSettings):
            raise UserError(f"settings must be a ModelSettings, not {type(settings).__name__}.")
        run_settings = self.settings.merge(settings)
        limits = usage_limits or self.usage_limits
        if state is not None:
            if prompt is not None or messages:
                raise UserError("Resume a paused run with state= alone: it already holds the conversation.")
            return _Run(
                messages=list(state.messages),
                deps=deps,
                settings=run_settings,
                usage=state.usage.copy(),
                turn=state.turn,
                tool_failures=dict(state.tool_failures),
                output_failures=state.output_failures,
                start=state.new_message_index,
                limits=limits,
                approvals=dict(approvals or {}),
            )
        history: list[Message] = list(messages) if messages else []
        if self.instructions and not (history and isinstance(history[0], SystemMessage)):
            history.insert(0, SystemMessage(content=self.instructions))
        start = len(history) if messages else 0
        if prompt is not None:
            history.append(UserMessage(content=prompt))
        if not history:
            raise UserError("Nothing to send: give a prompt or messages.")
        return _Run(
            messages=history, deps=deps, settings=run_settings, start=start, limits=limits, approvals=dict(approvals or {})
        )

    async def _loop(self, state: _Run[Any], *, stream: bool) -> AsyncGenerator[AgentEvent, None]:
        """The run itself. With ``stream=False`` it yields nothing and only sets ``state.result``."""
        await self._connect_toolsets()
        self._check_tool_choice(state.settings)
        history = state.messages
        output = self._output
        native = output.format if output is not None and output.mode == "native" else None
        forced = state.settings.tool_choice not in (None, "auto", "none")

        model_name: str | None = None
        calls = _unanswered(history)  # a resumed run starts with the calls it paused on
        while True:
            if not calls:
                if state.turn >= self.max_turns:
                    raise MaxTurnsExceeded(
                        f"The run reached max_turns={self.max_turns} without a final answer.", messages=history, usage=state.usage
                    )
                self._check_limits(state, (state.limits.check_request(state.usage) if state.limits else None))
                state.turn += 1
                request = ModelRequest(history, self._tool_defs, state.settings, native, self._output_tool)
                if stream:
                    response = None
                    partial = _PartialParser(output, self._output_tool) if output is not None else None
                    async with aclosing(self.model.stream(request)) as events:
                        async for event in events:
                            event.turn = state.turn
                            if isinstance(event, ResponseComplete):
                                response = event.response
                            yield event
                            if partial is not None:
                                update = partial.feed(event)
                                if update is not None:
                                    update.turn = state.turn
                                    yield update
                    if response is None:
                        raise UnexpectedModelBehavior(
                            "the model's stream ended without a response", messages=history, usage=state.usage
                        )
                else:
                    response = await self.model.request(request)
                state.usage.add(response.usage)
                if response.usage.requests == 0:
                    state.usage.requests += 1
                model_name = response.model_name
                message = response.message
                history.append(message)
                if not message.tool_calls:
                    if output is None:
                        value = message.content or ""
                    elif output.mode == "tool":  # text instead of the final-result tool: ask again
                        self._count_output_failure(state, OutputInvalid([f"no {output.name!r} call"]), message.content)
                        history.append(UserMessage(content=f"Call the {output.name!r} tool to give your final answer."))
                        continue
                    else:
                        try:
                            if message.refusal and not message.content:
                                raise OutputInvalid([f"The model refused: {message.refusal}"])
                            value = output.parse(message.content)
                        except OutputInvalid as e:
                            self._count_output_failure(state, e, message.content)
                            history.append(UserMessage(content=output.retry_prompt(e.errors)))
                            continue
                    break
                calls = message.tool_calls
                if forced and self.reset_tool_choice:
                    state.settings = state.settings.merge(_AUTO)
                    forced = False

            before = len(history)
            done, value = await self._handle_calls(calls, state)
            calls = []
            if stream:
                for m in history[before:]:
                    if isinstance(m, ToolMessage):
                        yield ToolResult(m.tool_call_id, m.name or "", m.content, m.is_error, state.turn)
            if done:
                break

        state.result = self._result(value, state, model_name)
        if stream:
            yield FinalOutput(value, state.turn, state.usage)

    # -- tool calls ---------------------------------------------------------------------------
    async def _handle_calls(self, calls: list[ToolCall], state: _Run[Any]) -> tuple[bool, Any]:
        """Execute one turn's calls; append their results in call order.

        Returns ``(True, value)`` when the output tool delivered a valid final answer.
        """
        results: list[ToolMessage | None] = [None] * len(calls)
        jobs: list[tuple[int, Tool[Any, Any], ToolCall]] = []
        failed: set[str] = set()
        succeeded: set[str] = set()
        final: tuple[bool, Any] = (False, None)
        output_error: OutputInvalid | None = None
        output_raw: str | None = None
        for i, call in enumerate(calls):
            if self._output_tool is not None and call.name == self._output_tool and self._output is not None:
                if final[0] or output_raw is not None:
                    results[i] = _tool_message(call, "Only one final result is used; this one was ignored.", error=True)
                    continue
                output_raw = call.arguments
                try:
                    final = (True, self._output.parse(call.arguments))
                    results[i] = _tool_message(call, "Final result received.")
                except OutputInvalid as e:
                    output_error = e
                    results[i] = _tool_message(call, self._output.retry_prompt(e.errors), error=True)
                continue
            t = self._tools.get(call.name)
            if t is None:
                known = ", ".join(self._tools) or "(none)"
                results[i] = _tool_message(call, f"Unknown tool {call.name!r}. Available tools: {known}.", error=True)
                failed.add(_UNKNOWN_TOOL)
                continue
            jobs.append((i, t, call))

        if final[0]:  # the run is over: don't start side effects the model no longer waits for
            for i, _t, call in jobs:
                results[i] = _tool_message(call, "Not executed: the final result was given in the same turn.")
            jobs = []
        elif jobs:
            jobs = await self._approve(jobs, results, state)

        if jobs:
            self._check_limits(state, state.limits.check_tool_calls(state.usage, len(jobs)) if state.limits else None)
            state.usage.tool_calls += len(jobs)
            if len(jobs) == 1:
                outcomes = [await self._call(jobs[0][1], jobs[0][2], state)]
            else:
                outcomes = list(await asyncio.gather(*(self._call(t, c, state) for _i, t, c in jobs)))
            for (i, t, call), (text, is_error) in zip(jobs, outcomes, strict=True):
                results[i] = _tool_message(call, text, error=is_error)
                (failed if is_error else succeeded).add(t.name)

        state.messages.extend(m for m in results if m is not None)
        if output_error is not None:
            self._count_output_failure(state, output_error, output_raw)
        for name in succeeded - failed:
            state.tool_failures.pop(name, None)
        for name in failed:
            count = state.tool_failures.get(name, 0) + 1
            state.tool_failures[name] = count
            t = self._tools.get(name)
            budget = t.retries if t is not None and t.retries is not None else self.tool_retries
            if count > budget:
                last = next((m.content for m in reversed(results) if m is not None and m.is_error), "")
                what = "calling unknown tools" if name == _UNKNOWN_TOOL else f"failing calls of tool {name!r}"
                raise ToolRetriesExceeded(
                    f"The model kept making {what} ({count} turns in a row; retry budget {budget}). Last error: {last}",
                    tool_name=name,
                    last_error=last,
                    messages=state.messages,
                    usage=state.usage,
                )
        return final

    def _context(self, t: Tool[Any, Any], call: ToolCall, state: _Run[Any]) -> RunContext[Any]:
        return RunContext(
            deps=state.deps,
            usage=state.usage,
            messages=state.messages,
            turn=state.turn,
            tool_name=t.name,
            tool_call_id=call.id,
            retry=state.tool_failures.get(t.name, 0),
            model_name=self.model.model_name,
        )

    async def _call(self, t: Tool[Any, Any], call: ToolCall, state: _Run[Any]) -> tuple[str, bool]:
        ctx = self._context(t, call, state)
        try:
            value = await t.call(call.arguments, ctx)
        except ToolArgumentsError as e:
            return e.message, True
        except ModelRetry as e:
            return e.message, True
        except Exception as e:  # a tool's failure is reported to the model, not raised
            return (
                f"Error: tool {t.name!r} raised {type(e).__name__}: {e}. "
                f"Fix the arguments and call it again, or continue without it.",
                True,
            )
        return serialize_result(value), False

    async def _approve(
        self, jobs: list[tuple[int, Tool[Any, Any], ToolCall]], results: list[ToolMessage | None], state: _Run[Any]
    ) -> list[tuple[int, Tool[Any, Any], ToolCall]]:
        """Keep the approved calls; answer denied ones; pause the run when a decision is missing."""
        if not any(t.requires_approval for _i, t, _c in jobs):
            return jobs
        approved = []
        pending = []
        for i, t, call in jobs:
            decision: Approval | None = True
            if t.requires_approval:
                decision = state.approvals.pop(call.id, None)
                if decision is None and self.approve is not None:
                    answer = self.approve(call, self._context(t, call, state))
                    decision = await answer if inspect.isawaitable(answer) else answer
            if decision is None:
                pending.append(call)
            elif decision is True:
                approved.append((i, t, call))
            else:
                reason = f": {decision.rstrip('.')}." if isinstance(decision, str) and decision else "."
                results[i] = _tool_message(call, f"The user denied this call{reason} Do not retry it unchanged.")
        if pending:
            names = ", ".join(sorted({c.name for c in pending}))
            raise ApprovalRequired(
                f"The run is paused: {len(pending)} call(s) of {names} need approval.",
                pending=pending,
                state=state.snapshot(),
                messages=state.messages,
                usage=state.usage,
            )
        return approved

    # -- helpers ------------------------------------------------------------------------------
    def _check_limits(self, state: _Run[Any], why: str | None) -> None:
        if why is not None:
            raise UsageLimitExceeded(f"Usage limit: {why}.", messages=state.messages, usage=state.usage)

    def _count_output_failure(self, state: _Run[Any], error: OutputInvalid, raw: str | None) -> None:
        state.output_failures += 1
        if state.output_failures > self.output_retries:
            raise OutputValidationError(
                f"The final answer did not match {getattr(self.output_type, '__name__', self.output_type)!s} "
                f"after {self.output_retries} re-asks: " + "; ".join(error.errors),
                raw_text=raw,
                errors=error.errors,
                messages=state.messages,
                usage=state.usage,
            )

    def _check_tool_choice(self, settings: ModelSettings) -> None:
        choice = settings.tool_choice
        if choice is None or choice in ("auto", "none", "required"):
            return
        if choice not in self._tools:
            known = ", ".join(self._tools) or "(the agent has no tools)"
            raise UserError(f"tool_choice={choice!r} names no tool of this agent; tools: {known}.")

    def _result(self, value: Any, state: _Run[Any], model_name: str | None) -> RunResult[OutputT]:
        return RunResult(
            output=value,
            messages=state.messages,
            usage=state.usage,
            new_message_index=state.start,
            model_name=model_name or self.model.model_name,
            turns=state.turn,
        )

    async def run_many(
        self,
        inputs: Iterable[BatchInput],
        *,
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        results: str | Path | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        progress: bool | None = None,
    ) -> list[BatchItem]:
        """Run the agent on many inputs with bounded concurrency and client-side rate limits.

        Args:
            inputs: prompts, or ``{"prompt": ..., "id": ...}`` mappings.
            concurrency: runs in flight at once.
            requests_per_minute: model requests per minute across the batch (spaced evenly).
            tokens_per_minute: tokens per minute across the batch (charged after each response).
            results: a JSONL file; each result is appended as it completes, and inputs already
                there (succeeded) are skipped — start again with the same file after a crash.
            deps: passed to every run.
            progress: a progress bar (rich) — default: when stderr is a terminal.

        Returns:
            One :class:`~agentkit.batch.BatchItem` per input, in input order. Failed inputs
            carry ``error``; 429s never fail an input (the batch slows down instead).
        """
        from .batch import run_many

        return await run_many(
            self,
            inputs,
            concurrency=concurrency,
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            results=results,
            deps=deps,
            progress=progress,
        )

    def run_many_sync(self, inputs: Iterable[BatchInput], **options: Any) -> list[BatchItem]:
        """:meth:`run_many` for synchronous code."""
        return run_sync(self.run_many(inputs, **options))

    def with_model(self, model: Model | str) -> Agent[DepsT, OutputT]:
        """This agent with another model (same tools, instructions, output type and settings).

        >>> cheap = agent.with_model("openrouter:mistralai/mistral-nemo")
        """
        clone = copy.copy(self)
        clone.model = infer_model(model)
        return clone

    async def aclose(self) -> None:
        """Close the model's connections and the toolsets' (e.g. MCP servers)."""
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                self._set_tools(self._own_tools)
                await stack.aclose()
        finally:
            await self.model.aclose()

    def close_sync(self) -> None:
        """:meth:`aclose` for synchronous code (after ``run_sync``)."""
        run_sync(self.aclose())

    async def __aenter__(self) -> Agent[DepsT, OutputT]:
        await self._connect_toolsets()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _unanswered(messages: Sequence[Message]) -> list[ToolCall]:
    """The calls of a final assistant turn that have no tool results yet (a paused run)."""
    answered: set[str] = set()
    for m in reversed(messages):
        if isinstance(m, ToolMessage):
            answered.add(m.tool_call_id)
        elif isinstance(m, AssistantMessage):
            return [c for c in m.tool_calls if c.id not in answered]
        else:
            return []
    return []


def _tool_message(call: ToolCall, content: str, *, error: bool = False) -> ToolMessage:
    return ToolMessage(tool_call_id=call.id, content=content, name=call.name, is_error=error)


class _PartialParser:
    """Best-so-far structured output while the answer streams in (text, or the output tool's arguments)."""

    def __init__(self, output: OutputSchema[Any], output_tool: str | None) -> None:
        self._output = output
        self._tool = output_tool
        self._tool_call_id: str | None = None
        self._buffer: list[str] = []
        self._last: Any = None

    def feed(self, event: AgentEvent) -> PartialOutput[Any] | None:
        if self._tool is None:
            if not isinstance(event, TextDelta):
                return None
            self._buffer.append(event.text)
        elif isinstance(event, ToolCallStarted):
            if event.name == self._tool and self._tool_call_id is None:
                self._tool_call_id = event.tool_call_id
            return None
        elif isinstance(event, ToolCallArgsDelta) and event.tool_call_id == self._tool_call_id:
            self._buffer.append(event.delta)
        else:
            return None
        data, value = self._output.parse_partial("".join(self._buffer))
        if data is None or data == self._last:
            return None
        self._last = data
        return PartialOutput(data, value)


class AgentStream(Generic[OutputT]):
    """A streaming run: an async iterator of :data:`~agentkit.events.AgentEvent` and an async
    context manager that cleans up (closes the HTTP response, cancels tools) on exit."""

    def __init__(self, events: AsyncGenerator[AgentEvent, None], state: _Run[Any]) -> None:
        self._events = events
        self._state = state

    async def __aenter__(self) -> AgentStream[OutputT]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AgentStream[OutputT]:
        return self

    async def __anext__(self) -> AgentEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stop the run: close the response being read and cancel what is running."""
        await self._events.aclose()

    async def text(self) -> AsyncIterator[str]:
        """Only the answer's text, as it arrives (the run still completes; see :attr:`result`)."""
        async for event in self:
            if isinstance(event, TextDelta):
                yield event.text

    @property
    def done(self) -> bool:
        """Whether the run has finished with a result."""
        return self._state.result is not None

    @property
    def result(self) -> RunResult[OutputT]:
        """The run's :class:`RunResult`, once the stream has been consumed to the end."""
        if self._state.result is None:
            raise UserError("The run has not finished: iterate the stream to its end before reading .result.")
        return self._state.result


class SyncAgentStream(Generic[OutputT]):
    """:class:`AgentStream` for synchronous code: iterate it; then read :attr:`result`."""

    def __init__(self, stream: AgentStream[OutputT]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[AgentEvent]:
        stream = self._stream

        async def next_event() -> AgentEvent:
            return await stream.__anext__()

        try:
            while True:
                try:
                    event = run_sync(next_event())
                except StopAsyncIteration:
                    return
                yield event
        finally:
            run_sync(stream.aclose())

    def __enter__(self) -> SyncAgentStream[OutputT]:
        return self

    def __exit__(self, *exc: object) -> None:
        run_sync(self._stream.aclose())

    @property
    def result(self) -> RunResult[OutputT]:
        """The run's :class:`RunResult`, once iterated to the end."""
        return self._stream.result
