"""Recorded real traffic, replayed from a loopback server.

Each test serves a recording's responses byte for byte and checks two things: agentkit
understands what the real provider sent, and the requests agentkit sends have the shape of the
recorded ones (roles, tools, ids echoed back, response_format).
"""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from pydantic import BaseModel

from agentkit import Agent, ModelSettings, tool
from agentkit.errors import RateLimitError
from agentkit.messages import AssistantMessage, ToolMessage
from agentkit.models import Mistral, OpenAICompatible, OpenRouter
from tests.support.replay import recorded_requests, replies
from tests.support.server import Reply, chat_completion


def _model(server):
    return OpenAICompatible("replayed", base_url=server.url + "/v1", api_key="sk-replay")


def _roles(body):
    return [m["role"] for m in body["messages"]]


def test_openai_tool_call_then_json_schema_output(loopback):
    """test_openai_native_output.json: a no-argument tool call, then the final answer under json_schema."""

    class CityLocation(BaseModel):
        city: str
        country: str

    @tool
    def get_user_country() -> str:
        return "Mexico"

    name = "test_openai_native_output.json"
    server = loopback(replies(name))
    agent = Agent(_model(server), tools=[get_user_country], output_type=CityLocation, settings=ModelSettings(tool_choice="auto"))
    result = agent.run_sync("What is the largest city in the user country?")

    assert result.output == CityLocation(city="Mexico City", country="Mexico")
    assert result.usage.prompt_tokens == 71 + 92 and result.usage.completion_tokens == 12 + 15 and result.usage.requests == 2

    ours, theirs = server.bodies("/chat/completions"), recorded_requests(name)
    assert len(ours) == len(theirs) == 2
    for mine, recorded in zip(ours, theirs, strict=True):
        assert _roles(mine) == _roles(recorded)
        assert [t["function"]["name"] for t in mine["tools"]] == [t["function"]["name"] for t in recorded["tools"]]
        assert mine["tools"][0]["function"]["parameters"] == recorded["tools"][0]["function"]["parameters"]
        assert mine["tool_choice"] == recorded["tool_choice"]
        fmt, rec_fmt = mine["response_format"], recorded["response_format"]
        assert fmt["type"] == rec_fmt["type"] == "json_schema"
        assert fmt["json_schema"]["schema"]["properties"] == rec_fmt["json_schema"]["schema"]["properties"]
        assert fmt["json_schema"]["schema"]["required"] == rec_fmt["json_schema"]["schema"]["required"]
    # the call id the provider chose is echoed back on the assistant turn and the tool result
    assert ours[1]["messages"][1]["tool_calls"] == theirs[1]["messages"][1]["tool_calls"]
    assert ours[1]["messages"][2] == theirs[1]["messages"][2]


def test_openrouter_mistral_tool_call_with_provider_fields(loopback):
    """test_openrouter_tool_calling.json: 9-character id, `provider`, `native_finish_reason`, `content: ""`."""

    @tool
    def divide(numerator: float, denominator: float, on_inf: Literal["error", "infinity"] = "infinity") -> float:
        """Divide two numbers."""
        return numerator / denominator

    name = "test_openrouter_tool_calling.json"
    server = loopback([*replies(name), Reply(body=chat_completion("123 / 456 is about 0.27."))], spec="openrouter")
    model = OpenRouter("mistralai/mistral-small", api_key="sk-replay", base_url=server.url + "/v1")
    result = Agent(model, tools=[divide], settings=ModelSettings(tool_choice="auto")).run_sync("What is 123 / 456?")

    assert result.output == "123 / 456 is about 0.27."
    call_turn = result.messages[1]
    assert isinstance(call_turn, AssistantMessage)
    assert call_turn.content == ""
    assert call_turn.tool_calls[0].id == "3sniiMddS"
    assert call_turn.provider_details == {"provider": "Mistral", "native_finish_reason": "tool_calls"}
    tool_result = result.messages[2]
    assert isinstance(tool_result, ToolMessage) and not tool_result.is_error
    assert float(tool_result.content) == pytest.approx(123 / 456)

    ours, theirs = server.bodies("/chat/completions"), recorded_requests(name)
    assert _roles(ours[0]) == _roles(theirs[0])
    mine, recorded = ours[0]["tools"][0]["function"], theirs[0]["tools"][0]["function"]
    assert mine["name"] == recorded["name"] and mine["description"] == recorded["description"]
    assert mine["parameters"]["properties"] == recorded["parameters"]["properties"]
    assert mine["parameters"]["required"] == recorded["parameters"]["required"]
    assert ours[1]["messages"][-1] == {"role": "tool", "tool_call_id": "3sniiMddS", "content": tool_result.content}


