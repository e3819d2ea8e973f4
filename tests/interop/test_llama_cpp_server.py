"""agentkit against a real OpenAI-compatible server: llama-cpp-python 0.3.36's, run as users run it
(``python -m llama_cpp.server --chat_format chatml-function-calling``) with Gemma 3 270M.

The model is tiny (a base model, about 17 tokens/s here), so these tests assert on the protocol —
the server accepts each request, calls are parsed and executed, results go back, the run ends —
never on wording. Tool parameters are enums, so the server's grammar keeps arguments short and valid.

Known limits of that server, worked around here and not by agentkit: it answers
``tool_choice="required"`` and a streamed ``auto`` turn that picks a tool with HTTP 500, and its
chat template leaves tool results out of the prompt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from agentkit import Agent, ModelSettings, OutputValidationError, tool
from agentkit.context import RunContext
from agentkit.events import ToolCallReady, ToolCallStarted, ToolResult
from agentkit.hooks import Hooks
from agentkit.messages import AssistantMessage, ToolMessage, UserMessage, load_messages
from agentkit.models import OpenAICompatible
from agentkit.models.base import ModelRequest, ModelResponse
from tests.interop.conftest import LlamaServer

pytestmark = pytest.mark.interop

CITIES = ("Paris", "London", "Tokyo")
SETTINGS = ModelSettings(temperature=0, max_tokens=48, seed=7)


@tool
def get_weather(city: Literal["Paris", "London", "Tokyo"]) -> str:
    """Get the current weather in a city.

    Args:
        city: The city.
    """
    return f"Sunny, 22 C in {city}"


class Unit(str, Enum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Forecast(BaseModel):
    city: Literal["Paris", "London", "Tokyo"]
    unit: Unit


class Requests(Hooks):
    """Records every request a run sends; from turn ``quiet_from`` on, sends ``tool_choice=none``
    (the server cannot stream an automatic tool choice, and a tiny model may call tools forever)."""

    def __init__(self, quiet_from: int | None = None) -> None:
        self.sent: list[ModelRequest] = []
        self.answers: list[ModelResponse] = []
        self.quiet_from = quiet_from

    async def before_model_request(self, ctx: RunContext[Any], request: ModelRequest) -> ModelRequest | None:
        if self.quiet_from is not None and len(self.sent) + 1 >= self.quiet_from:
            request = replace(request, settings=request.settings.merge(ModelSettings(tool_choice="none")))
        self.sent.append(replace(request, messages=list(request.messages)))  # the loop keeps appending to its list
        return request

    async def after_model_response(self, ctx: RunContext[Any], response: ModelResponse) -> None:
        self.answers.append(response)


@pytest.fixture
async def model(llama_server: LlamaServer) -> Any:
    m = OpenAICompatible(llama_server.model, base_url=llama_server.base_url, max_retries=0, timeout=120.0)
    yield m
    await m.aclose()


def assert_weather_call(message: AssistantMessage) -> str:
    """The message calls get_weather with a valid city; returns the call's id."""
    assert len(message.tool_calls) >= 1, message
    call = message.tool_calls[0]
    assert call.name == "get_weather" and call.id
    assert json.loads(call.arguments)["city"] in CITIES
    return call.id


async def test_forced_tool_call(model: OpenAICompatible) -> None:
    request = ModelRequest(
        [UserMessage(content="What is the weather in Paris?")],
        (get_weather.definition,),
        SETTINGS.merge(ModelSettings(tool_choice="get_weather")),
    )
    response = await model.request(request)
    assert_weather_call(response.message)
    assert response.usage.prompt_tokens > 0 and response.usage.requests == 1


async def test_automatic_tool_choice_answers_with_a_call_or_text(model: OpenAICompatible) -> None:
    request = ModelRequest(
        [UserMessage(content="What is the weather in Tokyo?")],
        (get_weather.definition,),
        SETTINGS.merge(ModelSettings(tool_choice="auto")),
    )
    response = await model.request(request)
    if response.message.tool_calls:
        assert_weather_call(response.message)
    else:
        assert isinstance(response.message.content, str)


async def test_full_tool_round_trip(model: OpenAICompatible) -> None:
    """The issue: the second request of every round trip (assistant call + tool result) was a 500."""
    hooks = Requests(quiet_from=3)
    agent = Agent(model, tools=[get_weather], settings=SETTINGS.merge(ModelSettings(tool_choice="get_weather")), max_turns=3)
    result = await agent.run("What is the weather in London?", hooks=[hooks])
    assert isinstance(result.output, str)
    assert result.usage.tool_calls >= 1 and result.usage.requests == len(hooks.sent) >= 2
    second = hooks.sent[1].messages
    assert isinstance(second[-2], AssistantMessage) and isinstance(second[-1], ToolMessage)
    assert second[-1].tool_call_id == assert_weather_call(second[-2])
    assert second[-1].content.startswith("Sunny, 22 C in ")
    assert hooks.sent[1].settings.tool_choice == "auto"  # the forced choice was answered, so auto from then on


