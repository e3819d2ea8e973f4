"""The chat-completions client: request bodies (validated against the OpenAI spec), response parsing, model strings."""

from __future__ import annotations

import json
import warnings

import pytest

from agentkit import Agent, ModelSettings, tool
from agentkit.errors import MissingAPIKeyError, ResponseParseError, UserError
from agentkit.messages import AssistantMessage, SystemMessage, ToolCall, ToolMessage, UserMessage
from agentkit.models import OpenAI, OpenAICompatible, infer_model
from agentkit.models.base import ModelRequest
from agentkit.output import OutputSchema
from tests.support.fixtures import SAMPLING, get_weather
from tests.support.specs import assert_valid_request, spec_errors

ALL_SETTINGS = SAMPLING.merge(ModelSettings(tool_choice="required", parallel_tool_calls=True, extra_body={"user": "user-1"}))


HISTORY = [
    SystemMessage(content="Be brief."),
    UserMessage(content="Weather in Paris?"),
    AssistantMessage(content=None, tool_calls=[ToolCall(id="call_1", name="get_weather", arguments="")]),
    ToolMessage(tool_call_id="call_1", content="sunny", name="get_weather"),
    AssistantMessage(content="Sunny."),
    UserMessage(content=[{"type": "text", "text": "And tomorrow?"}]),
]


def _compatible():
    return OpenAICompatible("m", base_url="http://127.0.0.1:9/v1")


def test_every_setting_reaches_the_body_of_a_compatible_server():
    body = _compatible().build_body(ModelRequest(HISTORY, (get_weather.definition,), ALL_SETTINGS))
    assert_valid_request(body)
    for key in (
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "top_a",
        "repetition_penalty",
        "frequency_penalty",
        "presence_penalty",
        "stop",
        "seed",
        "max_tokens",
        "logit_bias",
        "logprobs",
        "top_logprobs",
    ):
        assert body[key] == getattr(ALL_SETTINGS, key), key
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is True
    assert body["user"] == "user-1"
    assert body["messages"][2]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert body["messages"][2]["content"] == ""  # a string: llama-cpp-python fails on a missing content, rejects null


def test_openai_profile_renames_max_tokens_and_drops_what_openai_rejects():
    model = OpenAI("gpt-4o-mini", api_key="sk-x")
    with pytest.warns(UserWarning, match="top_k"):
        body = model.build_body(ModelRequest(HISTORY, (get_weather.definition,), ALL_SETTINGS))
    assert_valid_request(body)
    assert body["max_completion_tokens"] == 256 and "max_tokens" not in body
    assert not {"top_k", "min_p", "top_a", "repetition_penalty"} & set(body)
    strict = OpenAI("gpt-4o-mini", api_key="sk-x", strict_settings=True)
    with pytest.raises(UserError, match="top_k"):
        strict.build_body(ModelRequest(HISTORY, (), ModelSettings(top_k=3)))


def test_streaming_body_asks_for_usage():
    body = _compatible().build_body(ModelRequest(HISTORY[:2]), stream=True)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert_valid_request(body)


def test_response_format_and_strict_tools_validate_against_the_spec():
    from pydantic import BaseModel

    class Answer(BaseModel):
        text: str
        score: int | None = None

    strict_tool = tool(strict=True)(get_weather.function)
    output = OutputSchema(Answer)
    body = _compatible().build_body(
        ModelRequest(HISTORY, (strict_tool.definition,), ModelSettings(tool_choice="get_weather"), output.format)
    )
    assert_valid_request(body)
    assert body["tools"][0]["function"]["strict"] is True
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["response_format"]["json_schema"]["strict"] is True


def test_the_spec_check_itself_catches_bad_bodies():
    assert spec_errors({"model": "m", "messages": [{"role": "robot", "content": "x"}]})
    assert spec_errors({"model": "m", "messages": [], "tools": "nope"})


