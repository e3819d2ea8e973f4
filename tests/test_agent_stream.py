"""Streaming runs: typed events for every turn, tools between turns, partial and final output, cleanup."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest
from pydantic import BaseModel

from agentkit import Agent, MaxTurnsExceeded, UserError, tool
from agentkit.events import (
    FinalOutput,
    PartialOutput,
    ReasoningDelta,
    ResponseComplete,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallReady,
    ToolCallStarted,
    ToolExecutionStarted,
    ToolResult,
)
from agentkit.messages import AssistantMessage, ToolMessage
from agentkit.models import OpenAICompatible
from agentkit.testing import ScriptedModel, reply, tool_call
from tests.support.server import Reply
from tests.support.sse import chunk, sse, text_stream, tool_call_stream


@tool
def get_weather(city: str) -> str:
    """Get the weather.

    Args:
        city: City name.
    """
    return f"Sunny in {city}"


def _model(server):
    return OpenAICompatible("loopback-model", base_url=server.url + "/v1", api_key="sk-stream-secret")


def _sse_reply(chunks, **kw):
    return Reply(chunks=[sse(chunks)], content_type="text/event-stream", **kw)


async def test_run_stream_yields_every_turn_then_the_result(loopback):
    server = loopback(
        [
            _sse_reply(tool_call_stream("get_weather", '{"city": "Paris"}', "call_w")),
            _sse_reply(text_stream("It is ", "sunny ", "in Paris.")),
        ]
    )
    agent = Agent(_model(server), tools=[get_weather])
    async with agent.run_stream("Weather in Paris?") as stream:
        events = [event async for event in stream]
        result = stream.result

    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "ToolCallStarted"
    assert kinds.count("ToolCallArgsDelta") == 3
    assert kinds[kinds.index("ToolCallReady")] == "ToolCallReady"
    assert kinds.index("ToolCallReady") < kinds.index("ResponseComplete") < kinds.index("ToolResult")
    assert kinds[-1] == "FinalOutput"
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    assert (started.tool_call_id, started.name, started.turn) == ("call_w", "get_weather", 1)
    ready = next(e for e in events if isinstance(e, ToolCallReady))
    assert ready.arguments == {"city": "Paris"}
    tool_result = next(e for e in events if isinstance(e, ToolResult))
    assert (tool_result.tool_call_id, tool_result.content, tool_result.is_error, tool_result.turn) == (
        "call_w",
        "Sunny in Paris",
        False,
        1,
    )
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "It is sunny in Paris."
    assert {e.turn for e in events if isinstance(e, TextDelta)} == {2}
    completes = [e for e in events if isinstance(e, ResponseComplete)]
    assert [c.finish_reason for c in completes] == ["tool_calls", "stop"]
    assert completes[0].usage.total_tokens == 25

    assert result.output == "It is sunny in Paris."
    assert result.usage.requests == 2 and result.usage.tool_calls == 1 and result.usage.total_tokens == 25 + 13
    assert isinstance(result.messages[-1], AssistantMessage) and result.messages[-1].content == "It is sunny in Paris."
    assert isinstance(result.messages[2], ToolMessage)
    bodies = server.bodies("/chat/completions")
    assert all(b["stream"] is True and b["stream_options"] == {"include_usage": True} for b in bodies)


def test_run_stream_sync_and_text_only(loopback):
    server = loopback([_sse_reply(text_stream("a", "b", "c")), _sse_reply(text_stream("x", "y"))])
    agent = Agent(_model(server))
    stream = agent.run_stream_sync("hi")
    events = list(stream)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a", "b", "c"]
    assert stream.result.output == "abc"

    async def only_text():
        async with agent.run_stream("again") as s:
            return [t async for t in s.text()], s.result.output

    assert asyncio.run(only_text()) == (["x", "y"], "xy")


class City(BaseModel):
    name: str
    population: int


async def test_partial_structured_output_while_streaming(loopback):
    text = json.dumps({"name": "Paris", "population": 2100000})
    pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
    server = loopback([_sse_reply(text_stream(*pieces))])
    agent = Agent(_model(server), output_type=City)
    async with agent.run_stream("Biggest French city?") as stream:
        events = [e async for e in stream]
    partials = [e for e in events if isinstance(e, PartialOutput)]
    assert len(partials) >= 4
    assert all(list(p.data) == ["name", "population"][: len(p.data)] for p in partials)
    assert any(p.data == {"name": ""} for p in partials)  # trailing strings are kept while they stream
    assert any(p.data == {"name": "Paris"} and p.output is None for p in partials)  # population still missing
    assert partials[0].output is None  # not valid yet: population missing
    assert partials[-1].output == City(name="Paris", population=2100000)
    assert all(a.data != b.data for a, b in itertools.pairwise(partials))
    final = events[-1]
    assert isinstance(final, FinalOutput) and final.output == City(name="Paris", population=2100000)
    assert stream.result.output == final.output


async def test_partial_output_in_tool_output_mode():
    args = json.dumps({"name": "Lyon", "population": 520000})
    model = ScriptedModel([reply(None, tool_call("final_result", args, id="f1"))])
    agent = Agent(model, output_type=City, output_mode="tool")
    async with agent.run_stream("x") as stream:
        events = [e async for e in stream]
    partials = [e for e in events if isinstance(e, PartialOutput)]
    assert partials and partials[-1].output == City(name="Lyon", population=520000)
    assert stream.result.output == City(name="Lyon", population=520000)


async def test_any_model_streams_through_the_default_replay():
    model = ScriptedModel(
        [
            reply(None, tool_call("get_weather", {"city": "Rome"}, id="c1")),
            AssistantMessage(content="Sunny.", reasoning="Checked the tool."),
        ]
    )
    agent = Agent(model, tools=[get_weather])
    async with agent.run_stream("Rome?") as stream:
        events = [e async for e in stream]
    kinds = [type(e) for e in events]
    assert kinds == [
        ToolCallStarted, ToolCallArgsDelta, ToolCallReady, ResponseComplete, ToolExecutionStarted, ToolResult,
        ReasoningDelta, TextDelta, ResponseComplete, FinalOutput,
    ]  # fmt: skip
    assert stream.result.output == "Sunny."


async def test_result_before_the_end_is_a_clear_error():
    agent = Agent(ScriptedModel(["done"]))
    async with agent.run_stream("x") as stream:
        with pytest.raises(UserError, match="iterate the stream"):
            _ = stream.result
        assert not stream.done
        async for _ in stream:
            pass
        assert stream.done and stream.result.output == "done"


async def test_errors_end_the_stream_with_the_same_exceptions_as_run():
    model = ScriptedModel([reply(None, tool_call("get_weather", {"city": "X"})) for _ in range(2)])
    agent = Agent(model, tools=[get_weather], max_turns=2)
    with pytest.raises(MaxTurnsExceeded):
        async with agent.run_stream("loop") as stream:
            async for _ in stream:
                pass


async def test_leaving_early_closes_the_response_and_stops_reading(loopback):
    pieces = [sse([chunk({"content": f"w{i} "})], done=False) for i in range(2000)]
    server = loopback([Reply(chunks=pieces, chunk_delay=0.01, content_type="text/event-stream")])
    model = _model(server)
    agent = Agent(model)
    started = time.perf_counter()
    async with agent.run_stream("talk forever") as stream:
        async for event in stream:
            if isinstance(event, TextDelta) and event.text == "w2 ":
                break
    await model.aclose()
    assert time.perf_counter() - started < 5  # 2000 chunks x 10 ms would take 20 s
    for _ in range(50):
        if server.open_connections == 0:
            break
        await asyncio.sleep(0.05)
    assert server.open_connections == 0


async def test_leaving_early_cancels_running_tools():
    cancelled = asyncio.Event()
    started = asyncio.Event()

    @tool
    async def slow() -> str:
        """Takes forever."""
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    agent = Agent(ScriptedModel([reply(None, tool_call("slow", {}))]), tools=[slow])

    async def consume():
        async with agent.run_stream("go") as stream:
            async for _ in stream:
                pass

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(cancelled.wait(), 5)


def test_sync_stream_can_be_abandoned(loopback):
    pieces = [sse([chunk({"content": f"w{i} "})], done=False) for i in range(500)]
    server = loopback([Reply(chunks=pieces, chunk_delay=0.01, content_type="text/event-stream")])
    agent = Agent(_model(server))
    started = time.perf_counter()
    for event in agent.run_stream_sync("talk"):
        if isinstance(event, TextDelta):
            break
    assert time.perf_counter() - started < 4
