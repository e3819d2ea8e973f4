"""The whole loop over real HTTP: a loopback server speaking chat completions."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Literal

import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    MaxTurnsExceeded,
    ModelRetry,
    ModelSettings,
    OutputValidationError,
    RunContext,
    ToolRetriesExceeded,
    tool,
)
from agentkit.messages import AssistantMessage, ToolMessage, UserMessage, load_messages
from agentkit.models import OpenAICompatible
from tests.support.server import Reply, call, chat_completion


@tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
    """Get the current weather.

    Args:
        city: City name, e.g. "Paris".
        unit: Temperature unit.
    """
    return f"Sunny, 22 {unit.upper()} in {city}"


def model_for(server, **kw):
    return OpenAICompatible("loopback-model", base_url=server.url + "/v1", api_key="sk-test-secret-123", **kw)


def test_full_loop_tool_call_then_answer(loopback):
    server = loopback(
        [
            Reply(body=chat_completion(None, [call("get_weather", {"city": "Paris"}, "call_a")])),
            Reply(
                body=chat_completion(
                    "It is sunny in Paris.", usage={"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37}
                )
            ),
        ]
    )
    agent = Agent(model_for(server), tools=[get_weather], instructions="Be brief.", settings=ModelSettings(temperature=0.2))
    result = agent.run_sync("Weather in Paris?")

    assert result.output == "It is sunny in Paris."
    assert result.usage.requests == 2
    assert result.usage.tool_calls == 1
    assert result.usage.prompt_tokens == 40 and result.usage.total_tokens == 52
    first, second = server.bodies("/chat/completions")
    assert first["model"] == "loopback-model"
    assert first["temperature"] == 0.2
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert first["tools"][0]["function"]["parameters"]["properties"]["city"]["description"] == 'City name, e.g. "Paris".'
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assert second["messages"][2]["tool_calls"][0]["id"] == "call_a"
    assert second["messages"][3] == {"role": "tool", "tool_call_id": "call_a", "content": "Sunny, 22 C in Paris"}
    assert server.requests[0].headers["authorization"] == "Bearer sk-test-secret-123"
    # new_messages excludes nothing here (fresh run), and the history round-trips through JSON
    assert load_messages(result.messages_json()) == result.messages
    assert isinstance(result.new_messages[-1], AssistantMessage)


def test_parallel_async_tools_run_concurrently_and_results_keep_call_order(loopback):
    started: list[str] = []
    both_started = asyncio.Event()

    @tool
    async def slow(name: str) -> str:
        """Wait until both calls have started, then answer."""
        started.append(name)
        if len(started) == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), timeout=5)  # sequential execution would time out
        return f"done {name}"

    server = loopback(
        [
            Reply(body=chat_completion(None, [call("slow", {"name": "first"}, "c1"), call("slow", {"name": "second"}, "c2")])),
            Reply(body=chat_completion("ok")),
        ]
    )
    result = Agent(model_for(server), tools=[slow]).run_sync("go")
    assert result.output == "ok"
    tool_messages = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [(m.tool_call_id, m.content) for m in tool_messages] == [("c1", "done first"), ("c2", "done second")]
    assert result.usage.tool_calls == 2


def test_sync_tools_run_in_worker_threads_concurrently(loopback):
    barrier = threading.Barrier(2, timeout=5)
    threads: list[str] = []

    @tool
    def blocking(n: int) -> int:
        """Block until the other call arrives."""
        threads.append(threading.current_thread().name)
        barrier.wait()  # would raise BrokenBarrierError if the calls ran one after the other
        return n * 10

    server = loopback(
        [
            Reply(body=chat_completion(None, [call("blocking", {"n": 1}, "a"), call("blocking", {"n": 2}, "b")])),
            Reply(body=chat_completion("ok")),
        ]
    )
    result = Agent(model_for(server), tools=[blocking]).run_sync("go")
    tool_messages = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [m.content for m in tool_messages] == ["10", "20"]
    assert all(not m.is_error for m in tool_messages)
    assert threading.main_thread().name not in threads


@pytest.mark.parametrize(
    ("bad_call", "expected"),
    [
        (call("get_weather", '{"city": "Par', "x1"), "not valid JSON"),
        (call("get_weather", {"city": 42}, "x1"), "city: Input should be a valid string"),
        (call("get_weather", {"town": "Paris"}, "x1"), "city: Field required"),
        (call("get_weather", {"city": "Paris", "unit": "k"}, "x1"), "unit: Input should be 'c' or 'f'"),
        (call("get_wether", {"city": "Paris"}, "x1"), "Unknown tool 'get_wether'. Available tools: get_weather"),
    ],
)
def test_bad_calls_go_back_to_the_model_which_can_correct_them(loopback, bad_call, expected):
    server = loopback(
        [
            Reply(body=chat_completion(None, [bad_call])),
            Reply(body=chat_completion(None, [call("get_weather", {"city": "Paris"}, "x2")])),
            Reply(body=chat_completion("Sunny.")),
        ]
    )
    result = Agent(model_for(server), tools=[get_weather]).run_sync("Weather?")
    assert result.output == "Sunny."
    second = server.bodies("/chat/completions")[1]
    error_message = second["messages"][-1]
    assert error_message["role"] == "tool" and error_message["tool_call_id"] == "x1"
    assert expected in error_message["content"]
    tool_messages = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [m.is_error for m in tool_messages] == [True, False]


def test_empty_arguments_for_a_no_argument_tool(loopback):
    @tool
    def now() -> str:
        """The current time."""
        return "12:00"

    server = loopback([Reply(body=chat_completion(None, [call("now", "", "n1")])), Reply(body=chat_completion("noon"))])
    result = Agent(model_for(server), tools=[now]).run_sync("time?")
    assert result.output == "noon"
    second = server.bodies("/chat/completions")[1]
    assert second["messages"][-1]["content"] == "12:00"
    assert second["messages"][-2]["tool_calls"][0]["function"]["arguments"] == "{}"  # "" is not echoed back


def test_tool_exception_and_model_retry_are_reported_then_budget_ends_the_run(loopback):
    calls = []

    @tool(retries=2)
    def flaky(x: int) -> str:
        """Fails in two ways."""
        calls.append(x)
        if x == 1:
            raise ValueError("x must not be 1")
        raise ModelRetry("try a larger x")

    server = loopback([Reply(body=chat_completion(None, [call("flaky", {"x": i}, f"f{i}")])) for i in (1, 2, 3)])
    agent = Agent(model_for(server), tools=[flaky])
    with pytest.raises(ToolRetriesExceeded) as info:
        agent.run_sync("go")
    assert calls == [1, 2, 3]
    assert info.value.tool_name == "flaky"
    assert "try a larger x" in info.value.last_error
    contents = [m.content for m in info.value.messages if isinstance(m, ToolMessage)]
    assert "ValueError: x must not be 1" in contents[0]
    assert contents[1:] == ["try a larger x", "try a larger x"]
    bodies = server.bodies("/chat/completions")
    assert len(bodies) == 3


def test_a_successful_call_resets_the_retry_budget(loopback):
    outcomes = iter([ModelRetry("again"), "ok", ModelRetry("again"), "ok"])

    @tool
    def sometimes() -> str:
        """Alternates between failing and working."""
        value = next(outcomes)
        if isinstance(value, Exception):
            raise value
        return value

    replies = [Reply(body=chat_completion(None, [call("sometimes", {}, f"s{i}")])) for i in range(4)]
    server = loopback([*replies, Reply(body=chat_completion("done"))])
    assert Agent(model_for(server), tools=[sometimes], tool_retries=1).run_sync("go").output == "done"


def test_unknown_tools_have_a_budget_too(loopback):
    server = loopback([Reply(body=chat_completion(None, [call("nope", {}, f"u{i}")])) for i in range(3)])
    with pytest.raises(ToolRetriesExceeded, match="unknown tools"):
        Agent(model_for(server), tools=[get_weather], tool_retries=1).run_sync("go")
    assert len(server.requests) == 2


class Forecast(BaseModel):
    city: str
    temperature_c: float


def test_structured_output_with_a_reask(loopback):
    server = loopback(
        [
            Reply(body=chat_completion('{"city": "Paris"}')),
            Reply(body=chat_completion('{"city": "Paris", "temperature_c": 21.5}')),
        ]
    )
    agent = Agent(model_for(server), output_type=Forecast)
    result = agent.run_sync("Forecast for Paris")
    assert result.output == Forecast(city="Paris", temperature_c=21.5)
    first, second = server.bodies("/chat/completions")
    fmt = first["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Forecast"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["city", "temperature_c"]
    assert second["messages"][-1]["role"] == "user"
    assert "temperature_c" in second["messages"][-1]["content"]


def test_structured_output_gives_up_after_output_retries(loopback):
    server = loopback([Reply(body=chat_completion("not json")) for _ in range(3)])
    with pytest.raises(OutputValidationError) as info:
        Agent(model_for(server), output_type=Forecast, output_retries=2).run_sync("Forecast")
    assert info.value.raw_text == "not json"
    assert "not valid JSON" in info.value.errors[0]
    assert len(server.requests) == 3
    assert isinstance(info.value.messages[-1], AssistantMessage)


def test_tool_output_mode_uses_a_final_result_tool(loopback):
    server = loopback(
        [
            Reply(body=chat_completion(None, [call("final_result", {"city": "Paris", "temperature_c": 20}, "fr")])),
        ]
    )
    result = Agent(model_for(server), output_type=Forecast, output_mode="tool").run_sync("Forecast")
    assert result.output == Forecast(city="Paris", temperature_c=20)
    body = server.bodies("/chat/completions")[0]
    assert "response_format" not in body
    assert [t["function"]["name"] for t in body["tools"]] == ["final_result"]


def test_max_turns_raises_with_the_messages_so_far(loopback):
    server = loopback([Reply(body=chat_completion(None, [call("get_weather", {"city": "Paris"}, f"m{i}")])) for i in range(3)])
    with pytest.raises(MaxTurnsExceeded) as info:
        Agent(model_for(server), tools=[get_weather], max_turns=3).run_sync("loop forever")
    assert len(server.requests) == 3
    assert isinstance(info.value.messages[-1], ToolMessage)  # the last calls were still answered
    assert info.value.usage is not None and info.value.usage.requests == 3


@pytest.mark.parametrize(
    ("reset", "expected_second"), [(True, "auto"), (False, {"type": "function", "function": {"name": "get_weather"}})]
)
def test_forced_tool_choice_falls_back_to_auto_after_a_call(loopback, reset, expected_second):
    server = loopback(
        [
            Reply(body=chat_completion(None, [call("get_weather", {"city": "Paris"}, "t1")], finish_reason="stop")),
            Reply(body=chat_completion("done")),
        ]
    )
    agent = Agent(
        model_for(server), tools=[get_weather], settings=ModelSettings(tool_choice="get_weather"), reset_tool_choice=reset
    )
    agent.run_sync("go")
    first, second = server.bodies("/chat/completions")
    assert first["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert second["tool_choice"] == expected_second


def test_conversation_continues_from_earlier_messages(loopback):
    server = loopback([Reply(body=chat_completion("Hi Ann.")), Reply(body=chat_completion("Your name is Ann."))])
    agent = Agent(model_for(server), instructions="Be brief.")
    first = agent.run_sync("I am Ann.")
    restored = load_messages(first.messages_json())
    second = agent.run_sync("What is my name?", messages=restored)
    assert second.output == "Your name is Ann."
    body = server.bodies("/chat/completions")[1]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]  # instructions not repeated
    assert [type(m) for m in second.new_messages] == [UserMessage, AssistantMessage]
    assert second.messages[: len(first.messages)] == first.messages


def test_settings_defaults_overrides_and_omission(loopback):
    server = loopback([Reply(body=chat_completion("a")), Reply(body=chat_completion("b"))])
    agent = Agent(
        model_for(server),
        settings=ModelSettings(temperature=0.2, seed=7, extra_body={"user": "u1"}, extra_headers={"X-Trace": "t1"}),
    )
    agent.run_sync("one")
    agent.run_sync("two", settings=ModelSettings(temperature=0.9, max_tokens=50, stop=["\n"]))
    first, second = server.bodies("/chat/completions")
    assert set(first) == {"model", "messages", "temperature", "seed", "user"}
    assert (first["temperature"], second["temperature"]) == (0.2, 0.9)
    assert second["seed"] == 7 and second["max_tokens"] == 50 and second["stop"] == ["\n"]
    assert "tool_choice" not in first and "parallel_tool_calls" not in first  # no tools, no tool fields
    assert server.requests[0].headers["x-trace"] == "t1"


def test_parallel_tool_calls_and_tool_choice_are_sent_with_tools(loopback):
    server = loopback([Reply(body=chat_completion("ok"))])
    Agent(model_for(server), tools=[get_weather], settings=ModelSettings(parallel_tool_calls=False, tool_choice="auto")).run_sync(
        "go"
    )
    body = server.bodies("/chat/completions")[0]
    assert body["parallel_tool_calls"] is False and body["tool_choice"] == "auto"


def test_deps_reach_tools_through_run_context(loopback):
    seen = {}

    @tool
    def whoami(ctx: RunContext[dict[str, str]]) -> str:
        """Who is asking."""
        seen.update(turn=ctx.turn, call=ctx.tool_call_id, user=ctx.deps["user"])
        return ctx.deps["user"]

    server = loopback([Reply(body=chat_completion(None, [call("whoami", {}, "w1")])), Reply(body=chat_completion("ann"))])
    agent = Agent(model_for(server), tools=[whoami])
    assert agent.run_sync("who?", deps={"user": "ann"}).output == "ann"
    assert seen == {"turn": 1, "call": "w1", "user": "ann"}
    assert "ctx" not in server.bodies("/chat/completions")[0]["tools"][0]["function"]["parameters"]["properties"]


def test_structured_tool_results_are_sent_as_json(loopback):
    @tool
    def lookup(city: str) -> Forecast:
        """Look up a forecast."""
        return Forecast(city=city, temperature_c=3.5)

    server = loopback(
        [Reply(body=chat_completion(None, [call("lookup", {"city": "Oslo"}, "l1")])), Reply(body=chat_completion("cold"))]
    )
    Agent(model_for(server), tools=[lookup]).run_sync("go")
    sent = server.bodies("/chat/completions")[1]["messages"][-1]["content"]
    assert json.loads(sent) == {"city": "Oslo", "temperature_c": 3.5}


async def test_concurrent_async_runs_share_one_model(loopback):
    def handler(request):
        prompt = request.json["messages"][-1]["content"]
        return Reply(body=chat_completion(f"echo {prompt}"))

    server = loopback(handler)
    agent = Agent(model_for(server))
    results = await asyncio.gather(*(agent.run(f"p{i}") for i in range(20)))
    assert [r.output for r in results] == [f"echo p{i}" for i in range(20)]
    await agent.aclose()


def test_provider_error_is_typed_and_never_shows_the_key(loopback):
    from agentkit.errors import AuthenticationError

    body = {
        "error": {
            "message": "Incorrect API key provided: sk-test-secret-123",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    server = loopback([Reply(401, body, headers={"x-request-id": "req_42"})])
    model = model_for(server)
    with pytest.raises(AuthenticationError) as info:
        Agent(model).run_sync("hi")
    err = info.value
    assert err.status == 401 and err.code == "invalid_api_key" and err.request_id == "req_42"
    assert "Incorrect API key provided" in str(err)
    for text in (str(err), repr(err), err.message, json.dumps(err.body), repr(model)):
        assert "sk-test-secret-123" not in text
    assert len(server.requests) == 1  # 401 is never retried


def test_server_errors_are_retried_then_succeed(loopback, monkeypatch):
    from agentkit._http.client import HTTPClient

    monkeypatch.setattr(HTTPClient, "backoff", lambda self, attempt, retry_after: 0.0)
    server = loopback([Reply(503, {"error": {"message": "overloaded"}}), Reply(body=chat_completion("fine"))])
    assert Agent(model_for(server)).run_sync("hi").output == "fine"
    assert len(server.requests) == 2


def test_run_sync_is_fast_to_repeat_and_reuses_connections(loopback):
    server = loopback(lambda request: Reply(body=chat_completion("ok")))
    agent = Agent(model_for(server))
    started = time.perf_counter()
    for _ in range(5):
        agent.run_sync("x")
    assert len(server.requests) == 5
    assert time.perf_counter() - started < 30  # sanity bound only; speed is measured in benchmarks/
