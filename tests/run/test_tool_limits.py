"""One model turn cannot fan out without limit: calls per turn and calls at once are capped."""

from __future__ import annotations

import asyncio

import pytest

from agentkit import Agent, ToolLimits, UserError, tool
from agentkit.messages import ToolMessage
from tests.run.helpers import answer, calls, chat_bodies, model_for, sse_calls, sse_text


def _counting_tool():
    state = {"running": 0, "most": 0, "ran": 0}

    @tool
    async def fetch(page: int) -> str:
        """Fetch one page.

        Args:
            page: The page number.
        """
        state["running"] += 1
        state["most"] = max(state["most"], state["running"])
        await asyncio.sleep(0.01)
        state["running"] -= 1
        state["ran"] += 1
        return f"page {page}"

    return fetch, state


async def test_two_thousand_calls_in_one_answer_run_64_and_the_rest_are_answered(loopback):
    n = 2_000  # (10,000 all ran at once before)
    server = loopback([calls(*(("fetch", {"page": i}, f"c{i}") for i in range(n))), answer("done")])
    fetch, state = _counting_tool()
    result = await Agent(model_for(server), tools=[fetch], tool_retries=0).run("fetch them all")
    assert result.output == "done"
    assert state["ran"] == 64 and state["most"] <= 16  # the defaults
    results = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert len(results) == n  # every call is answered, in call order
    assert [m.tool_call_id for m in results[:3]] == ["c0", "c1", "c2"]
    assert "at most 64 tool calls run per turn" in results[64].content and results[64].is_error
    assert not results[63].is_error
    sent = chat_bodies(server)[1]["messages"]
    assert sum(1 for m in sent if m["role"] == "tool") == n


@pytest.mark.parametrize("stream", [False, True])
async def test_the_limits_are_configurable(loopback, stream: bool):
    if stream:
        replies = [sse_calls(*(("fetch", {"page": i}, f"c{i}") for i in range(12))), sse_text("done")]
    else:
        replies = [calls(*(("fetch", {"page": i}, f"c{i}") for i in range(12))), answer("done")]
    server = loopback(replies)
    fetch, state = _counting_tool()
    agent = Agent(model_for(server), tools=[fetch], tool_limits=ToolLimits(max_calls_per_turn=10, max_concurrent=3))
    if stream:
        async with agent.run_stream("go") as events:
            async for _ in events:
                pass
        result = events.result
    else:
        result = await agent.run("go")
    assert state["ran"] == 10
    assert state["most"] == 3  # ten calls, three at a time
    assert result.usage.tool_calls == 10
    skipped = [m for m in result.messages if isinstance(m, ToolMessage) and m.is_error]
    assert [m.tool_call_id for m in skipped] == ["c10", "c11"]


def test_bad_limits_are_user_errors():
    with pytest.raises(UserError, match="max_calls_per_turn"):
        ToolLimits(max_calls_per_turn=0)
    with pytest.raises(UserError, match="max_concurrent"):
        ToolLimits(max_concurrent=True)
    with pytest.raises(UserError, match="tool_limits must be a ToolLimits"):
        Agent("test", tool_limits=5)  # type: ignore[arg-type]
