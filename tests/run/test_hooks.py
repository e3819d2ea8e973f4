"""Hooks and history processors at every point of a run, over the loopback server
(agentkit/hooks.py, agentkit/_run/hooks.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from agentkit import (
    Agent,
    HookError,
    Hooks,
    MaxTurnsExceeded,
    ModelSettings,
    RunContext,
    RunResult,
    Substitute,
    UserError,
    Veto,
    tool,
)
from agentkit.errors import BadRequestError
from agentkit.events import FinalOutput, FinalResultStep, ToolExecutionStarted, ToolResult
from agentkit.messages import Message, SystemMessage, ToolCall, ToolMessage, UserMessage
from agentkit.models import ModelRequest, ModelResponse
from tests.run.helpers import answer, calls, chat_bodies, model_for, sse_calls, sse_text
from tests.support.server import Reply


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


def _tool_messages(messages: list[Message]) -> list[tuple[str, str, bool]]:
    return [(m.tool_call_id, m.content, m.is_error) for m in messages if isinstance(m, ToolMessage)]


# -- run start and end --------------------------------------------------------------------------


async def test_on_run_start_and_on_run_end(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("sunny")])
    log: list[Any] = []

    class Record(Hooks):
        async def on_run_start(self, ctx: RunContext[Any]) -> None:
            log.append(("start", ctx.deps, [m.role for m in ctx.messages], len(server.requests)))

        async def on_run_end(self, ctx: RunContext[Any], result: RunResult[Any]) -> None:
            log.append(("end", ctx.deps, result, len(server.requests)))

    agent = Agent(model_for(server), tools=[_weather_tool([])], hooks=[Record()])
    result = await agent.run("Weather?", deps="the-deps")
    assert log[0] == ("start", "the-deps", ["user"], 0)  # before the first request
    assert log[1][:2] == ("end", "the-deps") and log[1][3] == 2
    assert log[1][2] is result and result.output == "sunny"
    assert len(log) == 2


async def test_on_run_end_is_not_called_when_the_run_fails(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1"))])
    ends: list[Any] = []

    class Record(Hooks):
        async def on_run_end(self, ctx: RunContext[Any], result: RunResult[Any]) -> None:
            ends.append(result)

    with pytest.raises(MaxTurnsExceeded):
        await Agent(model_for(server), tools=[_weather_tool([])], max_turns=1, hooks=[Record()]).run("go")
    assert ends == []


# -- model requests ----------------------------------------------------------------------------


async def test_before_model_request_changes_one_request_not_the_history(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("sunny")])
    seen_turns: list[int] = []

    class Redact(Hooks):
        async def before_model_request(self, ctx: RunContext[Any], request: ModelRequest) -> ModelRequest | None:
            seen_turns.append(ctx.turn)
            if ctx.turn != 1:
                return None
            messages = [
                m.model_copy(update={"content": "my password is [redacted]"}) if isinstance(m, UserMessage) else m
                for m in request.messages
            ]
            return replace(request, messages=messages, settings=request.settings.merge(ModelSettings(temperature=0.7, seed=5)))

    agent = Agent(model_for(server), tools=[_weather_tool([])], settings=ModelSettings(temperature=0.1), hooks=[Redact()])
    result = await agent.run("my password is hunter2")
    first, second = chat_bodies(server)
    assert first["messages"][0] == {"role": "user", "content": "my password is [redacted]"}
    assert (first["temperature"], first["seed"]) == (0.7, 5)
    # the next request is built from the stored history and the run's own settings again
    assert second["messages"][0] == {"role": "user", "content": "my password is hunter2"}
    assert second["temperature"] == 0.1 and "seed" not in second
    assert result.messages[0] == UserMessage(content="my password is hunter2")
    assert seen_turns == [1, 2]


async def test_before_model_request_returning_something_else_is_a_hook_error(loopback):
    server = loopback([answer("never sent")])

    class Wrong(Hooks):
        async def before_model_request(self, ctx: RunContext[Any], request: ModelRequest) -> Any:
            return {"messages": []}

    with pytest.raises(HookError) as info:
        await Agent(model_for(server), hooks=[Wrong()]).run("hi")
    assert info.value.hook.endswith("Wrong.before_model_request")
    assert server.requests == []


async def test_after_model_response_sees_each_answer_before_its_tools_run(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("sunny")])
    ran: list[str] = []
    seen: list[Any] = []

    class Record(Hooks):
        async def after_model_response(self, ctx: RunContext[Any], response: ModelResponse) -> None:
            seen.append(
                (
                    ctx.turn,
                    [c.id for c in response.message.tool_calls],
                    response.message.content,
                    response.usage.total_tokens,
                    list(ran),
                    ctx.messages[-1] == response.message,
                )
            )

    await Agent(model_for(server), tools=[_weather_tool(ran)], hooks=[Record()]).run("Weather?")
    assert seen == [(1, ["c1"], None, 15, [], True), (2, [], "sunny", 15, ["Paris"], True)]


# -- tool calls --------------------------------------------------------------------------------


async def test_before_tool_call_veto_refuses_the_call_with_a_message(loopback):
    server = loopback(
        [calls(("get_weather", {"city": "Paris"}, "c1"), ("get_weather", {"city": "Oslo"}, "c2")), answer("only Oslo")]
    )
    ran: list[str] = []
    seen: list[tuple[str, str, str]] = []

    class NoParis(Hooks):
        async def before_tool_call(self, ctx: RunContext[Any], call: ToolCall) -> Veto | Substitute | None:
            seen.append((ctx.tool_name, ctx.tool_call_id, call.id))
            if "Paris" in call.arguments:
                return Veto("Paris is off limits.")
            return None

    # tool_retries=0: a vetoed call is not the tool's failure, so it does not end the run
    agent = Agent(model_for(server), tools=[_weather_tool(ran)], hooks=[NoParis()], tool_retries=0)
    result = await agent.run("Weather?")
    assert ran == ["Oslo"] and result.output == "only Oslo"
    assert sorted(seen) == [("get_weather", "c1", "c1"), ("get_weather", "c2", "c2")]
    assert _tool_messages(result.messages) == [("c1", "Paris is off limits.", True), ("c2", "Sunny in Oslo", False)]
    sent = chat_bodies(server)[1]["messages"]
    assert sent[-2] == {"role": "tool", "tool_call_id": "c1", "content": "Paris is off limits."}
    assert result.usage.tool_calls == 2


async def test_before_tool_call_substitute_supplies_the_result(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("cached")])
    ran: list[str] = []

    class Cache(Hooks):
        async def before_tool_call(self, ctx: RunContext[Any], call: ToolCall) -> Veto | Substitute | None:
            return Substitute({"city": "Paris", "sky": "clear"})

    result = await Agent(model_for(server), tools=[_weather_tool(ran)], hooks=[Cache()]).run("Weather?")
    assert ran == []
    tool_message = chat_bodies(server)[1]["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "c1"
    assert json.loads(tool_message["content"]) == {"city": "Paris", "sky": "clear"}
    assert _tool_messages(result.messages)[0][2] is False


async def test_vetoed_and_substituted_calls_are_not_announced_as_started(loopback):
    server = loopback(
        [sse_calls(("get_weather", {"city": "Paris"}, "c1"), ("get_weather", {"city": "Oslo"}, "c2")), sse_text("ok")]
    )
    ran: list[str] = []

    class Gate(Hooks):
        async def before_tool_call(self, ctx: RunContext[Any], call: ToolCall) -> Veto | Substitute | None:
            return Veto("no") if call.id == "c1" else Substitute("from cache")

    async with Agent(model_for(server), tools=[_weather_tool(ran)], hooks=[Gate()]).run_stream("go") as stream:
        events = [e async for e in stream]
    assert ran == []
    assert not any(isinstance(e, ToolExecutionStarted) for e in events)
    results = {e.tool_call_id: (e.content, e.is_error) for e in events if isinstance(e, ToolResult)}
    assert results == {"c1": ("no", True), "c2": ("from cache", False)}


async def test_after_tool_call_replaces_the_result(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1"), ("get_weather", {"city": "Oslo"}, "c2")), answer("ok")])
    seen: list[tuple[str, str, bool]] = []

    class Rewrite(Hooks):
        async def after_tool_call(self, ctx: RunContext[Any], call: ToolCall, result: ToolMessage) -> Any:
            seen.append((call.id, result.content, result.is_error))
            if call.id == "c1":
                return "Sunny in Paris (checked)"
            if call.id == "c2":
                return {"city": "Oslo", "checked": True}
            return None

    result = await Agent(model_for(server), tools=[_weather_tool([])], hooks=[Rewrite()]).run("Weather?")
    assert sorted(seen) == [("c1", "Sunny in Paris", False), ("c2", "Sunny in Oslo", False)]
    sent = chat_bodies(server)[1]["messages"]
    assert sent[-2] == {"role": "tool", "tool_call_id": "c1", "content": "Sunny in Paris (checked)"}
    assert json.loads(sent[-1]["content"]) == {"city": "Oslo", "checked": True}
    assert _tool_messages(result.messages)[0][1] == "Sunny in Paris (checked)"


async def test_after_tool_call_returning_none_keeps_the_result(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("ok")])

    class Watch(Hooks):
        async def after_tool_call(self, ctx: RunContext[Any], call: ToolCall, result: ToolMessage) -> Any:
            return None

    await Agent(model_for(server), tools=[_weather_tool([])], hooks=[Watch()]).run("Weather?")
    assert chat_bodies(server)[1]["messages"][-1]["content"] == "Sunny in Paris"


async def test_after_tool_call_replacing_a_failed_result_is_a_success(loopback):
    server = loopback([calls(("flaky", {}, "f1")), answer("used the cache")])

    @tool
    def flaky() -> str:
        """Always fails."""
        raise ConnectionError("service down")

    class Fallback(Hooks):
        async def after_tool_call(self, ctx: RunContext[Any], call: ToolCall, result: ToolMessage) -> Any:
            return "cached value" if result.is_error else None

    result = await Agent(model_for(server), tools=[flaky], hooks=[Fallback()], tool_retries=0).run("go")
    assert result.output == "used the cache"
    assert chat_bodies(server)[1]["messages"][-1] == {"role": "tool", "tool_call_id": "f1", "content": "cached value"}
    assert _tool_messages(result.messages) == [("f1", "cached value", False)]


# -- errors ------------------------------------------------------------------------------------


async def test_on_error_gets_the_error_that_ends_the_run(loopback):
    server = loopback([Reply(400, {"error": {"message": "bad request", "type": "invalid_request_error"}})])
    errors: list[BaseException] = []

    class Record(Hooks):
        async def on_error(self, ctx: RunContext[Any], error: BaseException) -> None:
            errors.append(error)

    with pytest.raises(BadRequestError) as info:
        await Agent(model_for(server), hooks=[Record()]).run("hi")
    assert errors == [info.value]
    assert errors[0] is info.value


async def test_on_error_sees_run_errors_too(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1"))])
    errors: list[BaseException] = []

    class Record(Hooks):
        async def on_error(self, ctx: RunContext[Any], error: BaseException) -> None:
            errors.append(error)

    with pytest.raises(MaxTurnsExceeded) as info:
        await Agent(model_for(server), tools=[_weather_tool([])], max_turns=1, hooks=[Record()]).run("go")
    assert errors == [info.value]


class Boom(Hooks):
    """Raises at one hook point (``point``), does nothing at the others."""

    def __init__(self, point: str) -> None:
        self.point = point

    def _maybe(self, point: str) -> None:
        if point == self.point:
            raise ValueError(f"boom in {point}")

    async def on_run_start(self, ctx: RunContext[Any]) -> None:
        self._maybe("on_run_start")

    async def on_run_end(self, ctx: RunContext[Any], result: RunResult[Any]) -> None:
        self._maybe("on_run_end")

    async def before_model_request(self, ctx: RunContext[Any], request: ModelRequest) -> ModelRequest | None:
        self._maybe("before_model_request")
        return None

    async def after_model_response(self, ctx: RunContext[Any], response: ModelResponse) -> None:
        self._maybe("after_model_response")

    async def before_tool_call(self, ctx: RunContext[Any], call: ToolCall) -> Veto | Substitute | None:
        self._maybe("before_tool_call")
        return None

    async def after_tool_call(self, ctx: RunContext[Any], call: ToolCall, result: ToolMessage) -> Any:
        self._maybe("after_tool_call")
        return None


@pytest.mark.parametrize(
    ("point", "requests"),
    [
        ("on_run_start", 0),
        ("before_model_request", 0),
        ("after_model_response", 1),
        ("before_tool_call", 1),
        ("after_tool_call", 1),
        ("on_run_end", 2),
    ],
)
async def test_a_hook_that_raises_ends_the_run_with_a_hook_error(loopback, point, requests):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("sunny")])
    ran: list[str] = []
    agent = Agent(model_for(server), tools=[_weather_tool(ran)], hooks=[Boom(point)])
    with pytest.raises(HookError) as info:
        await agent.run("Weather?")
    error = info.value
    assert error.hook == f"Boom.{point}"
    assert f"Boom.{point}" in str(error) and "ValueError" in str(error)
    assert isinstance(error.__cause__, ValueError) and str(error.__cause__) == f"boom in {point}"
    assert len(server.requests) == requests
    assert isinstance(error.messages[0], UserMessage)  # the messages so far
    if point == "before_tool_call":
        assert ran == []


async def test_an_on_error_hook_that_raises_is_a_hook_error_too(loopback):
    server = loopback([Reply(400, {"error": {"message": "bad request"}})])

    class Broken(Hooks):
        async def on_error(self, ctx: RunContext[Any], error: BaseException) -> None:
            raise RuntimeError("cannot log")

    with pytest.raises(HookError) as info:
        await Agent(model_for(server), hooks=[Broken()]).run("hi")
    assert info.value.hook.endswith("Broken.on_error")
    assert isinstance(info.value.__cause__, RuntimeError)


# -- agent and run hooks -----------------------------------------------------------------------


class Tag(Hooks):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def on_run_start(self, ctx: RunContext[Any]) -> None:
        self.log.append(f"{self.name}:start")

    async def before_tool_call(self, ctx: RunContext[Any], call: ToolCall) -> Veto | Substitute | None:
        self.log.append(f"{self.name}:tool")
        return None


async def test_run_hooks_add_to_the_agents_for_that_run_only(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("a"), answer("b")])
    log: list[str] = []
    agent = Agent(model_for(server), tools=[_weather_tool([])], hooks=[Tag("agent", log)])
    await agent.run("first", hooks=[Tag("run", log)])
    assert log == ["agent:start", "run:start", "agent:tool", "run:tool"]
    log.clear()
    await agent.run("second")
    assert log == ["agent:start"]


async def test_a_before_tool_call_veto_stops_later_hooks(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("ok")])
    log: list[str] = []

    class Deny(Hooks):
        async def before_tool_call(self, ctx: RunContext[Any], call: ToolCall) -> Veto | Substitute | None:
            log.append("deny")
            return Veto("denied")

    await Agent(model_for(server), tools=[_weather_tool([])], hooks=[Deny(), Tag("later", log)]).run("go")
    assert log == ["later:start", "deny"]  # the later hook's before_tool_call is not asked


def test_hooks_are_checked_when_the_agent_is_built():
    class SyncHook(Hooks):
        def on_run_start(self, ctx: RunContext[Any]) -> None:  # type: ignore[override]
            pass

    with pytest.raises(UserError, match=r"SyncHook\.on_run_start must be an async method"):
        Agent("test", hooks=[SyncHook()])

    class NotAHook:
        async def on_run_start(self, ctx: RunContext[Any]) -> None:
            pass

    with pytest.raises(UserError, match="Hooks instances"):
        Agent("test", hooks=[NotAHook()])  # type: ignore[list-item]


async def test_bad_run_hooks_are_a_user_error_before_any_request(loopback):
    server = loopback([answer("never sent")])
    agent = Agent(model_for(server))
    with pytest.raises(UserError, match="Hooks instances"):
        await agent.run("hi", hooks=[object()])  # type: ignore[list-item]
    assert server.requests == []


# -- history processors ------------------------------------------------------------------------


def drop_system(messages: list[Message]) -> list[Message]:
    return [m for m in messages if not isinstance(m, SystemMessage)]


async def redact(ctx: RunContext[Any], messages: list[Message]) -> list[Message]:
    assert ctx.deps == "deps-seen"
    return [
        m.model_copy(update={"content": m.content.replace("hunter2", "***")}) if isinstance(m, UserMessage) else m
        for m in messages
    ]


async def test_history_processors_change_what_is_sent_not_the_history(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("sunny")])
    lengths: list[int] = []

    def count(messages: list[Message]) -> list[Message]:  # sync, one argument
        lengths.append(len(messages))
        return messages

    agent = Agent(
        model_for(server),
        tools=[_weather_tool([])],
        instructions="Be brief.",
        history_processors=[count, drop_system, redact],
    )
    result = await agent.run("my password is hunter2", deps="deps-seen")
    first, second = chat_bodies(server)
    assert first["messages"] == [{"role": "user", "content": "my password is ***"}]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool"]
    assert second["messages"][0]["content"] == "my password is ***"
    assert lengths == [2, 4]  # each request starts from the whole stored history
    assert result.messages[0] == SystemMessage(content="Be brief.")
    assert result.messages[1] == UserMessage(content="my password is hunter2")
    assert len(result.messages) == 5


async def test_history_processors_apply_to_streamed_runs(loopback):
    server = loopback([sse_text("ok")])

    async def last_only(messages: list[Message]) -> tuple[Message, ...]:  # async, one argument, a tuple
        return (messages[-1],)

    def keep(ctx: RunContext[Any], messages: list[Message]) -> list[Message]:  # sync, (ctx, messages)
        assert ctx.turn == 1
        return messages

    agent = Agent(model_for(server), instructions="Be brief.", history_processors=[last_only, keep])
    async with agent.run_stream("hello", messages=[UserMessage(content="earlier")]) as stream:
        async for _ in stream:
            pass
    assert chat_bodies(server)[0]["messages"] == [{"role": "user", "content": "hello"}]
    assert [m.content for m in stream.result.messages] == ["Be brief.", "earlier", "hello", "ok"]


async def test_a_history_processor_returning_a_non_list_is_a_user_error(loopback):
    server = loopback([answer("never sent")])

    def wrong(messages: list[Message]) -> Any:
        return "not messages"

    with pytest.raises(UserError, match="must return a list of messages"):
        await Agent(model_for(server), history_processors=[wrong]).run("hi")
    assert server.requests == []


async def test_a_history_processor_that_raises_is_a_hook_error(loopback):
    server = loopback([answer("never sent")])

    def broken(messages: list[Message]) -> list[Message]:
        raise KeyError("missing")

    with pytest.raises(HookError) as info:
        await Agent(model_for(server), history_processors=[broken]).run("hi")
    assert "broken" in info.value.hook
    assert isinstance(info.value.__cause__, KeyError)
    assert server.requests == []


def test_history_processors_are_checked_when_the_agent_is_built():
    with pytest.raises(UserError, match="must take"):
        Agent("test", history_processors=[lambda a, b, c: a])
    with pytest.raises(UserError, match="must be functions"):
        Agent("test", history_processors=["not a function"])  # type: ignore[list-item]


# -- the end of a run that the caller stops reading at its final step ----------------------------

# on_run_end runs before the final step is handed out: a caller may stop reading there.


class _Ends(Hooks):
    def __init__(self) -> None:
        self.results: list[Any] = []

    async def on_run_end(self, ctx: RunContext[Any], result: RunResult[Any]) -> None:
        self.results.append(result.output)


async def test_on_run_end_runs_when_iter_stops_at_the_final_step(loopback):
    server = loopback([answer("hello")])
    ends = _Ends()
    async with Agent(model_for(server), hooks=[ends]).iter("hi") as run:
        async for step in run:
            if isinstance(step, FinalResultStep):
                break
    assert run.result is not None and run.result.output == "hello"
    assert ends.results == ["hello"]


async def test_on_run_end_runs_when_a_stream_stops_at_the_final_output(loopback):
    server = loopback([sse_text("hel", "lo")])
    ends = _Ends()
    async with Agent(model_for(server), hooks=[ends]).run_stream("hi") as stream:
        async for event in stream:
            if isinstance(event, FinalOutput):
                break
    assert stream.done and stream.result.output == "hello"
    assert ends.results == ["hello"]


async def test_on_run_end_runs_when_iter_and_streams_are_read_to_the_end(loopback):
    server = loopback([answer("hello"), sse_text("hel", "lo")])
    ends = _Ends()
    agent = Agent(model_for(server), hooks=[ends])
    async with agent.iter("hi") as run:
        async for _ in run:
            pass
    async with agent.run_stream("hi") as stream:
        async for _ in stream:
            pass
    assert ends.results == ["hello", "hello"]
