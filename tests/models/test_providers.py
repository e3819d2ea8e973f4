"""Provider dialects: every body validates against that provider's official request schema."""

from __future__ import annotations

import re
import warnings

import pytest

from agentkit import ModelSettings
from agentkit.errors import MissingAPIKeyError, UserError
from agentkit.messages import AssistantMessage, SystemMessage, ToolCall, ToolMessage, UserMessage
from agentkit.models import Mistral, OpenAI, OpenRouter, infer_model
from agentkit.models.base import ModelRequest
from agentkit.models.profiles import bridge_tool_to_user, mistral_tool_call_id
from agentkit.output import OutputSchema
from agentkit.settings import MaxPrice, MistralSettings, OpenRouterSettings, Prediction, ProviderRouting, Reasoning
from tests.support.fixtures import SAMPLING, get_weather
from tests.support.specs import assert_valid_request, spec_errors

EVERYTHING = SAMPLING.merge(ModelSettings(tool_choice="required", parallel_tool_calls=False))

# A history that came from another provider: long OpenAI-style ids, and a user turn right after a tool result.
FOREIGN_HISTORY = [
    SystemMessage(content="Be brief."),
    UserMessage(content="Weather in Paris and Rome?"),
    AssistantMessage(
        content=None,
        tool_calls=[
            ToolCall(id="call_1XGyax6Ww7s0YMqhwsUUTVVA", name="get_weather", arguments='{"city": "Paris"}'),
            ToolCall(id="call_2", name="get_weather", arguments=""),
        ],
    ),
    ToolMessage(tool_call_id="call_1XGyax6Ww7s0YMqhwsUUTVVA", content="sunny"),
    ToolMessage(tool_call_id="call_2", content="rainy"),
    UserMessage(content="And tomorrow?"),
]


class Answer:
    pass


def _output():
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        sky: str

    return OutputSchema(Weather).format


def test_mistral_body_is_built_from_an_allow_list_and_validates():
    model = Mistral("mistral-large-latest", api_key="k")
    settings = EVERYTHING.merge(MistralSettings(safe_prompt=True, prompt_mode="reasoning", prediction=Prediction(content="x")))
    with pytest.warns(UserWarning, match="top_k, min_p, top_a, repetition_penalty, logit_bias, logprobs, top_logprobs"):
        body = model.build_body(ModelRequest(FOREIGN_HISTORY, (get_weather.definition,), settings, _output()), stream=True)
    assert_valid_request(body, "mistral")
    assert body["random_seed"] == 42 and "seed" not in body
    assert body["max_tokens"] == 256
    assert body["tool_choice"] == "any"
    assert body["safe_prompt"] is True and body["prompt_mode"] == "reasoning"
    assert body["prediction"] == {"type": "content", "content": "x"}
    assert body["stream"] is True and "stream_options" not in body


def test_mistral_strict_settings_raise_instead_of_dropping():
    model = Mistral("mistral-small-latest", api_key="k", strict_settings=True)
    with pytest.raises(UserError, match="top_k"):
        model.build_body(ModelRequest(FOREIGN_HISTORY[:2], (), ModelSettings(top_k=5)))
    with pytest.raises(UserError, match="user"):
        model.build_body(ModelRequest(FOREIGN_HISTORY[:2], (), ModelSettings(extra_body={"user": "u"})))


def test_mistral_ids_are_mapped_consistently_and_order_is_fixed():
    body = Mistral("mistral-small-latest", api_key="k").build_body(ModelRequest(FOREIGN_HISTORY, (get_weather.definition,)))
    assert_valid_request(body, "mistral")
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "tool", "assistant", "user"]
    ids = [c["id"] for c in messages[2]["tool_calls"]]
    assert all(re.fullmatch(r"[a-zA-Z0-9]{9}", i) for i in ids)
    assert len(set(ids)) == 2
    assert [messages[3]["tool_call_id"], messages[4]["tool_call_id"]] == ids
    assert messages[5] == {"role": "assistant", "content": ""}


def test_mistral_id_mapping_is_deterministic_and_keeps_valid_ids():
    assert mistral_tool_call_id("rHU0eZiMa") == "rHU0eZiMa"
    assert mistral_tool_call_id("call_abc") == mistral_tool_call_id("call_abc")
    assert mistral_tool_call_id("call_abc") != mistral_tool_call_id("call_abd")
    assert bridge_tool_to_user([{"role": "tool"}, {"role": "tool"}, {"role": "assistant"}, {"role": "user"}]) == [
        {"role": "tool"},
        {"role": "tool"},
        {"role": "assistant"},
        {"role": "user"},
    ]


def test_mistral_prefix_messages():
    history = [UserMessage(content="Write JSON."), AssistantMessage(content="```json\n", prefix=True)]
    body = Mistral("mistral-small-latest", api_key="k").build_body(ModelRequest(history))
    assert_valid_request(body, "mistral")
    assert body["messages"][-1] == {"role": "assistant", "content": "```json\n", "prefix": True}
    # other providers never see the flag
    body = OpenRouter("openai/gpt-4o", api_key="k").build_body(ModelRequest(history))
    assert "prefix" not in body["messages"][-1]


