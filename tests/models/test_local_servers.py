"""What the generic OpenAI-compatible profile sends to the servers people run locally.

The loopback server here checks a request the way llama-cpp-python 0.3.36's server does
(``python -m llama_cpp.server --chat_format chatml-function-calling``) before it answers, and
answers its errors as that server does (HTTP 500 with the exception's text); the real server is
exercised by ``tests/interop``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from agentkit import Agent, ModelSettings, tool
from agentkit.errors import ProviderError
from agentkit.events import ToolCallReady, ToolResult
from agentkit.messages import AssistantMessage, ToolCall, UserMessage
from agentkit.models import OpenAI, OpenAICompatible
from agentkit.models.base import ModelRequest
from agentkit.models.profiles import OPENAI_COMPATIBLE, json_object_schema
from agentkit.output import OutputSchema
from tests.support.server import Reply, Request, call, chat_completion
from tests.support.specs import assert_valid_request
from tests.support.sse import sse, text_stream, tool_call_stream


@tool
def get_weather(city: str) -> str:
    """Get the current weather.

    Args:
        city: City name.
    """
    return f"Sunny, 22 C in {city}"


class City(BaseModel):
    name: str
    population: int


# What llama-cpp-python 0.3.36 answers (its route handler turns every exception into a 500, with
# the exception's text as the message): the chatml-function-calling template reads
# ``message.content`` under jinja2's StrictUndefined ...
MISSING_CONTENT = "'dict object' has no attribute 'content'"
# ... and its request model (TypedDicts) takes an assistant ``content`` only as a string, and
# ``response_format.type`` only as text or json_object.
NULL_CONTENT = (
    "7 validation errors:\n  {'type': 'string_type', 'loc': ('body', 'messages', 1, 'ChatCompletionRequestAssistantMessage', "
    "'content'), 'msg': 'Input should be a valid string', 'input': None}"
)
JSON_SCHEMA_REFUSED = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be "
    "'text' or 'json_object'\", 'input': 'json_schema', 'ctx': {'expected': \"'text' or 'json_object'\"}}"
)


def _error(message: str) -> Reply:
    return Reply(500, {"error": {"message": message, "type": "internal_server_error", "param": None, "code": None}})


def llama_cpp_python(answers: list[Callable[[dict[str, Any]], Reply]]) -> Callable[[Request], Reply]:
    """A handler that refuses what llama-cpp-python's server refuses, else gives the next answer."""

    def handle(request: Request) -> Reply:
        body = request.json
        for message in body["messages"]:
            if message["role"] == "assistant":
                if "content" not in message:
                    return _error(MISSING_CONTENT)
                if not isinstance(message["content"], str):
                    return _error(NULL_CONTENT)
        response_format = body.get("response_format")
        if response_format is not None and response_format.get("type") not in ("text", "json_object"):
            return _error(JSON_SCHEMA_REFUSED)
        if not answers:
            return _error("loopback: no answer left")
        return answers.pop(0)(body)

    return handle


def answer(content: str | None = None, tool_calls: list[dict[str, Any]] | None = None) -> Callable[[dict[str, Any]], Reply]:
    def reply(body: dict[str, Any]) -> Reply:
        if body.get("stream"):
            chunks = (
                tool_call_stream(tool_calls[0]["function"]["name"], tool_calls[0]["function"]["arguments"], tool_calls[0]["id"])
                if tool_calls
                else text_stream(content or "")
            )
            return Reply(body=sse(chunks), content_type="text/event-stream")
        return Reply(body=chat_completion(content, tool_calls))

    return reply


def compatible(server: Any, **options: Any) -> OpenAICompatible:
    return OpenAICompatible("gemma-3-270m", base_url=server.url + "/v1", max_retries=0, **options)


# --- the tool round trip (the second request was answered HTTP 500) ------------------------------


