"""Live tool events (agentkit/_run/tool_calls.py): each call's start, progress and result as they
happen, in completion order, while the history keeps call order."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agentkit import Agent, RunContext, tool
from agentkit.events import (
    FinalOutput,
    ResponseComplete,
    ToolCallReady,
    ToolExecutionStarted,
    ToolProgress,
    ToolResult,
)
from agentkit.messages import ToolMessage
from tests.run.helpers import answer, calls, chat_bodies, model_for, sse_calls, sse_text


async def test_the_fast_result_arrives_before_the_slow_tool_ends(loopback):
    slow_may_finish = asyncio.Event()
    slow_log: list[str] = []

    @tool
    async def slow(n: int) -> str:
        """A slow tool: it ends only once the test has seen the fast result."""
        slow_log.append("started")
        await asyncio.wait_for(slow_may_finish.wait(), timeout=2)
        slow_log.append("ended")
        return f"slow {n}"

    @tool
    async def fast(n: int) -> str:
        """A fast tool."""
        return f"fast {n}"

    server = loopback([sse_calls(("slow", {"n": 1}, "c_slow"), ("fast", {"n": 2}, "c_fast")), sse_text("both done")])
    agent = Agent(model_for(server), tools=[slow, fast])
    events = []
    async with agent.run_stream("go") as stream:
        async for event in stream:
            events.append(event)
            if isinstance(event, ToolResult) and event.tool_call_id == "c_fast":
                assert slow_log == ["started"]  # the slow tool is still running
                assert not any(isinstance(e, ToolResult) and e.tool_call_id == "c_slow" for e in events)
                slow_may_finish.set()
        result = stream.result

    results = [e for e in events if isinstance(e, ToolResult)]
    assert [(r.tool_call_id, r.name, r.content, r.is_error, r.turn) for r in results] == [
        ("c_fast", "fast", "fast 2", False, 1),
        ("c_slow", "slow", "slow 1", False, 1),
    ]  # completion order
    started = [e for e in events if isinstance(e, ToolExecutionStarted)]
    assert sorted((s.tool_call_id, s.name, s.arguments, s.turn) for s in started) == [
        ("c_fast", "fast", '{"n": 2}', 1),
        ("c_slow", "slow", '{"n": 1}', 1),
    ]
    for s in started:  # each call starts after the response is complete and before its result
        position = events.index(s)
        assert position > next(i for i, e in enumerate(events) if isinstance(e, ResponseComplete))
        assert position < next(i for i, e in enumerate(events) if isinstance(e, ToolResult) and e.tool_call_id == s.tool_call_id)
    assert slow_log == ["started", "ended"]
    assert isinstance(events[-1], FinalOutput) and result.output == "both done"

    # the history (and what the model reads) keeps call order
    tool_messages = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [(m.tool_call_id, m.content) for m in tool_messages] == [("c_slow", "slow 1"), ("c_fast", "fast 2")]
    sent = chat_bodies(server)[1]["messages"]
    assert [(m["role"], m.get("tool_call_id")) for m in sent[-2:]] == [("tool", "c_slow"), ("tool", "c_fast")]


async def test_a_sync_tool_in_its_thread_does_not_hold_back_an_async_result(loopback):
    release = threading.Event()

    @tool
    def blocking() -> str:
        """Blocks in its worker thread until released."""
        if not release.wait(timeout=2):
            return "timed out"
        return "released"

    @tool
    async def quick() -> str:
        """Answers at once."""
        return "quick"

    server = loopback([sse_calls(("blocking", {}, "b1"), ("quick", {}, "q1")), sse_text("ok")])
    order = []
    async with Agent(model_for(server), tools=[blocking, quick]).run_stream("go") as stream:
        async for event in stream:
            if isinstance(event, ToolResult):
                order.append((event.tool_call_id, event.content))
                if event.tool_call_id == "q1":
                    release.set()
    assert order == [("q1", "quick"), ("b1", "released")]


async def test_progress_arrives_while_the_tool_is_still_running(loopback):
    may_finish = asyncio.Event()
    tool_state: list[str] = []

    @tool
    async def crawl(ctx: RunContext[None], pages: int) -> str:
        """Fetch pages, reporting progress.

        Args:
            pages: How many pages.
        """
        await ctx.report_progress("fetched 3 of 10 pages", progress=3, total=10)
        await asyncio.wait_for(may_finish.wait(), timeout=2)
        await ctx.report_progress("almost done")
        tool_state.append("ended")
        return f"crawled {pages}"

    server = loopback([sse_calls(("crawl", {"pages": 10}, "k1")), sse_text("done")])
    events = []
    async with Agent(model_for(server), tools=[crawl]).run_stream("crawl it") as stream:
        async for event in stream:
            events.append(event)
            if isinstance(event, ToolProgress) and event.progress == 3:
                assert tool_state == []  # the tool is still running
                may_finish.set()
        result = stream.result

    progress = [e for e in events if isinstance(e, ToolProgress)]
    assert [(p.tool_call_id, p.name, p.message, p.progress, p.total, p.turn) for p in progress] == [
        ("k1", "crawl", "fetched 3 of 10 pages", 3, 10, 1),
        ("k1", "crawl", "almost done", None, None, 1),
    ]
    kinds = [type(e).__name__ for e in events if isinstance(e, (ToolExecutionStarted, ToolProgress, ToolResult))]
    assert kinds == ["ToolExecutionStarted", "ToolProgress", "ToolProgress", "ToolResult"]
    assert result.output == "done"
    # progress is for the caller only: it is not in the history or in what the model reads
    assert [m.content for m in result.messages if isinstance(m, ToolMessage)] == ["crawled 10"]
    assert "fetched" not in str(chat_bodies(server)[1])


async def test_progress_is_harmless_in_run_and_iter(loopback):
    @tool
    async def crawl(ctx: RunContext[None]) -> str:
        """Report progress and finish."""
        await ctx.report_progress("working", progress=1, total=2)
        return "crawled"

    server = loopback([calls(("crawl", {}, "k1")), answer("done"), calls(("crawl", {}, "k2")), answer("done again")])
    agent = Agent(model_for(server), tools=[crawl])
    assert (await agent.run("go")).output == "done"
    async with agent.iter("again") as run:
        kinds = [type(step).__name__ async for step in run]
    assert "ToolProgress" not in kinds and run.result is not None and run.result.output == "done again"


async def test_report_progress_outside_a_run_does_nothing():
    ctx: RunContext[None] = RunContext(deps=None)
    assert await ctx.report_progress("fetched 3 of 10 pages", progress=3, total=10) is None
    with pytest.raises(TypeError):
        await ctx.report_progress(3)  # type: ignore[arg-type]


async def test_calls_answered_without_running_get_a_result_but_no_start(loopback):
    @tool
    async def known() -> str:
        """A known tool."""
        return "known ok"

    server = loopback([sse_calls(("known", {}, "k1"), ("unknown_tool", {}, "u1")), sse_text("fine")])
    async with Agent(model_for(server), tools=[known]).run_stream("go") as stream:
        events = [e async for e in stream]
    started = [e.tool_call_id for e in events if isinstance(e, ToolExecutionStarted)]
    results = {e.tool_call_id: (e.is_error, e.content) for e in events if isinstance(e, ToolResult)}
    assert started == ["k1"]
    assert results["k1"] == (False, "known ok")
    assert results["u1"][0] is True and "Unknown tool 'unknown_tool'" in results["u1"][1]
    assert [type(e).__name__ for e in events].count("ToolCallReady") == 2
    assert all(e.turn == 1 for e in events if isinstance(e, (ToolCallReady, ToolResult, ToolExecutionStarted)))


def test_run_stream_sync_yields_live_tool_events(loopback):
    @tool
    async def crawl(ctx: RunContext[None]) -> str:
        """Report progress and finish."""
        await ctx.report_progress("half", progress=1, total=2)
        return "crawled"

    server = loopback([sse_calls(("crawl", {}, "k1")), sse_text("done")])
    stream = Agent(model_for(server), tools=[crawl]).run_stream_sync("go")
    kinds = [type(e).__name__ for e in stream if isinstance(e, (ToolExecutionStarted, ToolProgress, ToolResult))]
    assert kinds == ["ToolExecutionStarted", "ToolProgress", "ToolResult"]
    assert stream.result.output == "done"