def test_openrouter_body_with_routing_reasoning_plugins_validates():
    model = OpenRouter("mistralai/mistral-nemo", api_key="k", app_url="https://example.org", app_name="agentkit tests")
    settings = EVERYTHING.merge(
        OpenRouterSettings(
            models=["mistralai/mistral-nemo", "mistralai/mistral-small-3.2-24b-instruct"],
            provider=ProviderRouting(
                order=["mistral"],
                allow_fallbacks=False,
                require_parameters=True,
                data_collection="deny",
                zdr=True,
                quantizations=["fp8"],
                sort="price",
                max_price=MaxPrice(prompt=1, completion=2),
            ),
            reasoning=Reasoning(effort="low", exclude=True),
            plugins=[{"id": "response-healing"}],
            user="u-1",
            session_id="s-1",
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is dropped for OpenRouter
        body = model.build_body(ModelRequest(FOREIGN_HISTORY, (get_weather.definition,), settings, _output()), stream=True)
    assert_valid_request(body, "openrouter")
    for key in ("top_k", "min_p", "top_a", "repetition_penalty", "logit_bias", "logprobs", "top_logprobs", "seed"):
        assert key in body, key
    assert body["max_tokens"] == 256 and body["tool_choice"] == "required"
    assert body["provider"]["max_price"] == {"prompt": "1", "completion": "2"}
    assert body["reasoning"] == {"effort": "low", "exclude": True}
    assert model._http.headers["HTTP-Referer"] == "https://example.org"
    assert model._http.headers["X-Title"] == "agentkit tests"
    # a Mistral model behind OpenRouter keeps Mistral's id and order rules
    assert all(re.fullmatch(r"[a-zA-Z0-9]{9}", c["id"]) for c in body["messages"][2]["tool_calls"])
    assert [m["role"] for m in body["messages"]][-2:] == ["assistant", "user"]


def test_openrouter_non_mistral_models_pass_ids_through():
    body = OpenRouter("openai/gpt-4o-mini", api_key="k").build_body(ModelRequest(FOREIGN_HISTORY))
    assert body["messages"][2]["tool_calls"][0]["id"] == "call_1XGyax6Ww7s0YMqhwsUUTVVA"
    assert [m["role"] for m in body["messages"]][-2:] == ["tool", "user"]
    assert_valid_request(body, "openrouter")


def test_openai_body_validates():
    with pytest.warns(UserWarning):
        body = OpenAI("gpt-4o", api_key="k").build_body(
            ModelRequest(FOREIGN_HISTORY, (get_weather.definition,), EVERYTHING, _output())
        )
    assert_valid_request(body, "openai")
    assert body["max_completion_tokens"] == 256


def test_the_mistral_spec_rejects_what_we_avoid():
    # the check is real: an unknown field or a `seed` is an error in Mistral's schema
    assert spec_errors({"model": "m", "messages": [{"role": "user", "content": "x"}], "seed": 1}, "mistral")
    assert spec_errors({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream_options": {}}, "mistral")


@pytest.mark.parametrize(
    ("string", "env_var", "cls"),
    [
        ("openrouter:mistralai/mistral-nemo", "OPENROUTER_API_KEY", OpenRouter),
        ("mistral:mistral-large-latest", "MISTRAL_API_KEY", Mistral),
        ("openai:gpt-4o-mini", "OPENAI_API_KEY", OpenAI),
    ],
)
async def test_model_strings_and_environment(monkeypatch, loopback, string, env_var, cls):
    prefix = env_var.removesuffix("_API_KEY")
    server = loopback([], spec=None)
    monkeypatch.setenv(f"{prefix}_BASE_URL", server.url)
    keyless = infer_model(string)  # no key yet: built anyway, the key is checked at the first request
    assert isinstance(keyless, cls)
    with pytest.raises(MissingAPIKeyError, match=env_var) as info:
        await keyless.request(ModelRequest([UserMessage(content="hi")]))
    assert info.value.env_var == env_var
    with pytest.raises(MissingAPIKeyError, match=env_var):
        async for _ in keyless.stream(ModelRequest([UserMessage(content="hi")])):
            pass
    assert server.requests == []  # refused before anything was sent
    monkeypatch.setenv(env_var, "secret-key-value")
    monkeypatch.setenv(f"{prefix}_BASE_URL", "http://127.0.0.1:9/v1")
    model = infer_model(string)
    assert isinstance(model, cls)
    assert model.model_name == string.split(":", 1)[1]
    assert model.base_url == "http://127.0.0.1:9/v1"
    assert "secret-key-value" not in repr(model)


def test_openrouter_app_headers_from_environment(monkeypatch):
    monkeypatch.setenv("OPENROUTER_APP_URL", "https://app.example")
    monkeypatch.setenv("OPENROUTER_APP_NAME", "My App")
    model = OpenRouter("x/y", api_key="k")
    assert model._http.headers["HTTP-Referer"] == "https://app.example"
    assert model._http.headers["X-Title"] == "My App"


def test_provider_settings_merge_and_reject_typos():
    merged = ModelSettings(temperature=0.1).merge(OpenRouterSettings(models=["a/b"]))
    assert isinstance(merged, OpenRouterSettings) and merged.temperature == 0.1 and merged.models == ["a/b"]
    with pytest.raises(TypeError):
        OpenRouterSettings(models=["a"]).merge(MistralSettings(safe_prompt=True))
    with pytest.raises(ValueError):
        ProviderRouting(sort="cheapest")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        OpenRouterSettings(provider={"odrer": ["x"]})  # type: ignore[arg-type]
    assert "Bearer" not in repr(ModelSettings(extra_headers={"Authorization": "Bearer sk-1"}))


def test_openai_drops_fields_it_does_not_document():
    """OpenRouter-only settings reaching OpenAI (e.g. through a FallbackModel) are dropped, not sent."""
    settings = OpenRouterSettings(models=["a/b"], provider=ProviderRouting(sort="price"), temperature=0.1)
    with pytest.warns(UserWarning, match="models, provider"):
        body = OpenAI("gpt-4o", api_key="k").build_body(ModelRequest(FOREIGN_HISTORY[:2], (), settings))
    assert "models" not in body and "provider" not in body and body["temperature"] == 0.1
    assert_valid_request(body, "openai")