@pytest.mark.parametrize("streamed", [False, True], ids=["request", "stream"])
async def test_a_tool_round_trip_reaches_a_server_whose_template_reads_every_message_content(loopback, streamed):
    server = loopback(llama_cpp_python([answer(None, [call("get_weather", {"city": "Paris"}, "call_a")]), answer("Sunny.")]))
    agent = Agent(compatible(server), tools=[get_weather], settings=ModelSettings(tool_choice="get_weather"))
    if streamed:
        async with agent.run_stream("Weather in Paris?") as events:
            seen = [e async for e in events]
        result = events.result
        assert [e.name for e in seen if isinstance(e, ToolCallReady)] == ["get_weather"]
        assert [e.content for e in seen if isinstance(e, ToolResult)] == ["Sunny, 22 C in Paris"]
    else:
        result = await agent.run("Weather in Paris?")
    assert result.output == "Sunny." and result.usage.tool_calls == 1
    first, second = server.bodies("/chat/completions")
    assert first["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert second["tool_choice"] == "auto"
    assistant, tool_result = second["messages"][-2:]
    assert assistant == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    }
    assert tool_result == {"role": "tool", "tool_call_id": "call_a", "content": "Sunny, 22 C in Paris"}
    await agent.aclose()


def test_a_conversation_with_text_and_calls_keeps_its_text_and_other_profiles_keep_omitting_content():
    history = [
        UserMessage(content="Weather?"),
        AssistantMessage(content=None, tool_calls=[ToolCall(id="c1", name="get_weather", arguments="{}")]),
        AssistantMessage(content="Let me look.", tool_calls=[ToolCall(id="c2", name="get_weather", arguments="{}")]),
        AssistantMessage(content=None),
    ]
    request = ModelRequest(history, (get_weather.definition,))
    compatible_body = OpenAICompatible("m", base_url="http://127.0.0.1:9/v1").build_body(request)
    assert [m.get("content") for m in compatible_body["messages"][1:]] == ["", "Let me look.", ""]
    assert_valid_request(compatible_body)
    openai_body = OpenAI("gpt-4o-mini", api_key="sk-x").build_body(request)
    assert "content" not in openai_body["messages"][1]
    assert_valid_request(openai_body)


# --- native structured output: json_schema, else json_object with the schema ---------------------


def test_the_fallback_form_carries_the_schema_and_is_valid_for_openais_spec():
    schema = OutputSchema(City)
    body = OpenAICompatible("m", base_url="http://127.0.0.1:9/v1").build_body(
        ModelRequest([UserMessage(content="x")], output=schema.format)
    )
    assert body["response_format"]["type"] == "json_schema"
    fallback = json_object_schema(body["response_format"])
    assert fallback == {"type": "json_object", "schema": body["response_format"]["json_schema"]["schema"]}
    assert_valid_request({**body, "response_format": fallback})
    assert json_object_schema({"type": "json_schema"}) == {"type": "json_object"}
    assert OPENAI_COMPATIBLE.response_format_fallbacks == (json_object_schema,)


@pytest.mark.parametrize("streamed", [False, True], ids=["request", "stream"])
async def test_native_output_falls_back_to_json_object_when_the_server_refuses_json_schema(loopback, streamed):
    city = json.dumps({"name": "Paris", "population": 2_100_000})
    server = loopback(llama_cpp_python([answer(city), answer(city)]))
    model = compatible(server)
    agent = Agent(model, output_type=City)

    async def run() -> City:
        if not streamed:
            return (await agent.run("The capital of France?")).output
        async with agent.run_stream("The capital of France?") as events:
            async for _ in events:
                pass
        return events.result.output

    assert await run() == City(name="Paris", population=2_100_000)
    refused, accepted = server.bodies("/chat/completions")
    assert refused["response_format"]["type"] == "json_schema"
    assert accepted["response_format"] == {"type": "json_object", "schema": refused["response_format"]["json_schema"]["schema"]}
    # the model remembers: the next run asks in the accepted form at once
    assert await run() == City(name="Paris", population=2_100_000)
    assert [b["response_format"]["type"] for b in server.bodies("/chat/completions")] == [
        "json_schema",
        "json_object",
        "json_object",
    ]
    await model.aclose()


async def test_other_errors_are_not_taken_for_a_refused_response_format(loopback):
    server = loopback([_error("out of memory"), _error("still out of memory")])
    model = compatible(server)
    with pytest.raises(ProviderError, match="out of memory"):
        await Agent(model, output_type=City).run("x")
    assert len(server.requests) == 1  # no second form sent
    await model.aclose()


