"""Agents as tools in a stream, over the loopback server: the parent's ``run_stream()`` carries the
sub-agents' events live, in order, each marked with its path (also two levels deep, and for two
sub-agents running at once); cancelling the parent closes a sub-agent's request in flight."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from agentkit import Agent, tool
from agentkit.events import (
    FinalOutput,
    PartialOutput,
    ResponseComplete,
    TextDelta,
    ToolExecutionStarted,
    ToolResult,
)
from tests.run.helpers import answer, calls, sse_calls, sse_text
from tests.run.team import Team, model_named
from tests.support.server import Reply, chat_completion
from tests.support.sse import chunk, sse

LEAD = ("lead",)
RESEARCHER = ("lead", "researcher")


@tool
def lookup(city: str) -> str:
    """Look a city's population up.

    Args:
        city: The city.
    """
    return {"paris": "2.1M", "lyon": "0.5M"}[city]


def _between(events: list, call_id: str) -> list:
    """The events after the lead's ToolExecutionStarted for ``call_id`` and before its ToolResult."""
    start = next(i for i, e in enumerate(events) if isinstance(e, ToolExecutionStarted) and e.tool_call_id == call_id)
    end = next(i for i, e in enumerate(events) if isinstance(e, ToolResult) and e.tool_call_id == call_id)
    assert events[start].path == LEAD and events[end].path == LEAD
    return events[start + 1 : end]


def _shape(events: list) -> list[tuple]:
    out = []
    for e in events:
        detail = getattr(e, "text", None) or getattr(e, "name", None) or getattr(e, "content", None)
        out.append((type(e).__name__, detail if not isinstance(e, ResponseComplete) else e.finish_reason, e.turn))
    return out


async def _drain(stream) -> list:
    return [event async for event in stream]


async def test_the_parents_stream_carries_the_sub_agents_events_live_in_order_with_its_path(loopback):
    team = Team(
        lead=[sse_calls(("researcher", {"input": "Paris?"}, "r1")), sse_text("Paris: ", "2.1M.")],
        researcher=[sse_calls(("lookup", {"city": "paris"}, "l1")), sse_text("2.1", "M")],
    )
    server = loopback(team)
    researcher = Agent(model_named(server.url, "researcher"), name="researcher", tools=[lookup])
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[researcher.as_tool()])

    async with lead.run_stream("How many in Paris?") as stream:
        events = await _drain(stream)
        result = stream.result

    inner = _between(events, "r1")
    assert all(e.path == RESEARCHER and e.agent == "researcher" for e in inner)
    assert _shape(inner) == [
        ("ToolCallStarted", "lookup", 1),
        ("ToolCallArgsDelta", None, 1),
        ("ToolCallReady", "lookup", 1),
        ("ResponseComplete", "tool_calls", 1),
        ("ToolExecutionStarted", "lookup", 1),
        ("ToolResult", "lookup", 1),
        ("TextDelta", "2.1", 2),
        ("TextDelta", "M", 2),
        ("ResponseComplete", "stop", 2),
    ]  # the researcher's two turns, as they happened; its result reaches the lead as the call's ToolResult only
    outside = [e for e in events if all(e is not i for i in inner)]
    assert len(outside) == len(events) - len(inner) and all(e.path == LEAD and e.agent == "lead" for e in outside)
    assert events[-1] == FinalOutput("Paris: 2.1M.", 2, result.usage)
    assert next(e for e in events if isinstance(e, ToolResult) and e.tool_call_id == "r1").content == "2.1M"
    assert result.usage.requests == 4 and result.output == "Paris: 2.1M."


class Answer(BaseModel):
    city: str
    population: str


