"""The Responses API client: recorded traffic replayed, bodies validated against OpenAI's CreateResponse schema."""

from __future__ import annotations

import json
import warnings

import jsonschema
import pytest
from pydantic import BaseModel
from referencing import Registry, Resource

from agentkit import Agent, ModelSettings, tool
from agentkit.errors import (
    AuthenticationError,
    BadRequestError,
    MissingAPIKeyError,
    ProviderError,
    RateLimitError,
    ResponseParseError,
    UserError,
)
from agentkit.messages import AssistantMessage, SystemMessage, ToolCall, ToolMessage, UserMessage
from agentkit.models import OpenAIResponses, OpenRouterResponses, ResponsesModel, infer_model, known_providers
from agentkit.models.base import ModelRequest
from agentkit.output import OutputSchema
from agentkit.settings import OpenRouterSettings, ProviderRouting
from tests.support.fixtures import SAMPLING
from tests.support.replay import recorded_requests, replies
from tests.support.server import Reply
from tests.support.specs import SPECS, assert_valid_request, spec_errors

KEY = "sk-responses-secret-4242"
RECORDING = "test_openai_responses_model_simple_response_with_tool_call.json"


@tool
def get_weather(city: str) -> str:
    """Get the weather.

    Args:
        city: City name.
    """
    return f"Sunny in {city}"


# -- helpers ----------------------------------------------------------------------------------


def _model(server, cls=OpenAIResponses, **kw):
    return cls("gpt-4o", api_key=KEY, base_url=server.url + "/v1", **kw)


def _offline(cls=OpenAIResponses, **kw):
    return cls("gpt-4o", api_key=KEY, base_url="http://127.0.0.1:9/v1", **kw)


def _sent(server):
    """The /responses bodies the server received, each checked against OpenAI's CreateResponse schema."""
    bodies = server.bodies("/responses")
    for body in bodies:
        assert_valid_request(body, "openai", "responses")
    return bodies


def response(*output, status="completed", usage=None, incomplete=None, **extra):
    """A Responses API answer body (``error: null`` as the real API sends it)."""
    body = {
        "id": "resp_loopback",
        "object": "response",
        "created_at": 1,
        "model": "gpt-4o-2024-08-06",
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "output": list(output),
        "usage": usage or {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
    }
    body.update(extra)
    return body


def text_item(text):
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def call_item(name, arguments, call_id="call_1"):
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"type": "function_call", "id": "fc_1", "call_id": call_id, "name": name, "arguments": text, "status": "completed"}


def _component(name):
    """A validator for one schema of OpenAI's spec."""
    document = json.loads((SPECS / "openai.json").read_text())
    registry = Registry().with_resource("urn:openai", Resource.from_contents(document))
    return jsonschema.Draft202012Validator({"$ref": f"urn:openai#/components/schemas/{name}"}, registry=registry)


def _types(body):
    return [item.get("type", "message") + (f":{item['role']}" if "role" in item else "") for item in body["input"]]


# -- the recording ----------------------------------------------------------------------------


def test_replay_tool_call_then_answer(loopback):
    """function_call → function_call_output → text, as recorded from the real API (body has "error": null)."""

    @tool(strict=True)
    def get_capital(country: str) -> str:
        return "Potato City"

    server = loopback(replies(RECORDING), spec=None)
    agent = Agent(_model(server), tools=[get_capital], settings=ModelSettings(tool_choice="auto"))
    result = agent.run_sync("What is the capital of PotatoLand?")

    assert result.output == "The capital of PotatoLand is Potato City."
    assert result.model_name == "gpt-4o-2024-08-06"
    usage = result.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (40 + 67, 18 + 11, 58 + 78)
    assert usage.requests == 2 and usage.tool_calls == 1
    assert usage.details == {}  # cached/reasoning tokens were all 0
    call_turn = result.messages[1]
    assert isinstance(call_turn, AssistantMessage)
    assert call_turn.tool_calls == [
        ToolCall(id="call_YfwRsW8sUxDKipwyhWTzOXCA", name="get_capital", arguments='{"country":"PotatoLand"}')
    ]

    ours, theirs = _sent(server), recorded_requests(RECORDING)
    assert [r.path for r in server.requests] == ["/v1/responses", "/v1/responses"]
    assert len(ours) == len(theirs) == 2
    for mine, recorded in zip(ours, theirs, strict=True):
        assert mine["model"] == recorded["model"]
        assert _types(mine) == _types(recorded)
        assert mine["tool_choice"] == recorded["tool_choice"] == "auto"
        assert "instructions" not in mine  # no system message in this conversation
        assert mine["store"] is False
        [t], [rt] = mine["tools"], recorded["tools"]
        assert {k: t[k] for k in ("type", "name", "parameters", "strict")} == {
            k: rt[k] for k in ("type", "name", "parameters", "strict")
        }
    assert _types(ours[1]) == ["message:user", "function_call", "function_call_output"]
    assert ours[1]["input"][0] == theirs[1]["input"][0]
    recorded_call = {k: v for k, v in theirs[1]["input"][1].items() if v is not None}
    assert ours[1]["input"][1] == recorded_call  # no item id sent back: only call_id links the result
    assert ours[1]["input"][2] == theirs[1]["input"][2]
    assert ours[1]["input"][1]["call_id"] == ours[1]["input"][2]["call_id"] == "call_YfwRsW8sUxDKipwyhWTzOXCA"