def test_mistral_tools_plus_output_tool(loopback):
    """test_tool_choice_matrix_tools_plus_output-mistral.json: calls without `type`, then final_result."""

    class CityInfo(BaseModel):
        city: str
        summary: str

    @tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return "Sunny, 22C in Paris"

    name = "test_tool_choice_matrix_tools_plus_output-mistral.json"
    server = loopback(replies(name), spec="mistral")
    agent = Agent(
        Mistral("mistral-large-latest", api_key="sk-replay", base_url=server.url + "/v1"),
        tools=[get_weather],
        output_type=CityInfo,
        output_mode="tool",
        output_strict=False,
        settings=ModelSettings(tool_choice="required", top_p=1.0),
    )
    result = agent.run_sync("Get weather for Paris and summarize")

    assert result.output.city == "Paris"
    assert result.output.summary.startswith("The current weather in Paris is sunny")
    assert result.usage.details == {"cached_tokens": 151 + 174}

    ours, theirs = server.bodies("/chat/completions"), recorded_requests(name)
    assert [_roles(b) for b in ours] == [_roles(b) for b in theirs]
    assert [t["function"]["name"] for t in ours[0]["tools"]] == [t["function"]["name"] for t in theirs[0]["tools"]]
    assert (
        ours[0]["tools"][1]["function"]["parameters"]["properties"]
        == theirs[0]["tools"][1]["function"]["parameters"]["properties"]
    )
    assert ours[0]["top_p"] == theirs[0]["top_p"]
    assert ours[0]["tool_choice"] == theirs[0]["tool_choice"] == "any"  # Mistral's spelling of "required"
    assert ours[1]["tool_choice"] == "auto"  # the forced choice was answered: back to auto
    echoed = ours[1]["messages"][1]["tool_calls"][0]
    recorded_call = theirs[1]["messages"][1]["tool_calls"][0]
    assert (echoed["id"], echoed["function"]) == (recorded_call["id"], recorded_call["function"])
    assert ours[1]["messages"][2]["tool_call_id"] == "rHU0eZiMa"
    assert ours[1]["messages"][2]["content"] == theirs[1]["messages"][2]["content"]


def test_openrouter_upstream_rate_limit_surfaces_the_real_cause(loopback, monkeypatch):
    """test_openrouter_errors_raised.json: 429 'Provider returned error' three times, cause in metadata.raw."""
    from agentkit._http.client import HTTPClient

    waits = []
    monkeypatch.setattr(HTTPClient, "backoff", lambda self, attempt, retry_after: waits.append(attempt) or 0.0)
    name = "test_openrouter_errors_raised.json"
    server = loopback(replies(name))
    agent = Agent(_model(server), instructions="Be helpful.")
    with pytest.raises(RateLimitError) as info:
        agent.run_sync("Tell me a joke.")
    err = info.value
    assert err.status == 429 and err.code == 429
    assert "Provider returned error" in err.message
    assert "temporarily rate-limited upstream" in err.message and "Google" in err.message
    assert waits == [0, 1]  # two retries after the first attempt: three requests, as recorded
    ours, theirs = server.bodies("/chat/completions"), recorded_requests(name)
    assert len(ours) == len(theirs) == 3
    assert [b["messages"] for b in ours] == [b["messages"] for b in theirs]


def test_openai_embeddings_error_is_typed(loopback):
    """TestOpenAI_test_embed_error.json: a 404 from the embeddings endpoint with OpenAI's error body."""
    from agentkit._http.client import ClientOptions, connect
    from agentkit.errors import NotFoundError

    server = loopback(replies("TestOpenAI_test_embed_error.json"), spec=None)
    http = connect("nonexistent", server.url + "/v1", "sk-replay", "openai", ClientOptions())

    async def call():
        try:
            body = recorded_requests("TestOpenAI_test_embed_error.json")[0]
            return await http.post_json("/embeddings", body)
        finally:
            await http.aclose()

    with pytest.raises(NotFoundError) as info:
        asyncio.run(call())
    assert info.value.code == "model_not_found" and info.value.type == "invalid_request_error"
    assert "The model `nonexistent` does not exist" in info.value.message
    assert len(server.requests) == 1  # a 404 is not retried


def test_openai_embeddings_base64_is_little_endian_float32(loopback):
    """TestOpenAI_test_query.json: base64 embeddings decode to 1536 little-endian float32 values."""
    import base64
    import struct

    from agentkit._http.client import ClientOptions, connect

    server = loopback(replies("TestOpenAI_test_query.json"), spec=None)
    http = connect("text-embedding-3-small", server.url + "/v1", "sk-replay", "openai", ClientOptions())

    async def call():
        try:
            return await http.post_json("/embeddings", recorded_requests("TestOpenAI_test_query.json")[0])
        finally:
            await http.aclose()

    data = asyncio.run(call())
    raw = base64.b64decode(data["data"][0]["embedding"])
    vector = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert len(vector) == 1536
    assert 0.99 < sum(v * v for v in vector) < 1.01  # OpenAI embeddings are unit length
    assert server.requests[0].json == recorded_requests("TestOpenAI_test_query.json")[0]