async def test_a_sub_agents_text_does_not_corrupt_the_parents_partial_output(loopback):
    team = Team(
        lead=[
            sse_calls(("researcher", {"input": "Paris?"}, "r1")),
            sse_text('{"city": "Pa', 'ris", "popul', 'ation": "2.1M"}'),
        ],
        researcher=[sse_text('{"city": "WRONG', '", "population": "WRONG"}')],  # JSON text that fits the lead's type
    )
    server = loopback(team)
    researcher = Agent(model_named(server.url, "researcher"), name="researcher")
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[researcher.as_tool()], output_type=Answer)

    async with lead.run_stream("Paris?") as stream:
        events = await _drain(stream)

    partials = [e for e in events if isinstance(e, PartialOutput)]
    assert partials and all(e.path == LEAD for e in partials)
    assert partials[0].data == {"city": "Pa"} and all("Paris".startswith(p.data["city"]) for p in partials)
    assert not any("WRONG" in json.dumps(p.data) for p in partials)
    assert partials[-1].output == Answer(city="Paris", population="2.1M")
    assert isinstance(events[-1], FinalOutput) and events[-1].output == Answer(city="Paris", population="2.1M")
    researcher_text = [e.text for e in events if isinstance(e, TextDelta) and e.path == RESEARCHER]
    assert researcher_text == ['{"city": "WRONG', '", "population": "WRONG"}']  # still in the stream, marked as the researcher's


async def test_two_sub_agents_in_one_turn_run_concurrently_their_events_interleaved_and_each_marked(loopback):
    researcher_in, critic_in = asyncio.Event(), asyncio.Event()

    @tool
    async def research(topic: str) -> str:
        """Research a topic.

        Args:
            topic: The topic.
        """
        researcher_in.set()
        await asyncio.wait_for(critic_in.wait(), 5)  # only ends if the critic's tool runs meanwhile
        return f"notes on {topic}"

    @tool
    async def critique(text: str) -> str:
        """Critique a text.

        Args:
            text: The text.
        """
        critic_in.set()
        await asyncio.wait_for(researcher_in.wait(), 5)
        return f"critique of {text}"

    team = Team(
        lead=[
            sse_calls(("researcher", {"input": "retries"}, "r1"), ("critic", {"input": "draft"}, "c1")),
            sse_text("All done."),
        ],
        researcher=[sse_calls(("research", {"topic": "retries"}, "x1")), sse_text("notes")],
        critic=[sse_calls(("critique", {"text": "draft"}, "y1")), sse_text("fine")],
    )
    server = loopback(team)
    researcher = Agent(model_named(server.url, "researcher"), name="researcher", tools=[research])
    critic = Agent(model_named(server.url, "critic"), name="critic", tools=[critique])
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[researcher.as_tool(), critic.as_tool()])

    async with lead.run_stream("Go.") as stream:
        events = await _drain(stream)
        result = stream.result

    assert result.output == "All done."
    own = {"researcher": {"research", "x1"}, "critic": {"critique", "y1"}}
    for event in events:
        if event.path == LEAD:
            continue
        assert event.path in (RESEARCHER, ("lead", "critic"))
        names = {getattr(event, "name", None), getattr(event, "tool_call_id", None)} - {None}
        assert names <= own[event.agent]  # each sub-agent's events carry its own tools, marked with its own path
    by = [e.agent for e in events]
    first_critic, last_critic = by.index("critic"), len(by) - 1 - by[::-1].index("critic")
    first_researcher, last_researcher = by.index("researcher"), len(by) - 1 - by[::-1].index("researcher")
    assert first_critic < last_researcher and first_researcher < last_critic  # interleaved: they ran at the same time
    started = [e for e in events if isinstance(e, ToolExecutionStarted) and e.path != LEAD]
    assert {(e.agent, e.name) for e in started} == {("researcher", "research"), ("critic", "critique")}
    results = {e.tool_call_id: e.content for e in events if isinstance(e, ToolResult) and e.path == LEAD}
    assert results == {"r1": "notes", "c1": "fine"}


async def test_a_sub_agent_two_levels_deep_streams_with_a_path_of_three(loopback):
    team = Team(
        lead=[sse_calls(("researcher", {"input": "Paris?"}, "r1")), sse_text("Checked: 2.1M.")],
        researcher=[sse_calls(("fact_checker", {"input": "Is it 2.1M?"}, "f1")), sse_text("2.1M, checked")],
        fact_checker=[sse_calls(("lookup", {"city": "paris"}, "l1")), sse_text("yes")],
    )
    server = loopback(team)
    fact_checker = Agent(model_named(server.url, "fact_checker"), name="fact_checker", tools=[lookup])
    researcher = Agent(model_named(server.url, "researcher"), name="researcher", tools=[fact_checker.as_tool()])
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[researcher.as_tool()])

    async with lead.run_stream("Paris?") as stream:
        events = await _drain(stream)
        result = stream.result

    deepest = ("lead", "researcher", "fact_checker")
    in_researcher = _between(events, "r1")
    start = next(i for i, e in enumerate(in_researcher) if isinstance(e, ToolExecutionStarted) and e.tool_call_id == "f1")
    end = next(i for i, e in enumerate(in_researcher) if isinstance(e, ToolResult) and e.tool_call_id == "f1")
    assert in_researcher[start].path == RESEARCHER and in_researcher[end].path == RESEARCHER
    assert in_researcher[end].content == "yes"
    in_checker = in_researcher[start + 1 : end]
    assert in_checker and all(e.path == deepest and e.agent == "fact_checker" for e in in_checker)
    assert [e.name for e in in_checker if isinstance(e, (ToolExecutionStarted, ToolResult))] == ["lookup", "lookup"]
    assert [e for e in events if e.path == deepest] == in_checker  # none outside the researcher's call of it
    assert result.output == "Checked: 2.1M." and result.usage.requests == 6 and result.usage.tool_calls == 3


