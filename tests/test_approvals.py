"""Human in the loop: tools that require approval pause the run; it resumes from serialized state. Usage limits."""

from __future__ import annotations

import asyncio

import pytest

from agentkit import Agent, UserError, tool
from agentkit.agent import RunState
from agentkit.errors import ApprovalRequired, UsageLimitExceeded
from agentkit.messages import ToolMessage
from agentkit.testing import ScriptedModel, reply, tool_call
from agentkit.usage import Usage, UsageLimits

deleted: list[str] = []


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: The file to delete.
    """
    deleted.append(path)
    return f"deleted {path}"


@tool
def list_files() -> list[str]:
    """List the files."""
    return ["a.txt", "b.txt"]


@pytest.fixture(autouse=True)
def _reset() -> None:
    deleted.clear()


def _script(*final: str):
    return ScriptedModel(
        [reply(None, tool_call("delete_file", {"path": "a.txt"}, id="d1"), tool_call("list_files", id="l1")), *final]
    )


def test_a_call_that_needs_approval_pauses_before_anything_runs():
    model = _script("done")
    agent = Agent(model, tools=[delete_file, list_files])
    with pytest.raises(ApprovalRequired) as info:
        agent.run_sync("clean up")
    paused = info.value
    assert [c.id for c in paused.pending] == ["d1"] and paused.pending[0].name == "delete_file"
    assert deleted == [] and paused.usage is not None and paused.usage.tool_calls == 0  # not even list_files ran
    assert [c.id for c in paused.state.pending] == ["d1", "l1"]
    assert len(model.requests) == 1

    result = agent.run_sync(state=paused.state, approvals={"d1": True})
    assert result.output == "done" and deleted == ["a.txt"]
    results = {m.tool_call_id: m.content for m in result.messages if isinstance(m, ToolMessage)}
    assert results == {"d1": "deleted a.txt", "l1": '["a.txt","b.txt"]'}
    assert result.usage.requests == 2 and result.usage.tool_calls == 2
    assert len(model.requests) == 2 and model.requests[1].messages[-1].tool_call_id == "l1"


@pytest.mark.parametrize(
    ("decision", "expected"), [(False, "The user denied this call."), ("not today", "The user denied this call: not today")]
)
def test_a_denied_call_tells_the_model(decision, expected):
    model = _script("ok, I will not")
    agent = Agent(model, tools=[delete_file, list_files])
    with pytest.raises(ApprovalRequired) as info:
        agent.run_sync("clean up")
    result = agent.run_sync(state=info.value.state, approvals={"d1": decision})
    assert deleted == []
    denial = next(m for m in result.messages if isinstance(m, ToolMessage) and m.tool_call_id == "d1")
    assert denial.content.startswith(expected) and not denial.is_error
    assert result.output == "ok, I will not"


def test_resume_after_a_restart_from_json():
    with pytest.raises(ApprovalRequired) as info:
        Agent(_script(), tools=[delete_file, list_files]).run_sync("clean up")
    saved = info.value.state.model_dump_json()

    # a new process: a new agent, the state from disk
    state = RunState.model_validate_json(saved)
    assert state.usage == Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0, requests=1)
    again = Agent(ScriptedModel(["finished"]), tools=[delete_file, list_files])
    result = again.run_sync(state=state, approvals={"d1": True})
    assert result.output == "finished" and deleted == ["a.txt"]
    assert result.usage.requests == 2
    assert result.new_messages[0].content == "clean up"  # the run's own messages, from its first prompt


def test_an_approval_callback_decides_without_pausing():
    seen = []

    async def approve(call, ctx):
        seen.append((call.name, ctx.tool_call_id))
        await asyncio.sleep(0)
        return call.arguments.find("secret") < 0 or "secret files stay"

    agent = Agent(
        ScriptedModel(
            [
                reply(None, tool_call("delete_file", {"path": "secret.txt"}, id="s")),
                reply(None, tool_call("delete_file", {"path": "x"}, id="x")),
                "done",
            ]
        ),
        tools=[delete_file],
        approve=approve,
    )
    result = agent.run_sync("go")
    assert deleted == ["x"] and seen == [("delete_file", "s"), ("delete_file", "x")]
    assert "secret files stay" in result.messages[2].content


def test_a_callback_returning_none_pauses():
    agent = Agent(_script(), tools=[delete_file, list_files], approve=lambda call, ctx: None)
    with pytest.raises(ApprovalRequired):
        agent.run_sync("go")


async def test_streaming_runs_pause_too():
    agent = Agent(_script("done"), tools=[delete_file, list_files])
    with pytest.raises(ApprovalRequired) as info:
        async with agent.run_stream("go") as stream:
            async for _ in stream:
                pass
    async with agent.run_stream(state=info.value.state, approvals={"d1": True}) as stream:
        kinds = [type(e).__name__ async for e in stream]
    # the paused calls run first (each announced as it starts), then the model answers
    assert [k for k in kinds if k != "ToolExecutionStarted"][:2] == ["ToolResult", "ToolResult"] and kinds[-1] == "FinalOutput"
    assert kinds.count("ToolExecutionStarted") == 2


def test_resuming_needs_state_alone():
    with pytest.raises(ApprovalRequired) as info:
        Agent(_script(), tools=[delete_file, list_files]).run_sync("go")
    with pytest.raises(UserError, match="state= alone"):
        Agent(ScriptedModel([]), tools=[delete_file]).run_sync("again", state=info.value.state)


def test_usage_limits_stop_before_the_request_that_would_pass_them():
    looping = [
        reply(
            None,
            tool_call("list_files", id=f"c{i}"),
            usage=Usage(prompt_tokens=40, completion_tokens=10, total_tokens=50, requests=1),
        )
        for i in range(5)
    ]
    agent = Agent(ScriptedModel(list(looping)), tools=[list_files], usage_limits=UsageLimits(max_requests=2))
    with pytest.raises(UsageLimitExceeded, match="max requests") as info:
        agent.run_sync("go")
    assert info.value.usage is not None and info.value.usage.requests == 2
    assert isinstance(info.value.messages[-1], ToolMessage)

    agent = Agent(ScriptedModel(list(looping)), tools=[list_files])
    with pytest.raises(UsageLimitExceeded, match="total tokens"):
        agent.run_sync("go", usage_limits=UsageLimits(max_total_tokens=100))  # per-run limits
    with pytest.raises(UsageLimitExceeded, match="max tool calls"):
        Agent(ScriptedModel(list(looping)), tools=[list_files], usage_limits=UsageLimits(max_tool_calls=1)).run_sync("go")
    assert Agent(ScriptedModel(["fine"]), usage_limits=UsageLimits(max_requests=1)).run_sync("go").output == "fine"