def test_error_null_is_not_an_error(loopback):
    server = loopback([Reply(body=response(text_item("ok"), error=None))], spec=None)
    assert Agent(_model(server)).run_sync("hi").output == "ok"


# -- request bodies ---------------------------------------------------------------------------

HISTORY = [
    SystemMessage(content="Be brief."),
    SystemMessage(content="Answer in English."),
    UserMessage(content="Weather in Paris and Rome?"),
    AssistantMessage(
        content="Let me look.",
        tool_calls=[
            ToolCall(id="call_paris", name="get_weather", arguments='{"city": "Paris"}'),
            ToolCall(id="3sniiMddS", name="get_weather", arguments=""),
        ],
        reasoning="They want two cities.",
        provider_details={"provider": "Mistral"},
    ),
    ToolMessage(tool_call_id="call_paris", content="sunny", name="get_weather"),
    ToolMessage(tool_call_id="3sniiMddS", content="Error: bad arguments", is_error=True),
    AssistantMessage(content="Paris is sunny."),
    SystemMessage(content="From now on, answer in French."),
    UserMessage(content="And tomorrow?"),
]


def test_every_message_kind():
    body = _offline().build_body(ModelRequest(HISTORY, (get_weather.definition,)))
    assert body["instructions"] == "Be brief.\n\nAnswer in English."
    assert body["input"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Let me look."},
        {"type": "function_call", "call_id": "call_paris", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call", "call_id": "3sniiMddS", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_paris", "output": "sunny"},
        {"type": "function_call_output", "call_id": "3sniiMddS", "output": "Error: bad arguments"},
        {"role": "assistant", "content": "Paris is sunny."},
        {"role": "system", "content": "From now on, answer in French."},
        {"role": "user", "content": "And tomorrow?"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": get_weather.definition.description,
            "parameters": get_weather.definition.parameters,
            "strict": False,  # not asked for strict: say so, since the Responses API defaults to strict
        }
    ]
    assert body["store"] is False
    assert_valid_request(body, "openai", "responses")


def test_assistant_turns_without_text():
    items = _offline().wire_input(
        [
            UserMessage(content="hi"),
            AssistantMessage(content=None, tool_calls=[ToolCall(id="c1", name="f", arguments="{}")]),
            ToolMessage(tool_call_id="c1", content="done"),
            AssistantMessage(content=None, refusal="I can't help with that."),
            AssistantMessage(content=""),
            UserMessage(content="please"),
        ]
    )
    assert items == (
        None,
        [
            {"role": "user", "content": "hi"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "done"},
            {"role": "assistant", "content": "I can't help with that."},  # the refusal keeps the turn visible
            {"role": "user", "content": "please"},
        ],
    )