async def test_a_sub_agent_two_levels_deep_in_a_plain_run(loopback):
    team = Team(
        lead=[calls(("researcher", {"input": "Paris?"}, "r1")), answer("Checked: 2.1M.")],
        researcher=[calls(("fact_checker", {"input": "Is it 2.1M?"}, "f1")), answer("2.1M, checked")],
        fact_checker=[calls(("lookup", {"city": "paris"}, "l1")), answer("yes")],
    )
    server = loopback(team)
    fact_checker = Agent(model_named(server.url, "fact_checker"), name="fact_checker", tools=[lookup])
    researcher = Agent(model_named(server.url, "researcher"), name="researcher", tools=[fact_checker.as_tool()])
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[researcher.as_tool()])

    result = await lead.run("Paris?")

    assert result.output == "Checked: 2.1M." and result.usage.requests == 6 and result.usage.tool_calls == 3
    assert [m["content"] for m in team.bodies["researcher"][1]["messages"] if m["role"] == "tool"] == ["yes"]


# -- cancellation ------------------------------------------------------------------------------


def _slow_body() -> Reply:
    """A plain JSON answer sent slowly (whitespace between its parts): the client is still reading."""
    body = json.dumps(chat_completion("never finished")).encode()
    head, tail = body[:1], body[1:]
    return Reply(chunks=[head, *[b" "] * 1000, tail], chunk_delay=0.01, content_type="application/json")


def _slow_stream() -> Reply:
    pieces = [sse([chunk({"content": f"w{i} "})], done=False) for i in range(1000)]
    return Reply(chunks=pieces, chunk_delay=0.01, content_type="text/event-stream")


async def _abandoned(server, count: int = 1) -> bool:
    for _ in range(500):  # the server notices on its next writes
        if server.streams_abandoned >= count:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_cancelling_the_parent_task_closes_the_sub_agents_request_in_flight(loopback):
    team = Team(lead=[calls(("researcher", {"input": "Paris?"}, "r1"))], researcher=[_slow_body()])
    server = loopback(team)
    researcher = Agent(model_named(server.url, "researcher"), name="researcher")
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[researcher.as_tool()])
    tasks_before = asyncio.all_tasks()

    task = asyncio.create_task(lead.run("Paris?"))
    assert await asyncio.to_thread(team.arrived["researcher"].wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await _abandoned(server)  # the server saw the researcher's request closed mid-answer
    assert asyncio.all_tasks() == tasks_before
    await lead.aclose()
    await researcher.aclose()


async def test_leaving_the_parents_stream_early_closes_the_sub_agents_stream(loopback):
    team = Team(lead=[sse_calls(("researcher", {"input": "Talk."}, "r1"))], researcher=[_slow_stream()])
    server = loopback(team)
    researcher = Agent(model_named(server.url, "researcher"), name="researcher")
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[researcher.as_tool()])
    tasks_before = asyncio.all_tasks()

    seen = []
    async with lead.run_stream("Talk.") as stream:
        async for event in stream:
            seen.append(event)
            if isinstance(event, TextDelta) and event.agent == "researcher":
                break  # leaves the async with: the run stops while the researcher streams

    assert seen[-1].path == RESEARCHER and not any(isinstance(e, ToolResult) and e.path == LEAD for e in seen)
    assert await _abandoned(server)
    assert asyncio.all_tasks() == tasks_before  # the tool task running the researcher is gone
    await lead.aclose()
    await researcher.aclose()