async def test_a_profile_without_fallbacks_raises_the_refusal(loopback):
    server = loopback([_error(JSON_SCHEMA_REFUSED)])
    model = OpenAI("gpt-4o-mini", api_key="sk-x", base_url=server.url + "/v1", max_retries=0)
    with pytest.raises(ProviderError, match="response_format"):
        await Agent(model, output_type=City).run("x")
    assert len(server.requests) == 1
    await model.aclose()


async def test_when_every_form_is_refused_the_last_refusal_is_raised(loopback):
    server = loopback([_error(JSON_SCHEMA_REFUSED), Reply(400, {"error": {"message": "response_format: no schema support"}})])
    model = compatible(server)
    with pytest.raises(ProviderError, match="no schema support"):
        await Agent(model, output_type=City).run("x")
    assert [b["response_format"]["type"] for b in server.bodies("/chat/completions")] == ["json_schema", "json_object"]
    await model.aclose()


@pytest.mark.parametrize("streamed", [False, True], ids=["request", "stream"])
async def test_a_refused_json_schema_falls_back_at_once_not_after_the_retries(loopback, streamed, monkeypatch):
    # llama-cpp-python refuses json_schema with an HTTP 500, a status the client retries: the json_object
    # form went out only after max_retries more refusals and their backoff (~1.5 s). The refusal now ends
    # the retrying at once. Each refusal asks the client to wait 10 minutes before retrying (Retry-After),
    # so a retry would hang the test, which fails at the deadline; the backoff is not even asked for.
    city = json.dumps({"name": "Paris", "population": 2_100_000})
    refuse = llama_cpp_python([answer(city), answer(city)])

    def handle(request: Request) -> Reply:
        reply = refuse(request)
        return Reply(reply.status, reply.body, {"Retry-After": "600"}, reply.content_type) if reply.status == 500 else reply

    server = loopback(handle)
    model = OpenAICompatible("gemma-3-270m", base_url=server.url + "/v1", max_retries=3, max_retry_wait=600)
    backoffs: list[int] = []
    backoff = model._http.backoff

    def counted_backoff(attempt: int, retry_after: float | None) -> float:
        backoffs.append(attempt)
        return backoff(attempt, retry_after)

    monkeypatch.setattr(model._http, "backoff", counted_backoff)
    agent = Agent(model, output_type=City)

    async def run() -> City:
        if not streamed:
            return (await agent.run("The capital of France?")).output
        async with agent.run_stream("The capital of France?") as events:
            async for _ in events:
                pass
        return events.result.output

    assert await asyncio.wait_for(run(), 20) == City(name="Paris", population=2_100_000)
    assert [b["response_format"]["type"] for b in server.bodies("/chat/completions")] == ["json_schema", "json_object"]
    assert backoffs == []
    await model.aclose()


async def test_other_server_errors_are_still_retried_before_and_after_the_fallback(loopback, monkeypatch):
    city = json.dumps({"name": "Paris", "population": 2_100_000})
    answers = iter([_error("out of memory"), _error(JSON_SCHEMA_REFUSED), _error("out of memory")])
    refuse = llama_cpp_python([answer(city)])

    def handle(request: Request) -> Reply:
        reply = next(answers, None)  # a 500 that is not a refusal, the refusal, and one more ordinary 500
        return reply if reply is not None else refuse(request)

    server = loopback(handle)
    model = OpenAICompatible("gemma-3-270m", base_url=server.url + "/v1", max_retries=3)
    backoffs: list[int] = []
    monkeypatch.setattr(model._http, "backoff", lambda attempt, retry_after: backoffs.append(attempt) or 0.0)
    assert await Agent(model, output_type=City).run("x") is not None
    kinds = [b["response_format"]["type"] for b in server.bodies("/chat/completions")]
    assert kinds == ["json_schema", "json_schema", "json_object", "json_object"]  # retried, fell back, retried
    assert backoffs == [0, 0]  # one retry before the refusal, one after it (the json_object request's own)
    await model.aclose()