def test_user_content_parts_become_input_parts():
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": "https://example.com/b.png"},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,AAAA"}},
        {"type": "input_text", "text": "already native"},
    ]
    body = _offline().build_body(ModelRequest([UserMessage(content=parts)]))
    assert body["input"][0]["content"] == [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
        {"type": "input_image", "image_url": "https://example.com/b.png", "detail": "auto"},
        {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,AAAA"},
        {"type": "input_text", "text": "already native"},
    ]
    # InputItem's oneOf matches such a message twice (EasyInputMessage and InputMessage); the spec check
    # lets the OpenAPI discriminator pick one (tests/support/specs.py), so the whole body validates
    assert not spec_errors(body, "openai", "responses")
    assert not list(_component("EasyInputMessage").iter_errors(body["input"][0]))
    assert list(_component("EasyInputMessage").iter_errors({"role": "user", "content": [{"type": "image_url"}]}))  # a chat part


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ("get_weather", {"type": "function", "name": "get_weather"}),
    ],
)
def test_tool_choice(choice, wire):
    settings = ModelSettings(tool_choice=choice, parallel_tool_calls=False)
    body = _offline().build_body(ModelRequest([UserMessage(content="hi")], (get_weather.definition,), settings))
    assert body["tool_choice"] == wire
    assert body["parallel_tool_calls"] is False
    assert_valid_request(body, "openai", "responses")


def test_tool_fields_are_not_sent_without_tools():
    settings = ModelSettings(tool_choice="auto", parallel_tool_calls=True)
    body = _offline().build_body(ModelRequest([UserMessage(content="hi")], (), settings))
    assert "tools" not in body and "tool_choice" not in body and "parallel_tool_calls" not in body


def test_strict_tools_and_wire_tools_built_once():
    @tool(strict=True)
    def lookup(query: str, limit: int = 3) -> str:
        return query

    model = _offline()
    tools = (lookup.definition, get_weather.definition)
    first = model.build_body(ModelRequest([UserMessage(content="hi")], tools))["tools"]
    assert [t["strict"] for t in first] == [True, False]
    assert "description" not in first[0]  # no docstring: left out rather than sent empty
    assert first[0]["parameters"] == lookup.definition.parameters
    again = model.build_body(ModelRequest([UserMessage(content="hi")], tools))["tools"]
    assert again is first


def test_structured_output_format():
    class Weather(BaseModel):
        """A weather report."""

        city: str
        sky: str

    output = OutputSchema(Weather).format
    body = _offline().build_body(ModelRequest([UserMessage(content="hi")], output=output))
    assert body["text"] == {
        "format": {
            "type": "json_schema",
            "name": "Weather",
            "schema": output.schema,
            "strict": True,
            "description": "A weather report.",
        }
    }
    assert "response_format" not in body
    assert_valid_request(body, "openai", "responses")


EVERYTHING = SAMPLING


def test_settings_openai_accepts_and_drops_the_rest():
    with pytest.warns(UserWarning) as caught:
        body = _offline().build_body(ModelRequest([UserMessage(content="hi")], settings=EVERYTHING))
    assert {k: body[k] for k in ("temperature", "top_p", "top_logprobs", "max_output_tokens")} == {
        "temperature": 0.3,
        "top_p": 0.9,
        "top_logprobs": 3,
        "max_output_tokens": 256,
    }
    dropped = ["top_k", "min_p", "top_a", "repetition_penalty", "frequency_penalty", "presence_penalty", "seed", "stop"]
    for key in [*dropped, "logit_bias", "logprobs", "max_tokens"]:
        assert key not in body
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("openai (Responses API) does not accept top_k, min_p")
    assert all(key in message for key in [*dropped, "logit_bias", "logprobs"])
    assert_valid_request(body, "openai", "responses")


