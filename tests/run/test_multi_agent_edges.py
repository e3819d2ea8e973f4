"""Edges of handoffs and sub-agents found in review: a refused handoff's call says so; a handoff's
own name is the target's name in paths and state (and a paused run finds it again); a handoff
target's missing deps fail at the run's start; a guardrail or hook failing inside a sub-agent ends
the whole run with the whole run's conversation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from agentkit import Agent, ApprovalRequired, HookError, Hooks, RunContext, UserError, tool
from agentkit.errors import GuardrailTripped, MaxHandoffsExceeded
from agentkit.guardrails import GuardrailResult
from agentkit.handoffs import Handoff
from agentkit.messages import ToolMessage
from agentkit.testing import ScriptedModel, reply, tool_call


def test_the_refused_handoffs_call_says_it_was_not_transferred_and_on_handoff_is_not_told() -> None:
    told: list[str] = []
    beta = Agent(ScriptedModel([reply("never")]), name="beta")
    alpha = Agent(
        ScriptedModel([reply(None, tool_call("transfer_to_beta", id="t1"))]),
        name="alpha",
        handoffs=[Handoff(beta, on_handoff=lambda ctx, _value: told.append(ctx.tool_call_id))],
        max_handoffs=0,
    )
    with pytest.raises(MaxHandoffsExceeded) as info:
        alpha.run_sync("Hi")
    last = info.value.messages[-1]
    assert isinstance(last, ToolMessage) and last.tool_call_id == "t1" and last.is_error
    assert last.content.startswith("Not transferred: the run reached max_handoffs=0")
    assert told == []


@tool(requires_approval=True)
def wipe(path: str) -> str:
    """Delete a file.

    Args:
        path: The file.
    """
    return f"wiped {path}"


def test_a_handoffs_name_names_an_unnamed_target_in_paths_state_and_a_resumed_run() -> None:
    target = Agent(
        ScriptedModel([reply(None, tool_call("wipe", {"path": "a"}, id="w1")), reply("done")]),
        tools=[wipe],
    )
    front = Agent(
        ScriptedModel([reply(None, tool_call("transfer_to_ops", id="t1"))]), name="front", handoffs=[Handoff(target, name="ops")]
    )
    with pytest.raises(ApprovalRequired) as info:
        front.run_sync("Clean up")
    state = info.value.state
    assert state.agent == "ops" and [c.id for c in state.pending] == ["w1"]
    events: list[Any] = []

    async def resume() -> None:
        async with front.run_stream(
            state=type(state).model_validate_json(state.model_dump_json()), approvals={"w1": True}
        ) as stream:
            async for event in stream:
                events.append(event)

    asyncio.run(resume())
    assert {e.path for e in events} == {("ops",)}
    assert events[-1].output == "done"


@dataclass
class Shop:
    name: str


@tool
def shop_name(ctx: RunContext[Shop]) -> str:
    """The shop's name."""
    return ctx.deps.name


def test_a_handoff_targets_missing_deps_fail_at_the_start_before_any_request() -> None:
    model = ScriptedModel([reply("unused")])
    clerk = Agent(ScriptedModel([reply("unused")]), name="clerk", tools=[shop_name], deps_type=Shop)
    front = Agent(model, name="front", handoffs=[clerk])
    with pytest.raises(UserError, match="shop_name"):
        front.run_sync("Hi")
    assert model.requests == []


def test_a_guardrail_tripping_inside_a_sub_agent_ends_the_run_with_the_whole_conversation() -> None:
    def no_secrets(ctx: RunContext[None], value: object) -> GuardrailResult:
        return GuardrailResult(tripped=True, info="secret")

    helper = Agent(ScriptedModel([reply("leaks")]), name="helper", output_guardrails=[no_secrets])
    lead_model = ScriptedModel([reply(None, tool_call("helper", {"input": "go"}, id="h1")), reply("unused")])
    lead = Agent(lead_model, name="lead", tools=[helper.as_tool()])
    with pytest.raises(GuardrailTripped) as info:
        lead.run_sync("Start")
    error = info.value
    assert error.guardrail == "no_secrets" and error.kind == "output" and error.info == "secret"
    assert [m.role for m in error.messages] == ["user", "assistant"]  # the lead's conversation, not the sub-run's
    assert error.usage is not None and error.usage.requests == 2  # the lead's request and the helper's


def test_a_hook_failing_inside_a_sub_agent_ends_the_whole_run() -> None:
    class Broken(Hooks):
        async def on_run_start(self, ctx: RunContext[object]) -> None:
            raise RuntimeError("boom")

    helper = Agent(ScriptedModel([reply("x")]), name="helper", hooks=[Broken()])
    lead = Agent(
        ScriptedModel([reply(None, tool_call("helper", {"input": "go"})), reply("unused")]), name="lead", tools=[helper.as_tool()]
    )
    with pytest.raises(HookError, match="boom"):
        lead.run_sync("Start")
