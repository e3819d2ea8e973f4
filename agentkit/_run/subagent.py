"""An agent used as another agent's tool (``agent.as_tool()``): a nested run inside one tool call.

The nested run shares its parent's ``deps`` and usage limits (its usage counts into the
parent's as it goes), streams its events into the parent's stream (each marked with its path)
when the parent's caller watches, is cancelled with the parent, and when one of its tools needs
approval it pauses the whole run: its state is kept in the parent's, by the call's id.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pydantic

from ..context import RunContext
from ..errors import (
    GuardrailTripped,
    MaxHandoffsExceeded,
    MaxTurnsExceeded,
    ModelRetry,
    OutputValidationError,
    ToolRetriesExceeded,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
    UserError,
)
from ..events import FinalResultStep, ModelRequestStep, ModelResponseStep, ToolCallsStep, ToolResultsStep
from ..runlog import carry_log
from ..tools import Tool, serialize_result
from .live import LiveRun
from .loop import PLAIN, STREAMING, run_loop
from .spec import AgentLike

__all__ = ["agent_tool"]

_STEPS = (ModelRequestStep, ModelResponseStep, ToolCallsStep, ToolResultsStep, FinalResultStep)
_CORRECTABLE = (MaxTurnsExceeded, ToolRetriesExceeded, OutputValidationError, UnexpectedModelBehavior, MaxHandoffsExceeded)
"""A sub-run that could not finish: a tool error for the parent's model, not the parent's end."""


def agent_tool(
    agent: AgentLike, name: str | None, description: str | None, input_type: Any, max_turns: int | None
) -> Tool[Any, Any]:
    """A :class:`~agentkit.tools.Tool` that runs ``agent`` (see :meth:`agentkit.Agent.as_tool`)."""
    tool_name = name or agent.name
    if not tool_name:
        raise UserError("as_tool() needs a name: give the agent name=... or pass as_tool(name=...).")
    if max_turns is not None and (not isinstance(max_turns, int) or max_turns < 1):
        raise UserError(f"max_turns must be a positive int, not {max_turns!r}.")
    text = description or f"Ask the {tool_name} agent to do a task; it answers with its result."
    if input_type is str:  # a plain signature: validated by the tool's own pydantic model, no jsonschema pass

        async def ask(ctx: RunContext[Any], input: str) -> Any:
            """Run the agent.

            Args:
                input: The task or question for the agent, with all it needs to know.
            """
            return await run_nested(agent, ctx, input, max_turns)

        return Tool(ask, name=tool_name, description=text)
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(input_type)
    schema = adapter.json_schema()
    if schema.get("type") != "object":
        raise UserError(
            "as_tool(input_type=...) must be str or an object type (a pydantic model, dataclass or TypedDict), "
            f"not {input_type!r}."
        )

    async def run_agent(ctx: RunContext[Any], arguments: dict[str, Any]) -> Any:
        try:
            prompt = serialize_result(adapter.validate_python(arguments))
        except pydantic.ValidationError as e:
            problems = "; ".join(str(err["msg"]) for err in e.errors(include_url=False)[:5])
            raise ModelRetry(f"Invalid arguments for {tool_name!r}: {problems}. Call it again.") from None
        return await run_nested(agent, ctx, prompt, max_turns)

    return Tool.from_schema(tool_name, text, schema, run_agent, takes_context=True)


async def run_nested(agent: AgentLike, ctx: RunContext[Any], prompt: str, max_turns: int | None) -> Any:
    """Run ``agent`` inside the parent run that called the tool; its final output."""
    parent: LiveRun | None = ctx._run
    await agent.connect()
    spec = agent._spec()
    if max_turns is not None:
        spec = replace(spec, max_turns=max_turns)
    if parent is None:  # the tool called by hand, outside any run
        run = LiveRun.start(spec, prompt, None, ctx.deps, agent.settings, None, None, None)
        return await _drive(run, None)
    spec = carry_log(parent.spec, spec, handoff=False)  # recorded in the parent's run log, as its call's child
    if spec.approve is None and parent.spec.approve is not None:
        spec = replace(spec, approve=parent.spec.approve)  # the parent's approval callback decides here too
    paused = parent.state.nested.pop(ctx.tool_call_id, None)
    if paused is not None:  # resuming: the decisions for its calls came with the parent's
        ids = {c.id for c in paused.pending}
        approvals = {key: value for key, value in parent.approvals.items() if key in ids}
        run = LiveRun.start(spec, None, None, ctx.deps, agent.settings, parent.limits, paused, approvals)
    else:
        run = LiveRun.start(spec, prompt, None, ctx.deps, agent.settings, parent.limits, None, None)
    run.path = (*parent.path, spec.label)
    run.outer = (*parent.outer, parent.state.usage)
    run.parent = (parent, ctx.tool_call_id)
    run.budget = parent.budget  # a batch's max_cost counts its sub-agents' requests too
    sink = ctx.progress_sink if parent.live_tools else None
    try:
        return await _drive(run, sink)
    except _CORRECTABLE as e:
        raise ModelRetry(f"The {spec.label} agent could not finish: {e}") from e
    except UsageLimitExceeded as e:  # ends the whole run: with its conversation and usage, not the sub-run's
        raise parent.error(UsageLimitExceeded, str(e)) from e
    except GuardrailTripped as e:
        raise parent.error(GuardrailTripped, str(e), guardrail=e.guardrail, kind=e.kind, info=e.info) from e


async def _drive(run: LiveRun, sink: Any) -> Any:
    """Run the nested loop; with a ``sink``, stream its events into the parent's stream."""
    events = run_loop(run, STREAMING if sink is not None else PLAIN)
    try:
        async for event in events:
            if sink is not None and not isinstance(event, _STEPS):  # its result reaches the stream as the call's ToolResult
                sink(event)
    finally:
        await events.aclose()
    assert run.result is not None
    return run.result.output