def test_strict_settings_raise():
    model = _offline(strict_settings=True)
    with pytest.raises(UserError, match="does not accept stop, seed"):
        model.build_body(ModelRequest([UserMessage(content="hi")], settings=ModelSettings(seed=1, stop="x")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        body = model.build_body(ModelRequest([UserMessage(content="hi")], settings=ModelSettings(temperature=0)))
    assert body["temperature"] == 0


def test_openrouter_settings():
    settings = OpenRouterSettings(
        top_k=40,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        seed=3,
        models=["openai/gpt-4o", "openai/gpt-4o-mini"],
        provider=ProviderRouting(sort="price"),
        max_tokens=100,
    )
    with pytest.warns(UserWarning, match=r"openrouter \(Responses API\) does not accept seed"):
        body = _offline(OpenRouterResponses).build_body(ModelRequest([UserMessage(content="hi")], settings=settings))
    assert body["top_k"] == 40 and body["frequency_penalty"] == 0.5 and body["presence_penalty"] == -0.5
    assert body["models"] == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert body["provider"] == {"sort": "price"}
    assert body["max_output_tokens"] == 100
    assert "seed" not in body
    assert "store" not in body  # OpenRouter's Responses API is stateless anyway


def test_extra_body_is_merged_last():
    settings = ModelSettings(temperature=0.1, extra_body={"store": True, "temperature": 0.7, "reasoning": {"effort": "low"}})
    body = _offline().build_body(ModelRequest([UserMessage(content="hi")], settings=settings))
    assert body["store"] is True and body["temperature"] == 0.7 and body["reasoning"] == {"effort": "low"}
    assert_valid_request(body, "openai", "responses")


def test_generic_server_gets_every_setting():
    model = ResponsesModel("qwen", base_url="http://127.0.0.1:9/v1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        body = model.build_body(ModelRequest([UserMessage(content="hi")], settings=ModelSettings(seed=1, top_k=5, max_tokens=64)))
    assert (body["seed"], body["top_k"], body["max_output_tokens"]) == (1, 5, 64)
    assert "store" not in body
    assert model.provider == "openai-compatible"


# -- response parsing -------------------------------------------------------------------------


def test_parse_text_refusal_reasoning_calls_and_usage():
    data = response(
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "Think A."}, {"type": "summary_text", "text": "Think B."}],
        },
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [
                {"type": "output_text", "text": "Hello, ", "annotations": []},
                {"type": "output_text", "text": "world.", "annotations": []},
                {"type": "refusal", "refusal": "Not that part."},
            ],
        },
        call_item("get_weather", {"city": "Paris"}, "call_a"),
        call_item("get_weather", "", "call_b"),
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        usage={
            "input_tokens": 100,
            "input_tokens_details": {"cached_tokens": 64},
            "output_tokens": 50,
            "output_tokens_details": {"reasoning_tokens": 32},
            "total_tokens": 150,
            "cost": 0.0012,
        },
    )
    parsed = _offline().parse_response(data)
    message = parsed.message
    assert message.content == "Hello, world."
    assert message.refusal == "Not that part."
    assert message.reasoning == "Think A.\n\nThink B."
    assert message.tool_calls == [
        ToolCall(id="call_a", name="get_weather", arguments='{"city": "Paris"}'),
        ToolCall(id="call_b", name="get_weather", arguments=""),
    ]
    assert parsed.finish_reason == "tool_calls"
    assert parsed.response_id == "resp_loopback" and parsed.model_name == "gpt-4o-2024-08-06"
    usage = parsed.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.requests) == (100, 50, 150, 1)
    assert usage.details == {"cached_tokens": 64, "reasoning_tokens": 32}
    assert usage.cost == pytest.approx(0.0012)


def test_parse_reasoning_content_without_summary():
    item = {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "raw"}]}
    assert _offline().parse_response(response(item, text_item("x"))).message.reasoning == "raw"


@pytest.mark.parametrize(
    ("status", "incomplete", "finish"),
    [
        ("completed", None, "stop"),
        ("incomplete", {"reason": "max_output_tokens"}, "length"),
        ("incomplete", {"reason": "content_filter"}, "content_filter"),
        ("incomplete", None, "incomplete"),
        ("cancelled", None, "cancelled"),
    ],
)
def test_finish_reason(status, incomplete, finish):
    parsed = _offline().parse_response(response(text_item("partial"), status=status, incomplete=incomplete))
    assert parsed.finish_reason == finish
    assert parsed.message.content == "partial"


def test_empty_output_and_missing_usage():
    data = response(status="incomplete", incomplete={"reason": "max_output_tokens"})
    del data["usage"]
    parsed = _offline().parse_response(data)
    assert parsed.message.content is None and parsed.message.tool_calls == []
    assert parsed.usage.requests == 1 and parsed.usage.total_tokens == 0


def test_a_body_without_output_is_a_clear_error():
    with pytest.raises(ResponseParseError, match="no output list"):
        _offline().parse_response({"id": "x", "choices": []})


# -- over the loopback server -----------------------------------------------------------------


class City(BaseModel):
    city: str
    country: str


def test_structured_output_first_answer(loopback):
    server = loopback([Reply(body=response(text_item('{"city": "Mexico City", "country": "Mexico"}')))], spec=None)
    agent = Agent(_model(server), output_type=City, instructions="Answer with JSON.")
    result = agent.run_sync("Largest city in Mexico?")
    assert result.output == City(city="Mexico City", country="Mexico")
    [body] = _sent(server)
    assert body["instructions"] == "Answer with JSON."
    assert body["text"]["format"]["type"] == "json_schema"
    assert body["text"]["format"]["name"] == "City"
    assert body["text"]["format"]["schema"]["required"] == ["city", "country"]
    assert body["input"] == [{"role": "user", "content": "Largest city in Mexico?"}]