async def test_streamed_tool_call_round_trip(model: OpenAICompatible) -> None:
    hooks = Requests(quiet_from=2)
    agent = Agent(model, tools=[get_weather], settings=SETTINGS.merge(ModelSettings(tool_choice="get_weather")), max_turns=3)
    async with agent.run_stream("What is the weather in Paris?", hooks=[hooks]) as stream:
        events = [event async for event in stream]
    result = stream.result
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    ready = [e for e in events if isinstance(e, ToolCallReady)]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert started and ready and results
    assert ready[0].name == "get_weather" and ready[0].arguments["city"] in CITIES
    assert results[0].tool_call_id == ready[0].tool_call_id and not results[0].is_error
    assert isinstance(result.output, str) and len(hooks.sent) == 2  # the streamed second request was accepted


async def test_native_structured_output(model: OpenAICompatible) -> None:
    agent = Agent(model, output_type=Forecast, output_mode="native", settings=SETTINGS, output_retries=1)
    try:
        result = await agent.run("The forecast for Paris, in celsius, as JSON.")
    except OutputValidationError as e:  # allowed by the protocol; the request itself must be accepted
        assert e.raw_text is not None
    else:
        assert isinstance(result.output, Forecast)


async def test_tool_mode_structured_output(model: OpenAICompatible) -> None:
    """As an agent runs by default (no tool_choice; the server then leaves tools out): an output or a typed error."""
    hooks = Requests()
    agent = Agent(model, output_type=Forecast, output_mode="tool", settings=SETTINGS, output_retries=0)
    try:
        result = await agent.run("The forecast for Tokyo, in celsius.", hooks=[hooks])
    except OutputValidationError:
        pass  # a tiny model may answer in text: a typed error
    else:
        assert isinstance(result.output, Forecast)
    assert len(hooks.sent) == 1 and hooks.sent[0].tools[-1].name == agent.output_tool


async def test_tool_mode_structured_output_forced(model: OpenAICompatible) -> None:
    """Forcing the output tool (only a hook can: it is not an agent tool) gives a grammar-valid answer."""

    class ForceOutputTool(Hooks):
        async def before_model_request(self, ctx: RunContext[Any], request: ModelRequest) -> ModelRequest | None:
            assert agent.output_tool is not None
            return replace(request, settings=request.settings.merge(ModelSettings(tool_choice=agent.output_tool)))

    agent = Agent(model, output_type=Forecast, output_mode="tool", settings=SETTINGS, output_retries=1)
    result = await agent.run("The forecast for London, in fahrenheit.", hooks=[ForceOutputTool()])
    assert isinstance(result.output, Forecast) and result.usage.requests == 1


async def test_conversation_continued_from_saved_messages(model: OpenAICompatible) -> None:
    agent = Agent(model, tools=[get_weather], settings=SETTINGS.merge(ModelSettings(tool_choice="get_weather")), max_turns=3)
    first = await agent.run("What is the weather in Tokyo?", hooks=[Requests(quiet_from=2)])
    saved = first.messages_json()
    history = load_messages(saved)
    assert history == first.messages

    hooks = Requests()
    later = await agent.run("And in Paris?", messages=history, settings=ModelSettings(tool_choice="none"), hooks=[hooks])
    assert isinstance(later.output, str)
    sent = hooks.sent[0].messages
    assert sent[: len(history)] == history and isinstance(sent[-1], UserMessage)
    assert any(isinstance(m, ToolMessage) for m in sent) and any(isinstance(m, AssistantMessage) and m.tool_calls for m in sent)


def test_cli_run_reaches_the_server_by_base_url(llama_server: LlamaServer, tmp_path: Path) -> None:
    agent_file = tmp_path / "interop_agent.py"
    agent_file.write_text(
        "from agentkit import Agent, ModelSettings\n"
        "agent = Agent('openai:gpt-4o-mini', settings=ModelSettings(temperature=0, max_tokens=16))\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTKIT_", "OPENAI_"))}
    command = [sys.executable, "-m", "agentkit.cli", "run", str(agent_file), "Say hello.", "--json"]
    done = subprocess.run(
        [*command, "--base-url", llama_server.base_url, "-m", llama_server.model],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert isinstance(document["output"], str) and document["usage"]["requests"] == 1
    assert document["model"]  # the server's name for its model
