"""The whole loop over real HTTP: a loopback server speaking chat completions."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Literal

import pytest
from pydantic import BaseModel

from agentkit import Agent, MaxTurnsExceeded, ModelRetry, ModelSettings, OutputValidationError, RunContext, ToolRetriesExceeded, tool
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
    server = loopback([
        Reply(body=chat_completion(None, [call("get_weather", {"city": "Paris"}, "call_a")])),
        Reply(body=chat_completion("It is sunny in Paris.", usage={"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37})),
    ])
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