def test_wire_tools_are_built_once_per_tool_tuple():
    model = _compatible()
    tools = (get_weather.definition,)
    first = model.build_body(ModelRequest(HISTORY[:2], tools))["tools"]
    second = model.build_body(ModelRequest(HISTORY[:2], tools))["tools"]
    assert first is second


@pytest.mark.parametrize(
    ("content", "text", "reasoning"),
    [
        ("hello", "hello", None),
        ("", "", None),
        (None, None, None),
        ([{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}, {"type": "text", "text": "hi"}], "hi", "hmm"),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "ab", None),
    ],
)
def test_content_shapes(content, text, reasoning):
    data = {"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
    message = _compatible().parse_response(data).message
    assert message.content == text
    assert message.reasoning == reasoning


def test_tool_calls_in_every_shape_are_understood():
    data = {
        "model": "m",
        "choices": [
            {
                "finish_reason": "stop",  # calls are detected by presence, not finish_reason
                "message": {
                    "content": None,
                    "reasoning": "thinking...",
                    "tool_calls": [
                        {"id": "a", "function": {"name": "f", "arguments": '{"x": 1}'}},  # no type, no index
                        {"id": "b", "type": "function", "function": {"name": "f", "arguments": {"x": 2}}},  # object arguments
                        {"function": {"name": "f", "arguments": ""}},  # no id at all
                        {"id": "d", "function": {"name": "f"}},  # no arguments
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 5,
            "completion_tokens": 3,
            "total_tokens": 8,
            "cost": 0.0012,
            "prompt_tokens_details": {"cached_tokens": 2},
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
    }
    response = _compatible().parse_response(data)
    calls = response.message.tool_calls
    assert [json.loads(c.arguments or "{}") for c in calls] == [{"x": 1}, {"x": 2}, {}, {}]
    assert calls[0].id == "a" and calls[2].id.startswith("call_2_")
    assert response.message.reasoning == "thinking..."
    assert response.usage.cost == pytest.approx(0.0012)
    assert response.usage.details == {"cached_tokens": 2, "reasoning_tokens": 1}


def test_a_response_without_choices_is_a_clear_error():
    with pytest.raises(ResponseParseError, match="no choices"):
        _compatible().parse_response({"object": "chat.completion"})


async def test_model_strings(monkeypatch, loopback):
    assert infer_model("test").model_name == "test"
    server = loopback([])
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    keyless = infer_model("openai:gpt-4o-mini")  # builds without a key: it is checked at the first request
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        await keyless.request(ModelRequest([UserMessage(content="hi")]))
    assert server.requests == []  # nothing was sent
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-0000")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    model = infer_model("openai:gpt-4o-mini")
    assert isinstance(model, OpenAI) and model.model_name == "gpt-4o-mini"
    assert model.base_url == "http://127.0.0.1:9/v1"
    assert "sk-env-key-0000" not in repr(model) and "sk-env-key-0000" not in repr(vars(model))
    for bad in ("gpt-4o", "openai:", ":gpt", "nope:model", ""):
        with pytest.raises(UserError, match="provider"):
            infer_model(bad)
    with pytest.raises(UserError):
        infer_model(42)  # type: ignore[arg-type]


def test_user_mistakes_raise_at_once():
    with pytest.raises(UserError, match="base_url"):
        OpenAICompatible("m", base_url="127.0.0.1:8000")
    with pytest.raises(UserError, match="max_turns"):
        Agent("test", max_turns=0)
    with pytest.raises(UserError, match="tool_choice"):
        Agent("test", tools=[get_weather], settings=ModelSettings(tool_choice="nope"))
    with pytest.raises(UserError, match="Two tools"):
        Agent("test", tools=[get_weather, get_weather])
    with pytest.raises(ValueError):
        ModelSettings(temprature=0.2)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        ModelSettings(temperature="hot")  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Agent("test", tools=[get_weather]).run_sync("fine")
