"""Context lengths of HTTP models: known for the seed models, settable for any; a request that cannot
fit fails early with ContextLengthExceeded (the loopback server receives nothing), a request that
can is sent, and fit_context trims a run's history so that it is."""

from __future__ import annotations

import pytest

from agentkit import Agent, ModelSettings
from agentkit.errors import AllModelsFailed, BadRequestError, ContextLengthExceeded
from agentkit.history import TokenCounter, fit_context
from agentkit.messages import AssistantMessage, Message, SystemMessage, UserMessage
from agentkit.models import FallbackModel, Mistral, ModelRequest, OpenAICompatible, OpenRouter, OpenRouterResponses, infer_model
from tests.support.server import Reply, chat_completion

OK = Reply(body=chat_completion("fine"))


def long_history(turns: int, size: int = 2000) -> list[Message]:
    out: list[Message] = [SystemMessage(content="Be brief.")]
    for i in range(turns):
        out += [UserMessage(content=f"question {i} " + "lorem ipsum " * (size // 12)), AssistantMessage(content="answer " * 50)]
    return out


def test_the_seed_models_know_their_context_length():
    assert OpenRouter("mistralai/mistral-nemo", api_key="k").context_length == 131_072
    assert OpenRouter("mistralai/mistral-large-2512", api_key="k").context_length == 262_144
    assert Mistral("mistral-large-latest", api_key="k").context_length == 262_144
    assert Mistral("open-mistral-nemo", api_key="k").context_length == 131_072
    assert infer_model("openrouter:mistralai/mistral-nemo").context_length == 131_072
    assert OpenRouterResponses("mistralai/mistral-large-2512", api_key="k").context_length == 262_144
    assert OpenAICompatible("llama", base_url="http://127.0.0.1:1/v1").context_length is None
    assert OpenAICompatible("llama", base_url="http://127.0.0.1:1/v1", context_length=8192).context_length == 8192
    assert Mistral("open-mistral-nemo", api_key="k", context_length=1000).context_length == 1000


async def test_a_request_over_the_context_length_fails_before_anything_is_sent(loopback):
    server = loopback([OK])
    model = OpenAICompatible("small", base_url=server.url, api_key="sk-0000", context_length=2000)
    request = ModelRequest(long_history(4), settings=ModelSettings(max_tokens=500))
    with pytest.raises(ContextLengthExceeded) as caught:
        await model.request(request)
    error = caught.value
    assert isinstance(error, BadRequestError) and error.status is None
    assert error.limit == 2000 and error.max_tokens == 500 and error.estimate > 2000
    assert "context length is 2,000" in str(error) and "fit_context" in str(error) and "not sent" in str(error)
    with pytest.raises(ContextLengthExceeded):
        async for _ in model.stream(request):
            pass
    assert server.requests == []
    await model.aclose()


async def test_the_responses_client_checks_too(loopback):
    server = loopback([OK], spec=None)
    model = OpenRouterResponses("m", api_key="sk-0000", base_url=server.url, context_length=1000)
    with pytest.raises(ContextLengthExceeded):
        await model.request(ModelRequest(long_history(3)))
    assert server.requests == []
    await model.aclose()


async def test_a_request_that_may_fit_is_sent(loopback):
    server = loopback([OK, OK])
    model = OpenAICompatible("small", base_url=server.url, api_key="sk-0000", context_length=2000)
    messages = long_history(2)
    estimate = TokenCounter().estimate(messages)
    assert 1200 < estimate < 2000 < sum(len(m.content or "") for m in messages)  # past the quick bound, under the limit
    assert (await model.request(ModelRequest(messages))).message.content == "fine"
    # over the limit by less than the uncalibrated estimate's error: the provider decides
    model.context_length = int(estimate * 0.8)
    assert (await model.request(ModelRequest(messages))).message.content == "fine"
    assert len(server.requests) == 2
    await model.aclose()


async def test_far_below_the_limit_the_check_does_not_estimate(loopback, monkeypatch):
    server = loopback([OK])
    model = OpenRouter("mistralai/mistral-nemo", api_key="sk-0000", base_url=server.url)

    def no_estimate(*args, **kwargs):
        raise AssertionError("estimated a request far below the limit")

    monkeypatch.setattr(model.token_counter, "estimate", no_estimate)
    assert (await model.request(ModelRequest(long_history(20)))).message.content == "fine"
    await model.aclose()


async def test_a_fallback_model_moves_on_to_a_longer_context(loopback):
    short_server, long_server = loopback([OK]), loopback([OK])
    short = OpenAICompatible("short", base_url=short_server.url, api_key="sk-0000", context_length=1000)
    longer = OpenAICompatible("long", base_url=long_server.url, api_key="sk-0000", context_length=100_000)
    response = await FallbackModel(short, longer).request(ModelRequest(long_history(4)))
    assert response.message.content == "fine" and response.model_name == "loopback-model"
    assert short_server.requests == [] and len(long_server.requests) == 1
    with pytest.raises(AllModelsFailed):
        await FallbackModel(short).request(ModelRequest(long_history(4)))
    await short.aclose()
    await longer.aclose()


async def test_fit_context_trims_a_run_so_that_its_request_is_sent(loopback):
    usage = {"prompt_tokens": 1500, "completion_tokens": 5, "total_tokens": 1505}
    server = loopback([Reply(body=chat_completion("one", usage=usage)), Reply(body=chat_completion("two", usage=usage))])
    model = OpenAICompatible("small", base_url=server.url, api_key="sk-0000", context_length=3000)
    unfit = Agent(model)
    with pytest.raises(ContextLengthExceeded):
        await unfit.run("and now?", messages=long_history(12))
    assert server.requests == []

    agent = Agent(model, history_processors=[fit_context()], settings=ModelSettings(max_tokens=300))
    result = await agent.run("and now?", messages=long_history(12))
    assert result.output == "one" and len(result.messages) == 1 + 24 + 2  # stored: everything
    sent = server.requests[0].json["messages"]
    assert sent[0]["content"] == "Be brief." and sent[1]["content"].startswith("question 0") and sent[-1]["content"] == "and now?"
    assert len(sent) < 1 + 24 + 1
    assert TokenCounter().estimate(_neutral(sent)) <= 3000 - 300
    await model.aclose()


def _neutral(wire: list[dict]) -> list[Message]:
    roles = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    return [roles[m["role"]](content=m["content"]) for m in wire]