def test_structured_output_reasks_on_invalid_json(loopback):
    server = loopback(
        [
            Reply(body=response(text_item("Mexico City, Mexico"))),
            Reply(body=response(text_item('{"city": "Mexico City", "country": "Mexico"}'))),
        ],
        spec=None,
    )
    result = Agent(_model(server), output_type=City).run_sync("Largest city in Mexico?")
    assert result.output == City(city="Mexico City", country="Mexico")
    assert result.usage.requests == 2
    first, second = _sent(server)
    assert second["input"][:2] == [
        {"role": "user", "content": "Largest city in Mexico?"},
        {"role": "assistant", "content": "Mexico City, Mexico"},
    ]
    retry = second["input"][2]
    assert retry["role"] == "user" and "not valid JSON" in retry["content"]
    assert second["text"] == first["text"]


def test_function_call_with_empty_arguments(loopback):
    @tool
    def get_user_country() -> str:
        return "Mexico"

    server = loopback(
        [
            Reply(body=response(call_item("get_user_country", "", "call_empty"))),
            Reply(body=response(text_item("You are in Mexico."))),
        ],
        spec=None,
    )
    result = Agent(_model(server), tools=[get_user_country]).run_sync("Where am I?")
    assert result.output == "You are in Mexico."
    tool_result = result.messages[2]
    assert isinstance(tool_result, ToolMessage) and not tool_result.is_error and tool_result.content == "Mexico"
    _, second = _sent(server)
    assert second["input"][1:] == [
        {"type": "function_call", "call_id": "call_empty", "name": "get_user_country", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_empty", "output": "Mexico"},
    ]


def test_conversation_continues_with_the_whole_history(loopback):
    server = loopback(
        [
            Reply(body=response(call_item("get_weather", {"city": "Paris"}, "call_p"))),
            Reply(body=response(text_item("Sunny in Paris."))),
            Reply(body=response(text_item("Still sunny."))),
        ],
        spec=None,
    )
    agent = Agent(_model(server), tools=[get_weather], instructions="Be brief.")
    first = agent.run_sync("Weather in Paris?")
    second = agent.run_sync("And later?", messages=first.messages)
    assert second.output == "Still sunny."
    assert second.new_messages[0] == UserMessage(content="And later?")
    bodies = _sent(server)
    assert [b["instructions"] for b in bodies] == ["Be brief."] * 3
    assert _types(bodies[2]) == [
        "message:user",
        "function_call",
        "function_call_output",
        "message:assistant",
        "message:user",
    ]
    assert bodies[2]["input"][2] == {"type": "function_call_output", "call_id": "call_p", "output": "Sunny in Paris"}


def test_headers_and_extra_headers(loopback, monkeypatch):
    monkeypatch.setenv("OPENROUTER_APP_NAME", "agentkit-tests")
    server = loopback([Reply(body=response(text_item("ok")))], spec=None)
    model = _model(server, OpenRouterResponses, app_url="https://example.com", headers={"X-Custom": "1"})
    settings = ModelSettings(extra_headers={"X-Trace": "abc"})
    assert Agent(model, settings=settings).run_sync("hi").output == "ok"
    [request] = server.requests
    assert request.path == "/v1/responses"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["http-referer"] == "https://example.com"
    assert request.headers["x-title"] == "agentkit-tests"
    assert request.headers["x-custom"] == "1" and request.headers["x-trace"] == "abc"
    _sent(server)


# -- errors -----------------------------------------------------------------------------------


def test_400_error_body_becomes_bad_request(loopback):
    error = {
        "error": {
            "message": f"Invalid 'input[0].content': expected a string (key {KEY}).",
            "type": "invalid_request_error",
            "param": "input[0].content",
            "code": "invalid_value",
        }
    }
    server = loopback([Reply(400, error, headers={"x-request-id": "req_123"})], spec=None)
    with pytest.raises(BadRequestError) as info:
        Agent(_model(server)).run_sync("hi")
    err = info.value
    assert err.status == 400 and err.code == "invalid_value" and err.type == "invalid_request_error"
    assert err.provider == "openai" and err.request_id == "req_123"
    assert "Invalid 'input[0].content'" in err.message
    assert KEY not in str(err) and KEY not in repr(err) and KEY not in json.dumps(err.body)
    assert len(server.requests) == 1  # a 400 is not retried


def test_401_and_openrouter_error_shape(loopback):
    body = {"error": {"code": 401, "message": "No auth credentials found"}, "metadata": None}
    server = loopback([Reply(401, body)], spec=None)
    with pytest.raises(AuthenticationError, match="No auth credentials found") as info:
        Agent(_model(server, OpenRouterResponses)).run_sync("hi")
    assert info.value.provider == "openrouter"


def test_429_is_retried(loopback, monkeypatch):
    from agentkit._http.client import HTTPClient

    waits = []
    monkeypatch.setattr(HTTPClient, "backoff", lambda self, attempt, retry_after: waits.append(retry_after) or 0.0)
    limited = Reply(429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})
    limited.headers = {"retry-after": "2"}
    server = loopback([limited, Reply(body=response(text_item("ok")))], spec=None)
    assert Agent(_model(server)).run_sync("hi").output == "ok"
    assert waits == [2.0] and len(_sent(server)) == 2

    server = loopback([limited, limited], spec=None)
    with pytest.raises(RateLimitError, match="Rate limit reached"):
        Agent(_model(server, max_retries=1)).run_sync("hi")


