"""agent.iter(): a run one step at a time over the loopback server (agentkit/_run/stream.py AgentRun)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from agentkit import Agent, ApprovalRequired, Hooks, ModelSettings, RunContext, RunResult, RunState, UsageLimitExceeded, tool
from agentkit.events import FinalResultStep, ModelRequestStep, ModelResponseStep, ToolCallsStep, ToolResultsStep
from agentkit.messages import AssistantMessage, SystemMessage, ToolMessage, UserMessage
from agentkit.usage import UsageLimits
from tests.run.helpers import answer, calls, chat_bodies, delete_file, model_for


def _weather_tool(log: list[str]):
    @tool
    def get_weather(city: str) -> str:
        """Get the weather.

        Args:
            city: City name.
        """
        log.append(city)
        return f"Sunny in {city}"

    return get_weather


async def test_steps_come_in_order_and_the_state_grows_between_them(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("It is sunny.")])
    ran: list[str] = []
    agent = Agent(model_for(server), tools=[_weather_tool(ran)], instructions="Be brief.")
    seen = []
    async with agent.iter("Weather in Paris?") as run:
        assert run.result is None
        assert [type(m) for m in run.state.messages] == [SystemMessage, UserMessage]
        async for step in run:
            state = run.state
            seen.append(
                (
                    type(step).__name__,
                    step.turn,
                    state.turn,
                    len(state.messages),
                    state.usage.requests,
                    len(server.requests),
                    len(ran),
                )
            )
            if not isinstance(step, FinalResultStep):
                assert run.result is None
            if isinstance(step, ModelRequestStep):
                assert [m.role for m in step.request.messages][-1] in ("user", "tool")
                assert [t.name for t in step.request.tools] == ["get_weather"]
            elif isinstance(step, ModelResponseStep) and step.turn == 1:
                assert [(c.id, c.name) for c in step.response.message.tool_calls] == [("c1", "get_weather")]
            elif isinstance(step, ToolCallsStep):
                assert [(c.id, c.name, c.arguments) for c in step.calls] == [("c1", "get_weather", '{"city": "Paris"}')]
            elif isinstance(step, ToolResultsStep):
                assert [(m.tool_call_id, m.content) for m in step.results] == [("c1", "Sunny in Paris")]
            elif isinstance(step, FinalResultStep):
                assert step.output == "It is sunny."
                assert step.usage.requests == 2
        result = run.result

    # (step, step.turn, state.turn, messages, usage.requests, requests the server got, tool calls run)
    assert seen == [
        ("ModelRequestStep", 1, 1, 2, 0, 0, 0),  # about to be sent: nothing reached the server yet
        ("ModelResponseStep", 1, 1, 3, 1, 1, 0),  # the answer is in the history
        ("ToolCallsStep", 1, 1, 3, 1, 1, 0),  # about to run: the tool has not run yet
        ("ToolResultsStep", 1, 1, 4, 1, 1, 1),
        ("ModelRequestStep", 2, 2, 4, 1, 1, 1),
        ("ModelResponseStep", 2, 2, 5, 2, 2, 1),
        ("FinalResultStep", 2, 2, 5, 2, 2, 1),
    ]
    assert isinstance(result, RunResult)
    assert result.output == "It is sunny." and result.turns == 2
    assert result.usage.requests == 2 and result.usage.tool_calls == 1
    assert [type(m) for m in result.messages] == [SystemMessage, UserMessage, AssistantMessage, ToolMessage, AssistantMessage]
    assert ran == ["Paris"]
    assert len(chat_bodies(server)) == 2


async def test_a_reask_shows_as_two_model_turns(loopback):
    class City(BaseModel):
        name: str

    server = loopback([answer("not json"), answer('{"name": "Paris"}')])
    agent = Agent(model_for(server), output_type=City)
    async with agent.iter("Capital of France?") as run:
        kinds = [type(step).__name__ async for step in run]
        assert run.result is not None and run.result.output == City(name="Paris")
    assert kinds == ["ModelRequestStep", "ModelResponseStep", "ModelRequestStep", "ModelResponseStep", "FinalResultStep"]
    assert chat_bodies(server)[1]["messages"][-1]["role"] == "user"  # the re-ask


async def test_next_steps_one_at_a_time_and_returns_none_at_the_end(loopback):
    server = loopback([answer("hello")])
    async with Agent(model_for(server)).iter("hi") as run:
        first = await run.next()
        assert isinstance(first, ModelRequestStep) and len(server.requests) == 0
        assert isinstance(await run.next(), ModelResponseStep)
        final = await run.next()
        assert isinstance(final, FinalResultStep) and final.output == "hello"
        assert await run.next() is None
        assert run.result is not None and run.result.output == "hello"


async def test_break_stops_the_run_before_the_tools_and_the_next_request(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("never sent")])
    ran: list[str] = []
    agent = Agent(model_for(server), tools=[_weather_tool(ran)])
    async with agent.iter("Weather?") as run:
        async for step in run:
            if isinstance(step, ModelResponseStep):
                break
        assert run.result is None
    await asyncio.sleep(0.05)  # nothing left running in the background sends anything
    assert ran == []
    assert len(server.requests) == 1
    assert run.result is None


async def test_break_at_the_first_step_sends_nothing(loopback):
    server = loopback([answer("never sent")])
    async with Agent(model_for(server)).iter("hi") as run:
        async for step in run:
            assert isinstance(step, ModelRequestStep)
            break
    await asyncio.sleep(0.05)
    assert server.requests == []
    assert run.result is None


async def test_leaving_the_block_without_iterating_sends_nothing(loopback):
    server = loopback([answer("never sent")])
    async with Agent(model_for(server)).iter("hi") as run:
        pass
    assert server.requests == [] and run.result is None


async def test_cancel_stops_the_run_between_steps(loopback):
    server = loopback([calls(("get_weather", {"city": "Oslo"}, "c1")), answer("never sent")])
    ran: list[str] = []
    agent = Agent(model_for(server), tools=[_weather_tool(ran)])
    async with agent.iter("Weather?") as run:
        async for step in run:
            if isinstance(step, ToolCallsStep):
                await run.cancel()
                break
        assert await run.next() is None  # a cancelled run has no more steps
        assert run.result is None
        await run.cancel()  # twice is fine
    await asyncio.sleep(0.05)
    assert ran == [] and len(server.requests) == 1
    assert run.state.turn == 1  # the state is still readable after the stop


async def test_the_state_between_steps_serializes(loopback):
    server = loopback([calls(("get_weather", {"city": "Rome"}, "c1")), answer("ok")])
    agent = Agent(model_for(server), tools=[_weather_tool([])])
    async with agent.iter("Weather?") as run:
        async for step in run:
            if isinstance(step, ToolCallsStep):
                loaded = RunState.model_validate_json(run.state.model_dump_json())
                assert loaded.turn == 1 and loaded.usage.requests == 1
                assert [c.id for c in loaded.pending] == ["c1"]
        assert run.result is not None and run.result.output == "ok"


@dataclass
class Deps:
    user: str


async def test_iter_takes_the_same_options_as_run(loopback):
    server = loopback([calls(("whoami", {}, "w1")), answer("you are ann")])
    started: list[int] = []
    seen_deps: list[str] = []

    @tool
    def whoami(ctx: RunContext[Deps]) -> str:
        """Who is asking."""
        seen_deps.append(ctx.deps.user)
        return ctx.deps.user

    class Record(Hooks):
        async def on_run_start(self, ctx: RunContext[Deps]) -> None:
            started.append(len(ctx.messages))

    agent = Agent(model_for(server), tools=[whoami], deps_type=Deps, settings=ModelSettings(temperature=0.1))
    async with agent.iter(
        "who am I?",
        deps=Deps("ann"),
        settings=ModelSettings(temperature=0.6, max_tokens=33),
        usage_limits=UsageLimits(max_requests=5),
        hooks=[Record()],
    ) as run:
        async for _ in run:
            pass
        assert run.result is not None and run.result.output == "you are ann"
    assert seen_deps == ["ann"] and started == [1]
    first, second = chat_bodies(server)
    assert (first["temperature"], first["max_tokens"]) == (0.6, 33)
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "w1", "content": "ann"}


async def test_iter_usage_limits_end_the_run_with_their_error(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("never sent")])
    agent = Agent(model_for(server), tools=[_weather_tool([])])
    kinds = []
    with pytest.raises(UsageLimitExceeded):
        async with agent.iter("Weather?", usage_limits=UsageLimits(max_requests=1)) as run:
            async for step in run:
                kinds.append(type(step).__name__)
    assert kinds == ["ModelRequestStep", "ModelResponseStep", "ToolCallsStep", "ToolResultsStep"]
    assert len(server.requests) == 1 and run.result is None


async def test_iter_resumes_a_paused_run_with_state_and_approvals(loopback):
    server = loopback([calls(("delete_file", {"path": "a.txt"}, "d1")), answer("deleted it")])
    agent = Agent(model_for(server), tools=[delete_file])
    with pytest.raises(ApprovalRequired) as info:
        async with agent.iter("clean up") as run:
            async for _ in run:
                pass
    assert run.result is None and len(server.requests) == 1
    state = RunState.model_validate_json(info.value.state.model_dump_json())

    async with agent.iter(state=state, approvals={"d1": True}) as resumed:
        steps = [step async for step in resumed]
    # a resumed run starts with the paused calls, then asks the model again
    assert [type(s).__name__ for s in steps] == [
        "ToolCallsStep",
        "ToolResultsStep",
        "ModelRequestStep",
        "ModelResponseStep",
        "FinalResultStep",
    ]
    assert [(m.tool_call_id, m.content) for m in steps[1].results] == [("d1", "deleted a.txt")]
    assert resumed.result is not None and resumed.result.output == "deleted it"
    assert chat_bodies(server)[1]["messages"][-1] == {"role": "tool", "tool_call_id": "d1", "content": "deleted a.txt"}


def test_iter_checks_its_options_at_once(loopback):
    server = loopback([answer("never sent")])
    agent = Agent(model_for(server))
    with pytest.raises(Exception, match="settings must be a ModelSettings"):
        agent.iter("hi", settings={"temperature": 1})  # type: ignore[arg-type]
    with pytest.raises(Exception, match="approvals= goes with state="):
        agent.iter("hi", approvals={"x": True})
    assert server.requests == []