def test_error_object_in_a_200_body(loopback):
    failed = response(status="failed", error={"code": "server_error", "message": "The model failed to answer."})
    server = loopback([Reply(body=failed)], spec=None)
    with pytest.raises(ProviderError, match=r"The model failed to answer\.") as info:
        Agent(_model(server)).run_sync("hi")
    assert info.value.code == "server_error"


# -- construction, keys and model strings -----------------------------------------------------


async def test_missing_keys_are_reported_at_the_first_request(monkeypatch, loopback):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    server = loopback([], spec=None)
    request = ModelRequest([UserMessage(content="hi")])
    for model, env_var in (
        (OpenAIResponses("gpt-4o", base_url=server.url), "OPENAI_API_KEY"),
        (OpenRouterResponses("openai/gpt-4o", base_url=server.url), "OPENROUTER_API_KEY"),
    ):
        with pytest.raises(MissingAPIKeyError) as info:
            await model.request(request)
        assert info.value.env_var == env_var
        with pytest.raises(MissingAPIKeyError, match=env_var):
            async for _ in model.stream(request):
                pass
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        await infer_model("openai-responses:gpt-4o").request(request)
    assert server.requests == []  # refused before anything was sent


def test_keys_and_base_urls_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-0000")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    model = OpenAIResponses("gpt-4o")
    assert model.base_url == "https://api.openai.com/v1"
    assert "sk-env-key-0000" not in repr(model)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert OpenAIResponses("gpt-4o").base_url == "http://127.0.0.1:9/v1"
    assert OpenAIResponses("gpt-4o", base_url="http://127.0.0.1:8/v1/").base_url == "http://127.0.0.1:8/v1"

    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-env-0000")
    monkeypatch.delenv("OPENROUTER_BASE_URL", raising=False)
    assert OpenRouterResponses("openai/gpt-4o").base_url == "https://openrouter.ai/api/v1"
    monkeypatch.setenv("OPENROUTER_BASE_URL", "http://127.0.0.1:7/api/v1")
    assert OpenRouterResponses("openai/gpt-4o").base_url == "http://127.0.0.1:7/api/v1"


def test_model_strings(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-0000")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-env-0000")
    assert {"openai-responses", "openrouter-responses"} <= set(known_providers())
    model = infer_model("openai-responses:gpt-4o")
    assert type(model) is OpenAIResponses and model.model_name == "gpt-4o" and model.provider == "openai"
    routed = infer_model("openrouter-responses:meta-llama/llama-3.3-70b-instruct:free")
    assert type(routed) is OpenRouterResponses
    assert routed.model_name == "meta-llama/llama-3.3-70b-instruct:free" and routed.provider == "openrouter"
    assert type(infer_model("openai:gpt-4o")).__name__ == "OpenAI"  # the chat client keeps its prefix


def test_user_mistakes_raise_at_once():
    with pytest.raises(UserError, match="model_name"):
        OpenAIResponses("", api_key=KEY)
    with pytest.raises(UserError, match="base_url"):
        ResponsesModel("m", base_url="127.0.0.1:8000/v1")
