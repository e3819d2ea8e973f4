"""HTTPModel over the loopback server: the 429 policy as a model option and as
``Model.with_rate_limit_retries``; the API key checked at the first request, not at construction."""

from __future__ import annotations

import logging

import pytest

from agentkit import Agent
from agentkit._http.client import HTTPClient
from agentkit.errors import AllModelsFailed, MissingAPIKeyError, RateLimitError
from agentkit.messages import UserMessage
from agentkit.models import FallbackModel, Mistral, OpenAI, OpenAICompatible, OpenRouter, OpenRouterResponses
from agentkit.models.base import ModelRequest
from agentkit.testing import ScriptedModel, TestModel
from tests.support.server import Reply, chat_completion

REQUEST = ModelRequest([UserMessage(content="hi")])
SLOW_DOWN = Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0"})
OK = Reply(body=chat_completion("fine"))


@pytest.fixture(autouse=True)
def no_waits(monkeypatch):
    monkeypatch.setattr(HTTPClient, "backoff", lambda self, attempt, retry_after: 0.0)


def compatible(server, **kw):
    return OpenAICompatible("m", base_url=server.url, api_key="sk-key-0000", **kw)


# --- the 429 policy -----------------------------------------------------------------------------


async def test_a_model_built_without_429_retries_raises_at_once_while_the_default_retries(loopback):
    server = loopback([SLOW_DOWN, OK])
    assert (await compatible(server).request(REQUEST)).message.content == "fine"
    assert len(server.requests) == 2  # the default retried the 429

    server = loopback([SLOW_DOWN, OK])
    paced = compatible(server, retry_rate_limits=False, max_retries=5)
    with pytest.raises(RateLimitError):
        await paced.request(REQUEST)
    assert len(server.requests) == 1  # raised at the first 429
    await paced.aclose()


async def test_with_rate_limit_retries_is_a_twin_on_the_same_connections(loopback):
    server = loopback([OK, SLOW_DOWN, SLOW_DOWN, OK, OK])
    model = compatible(server)
    paced = model.with_rate_limit_retries(False)
    assert paced is not model and type(paced) is type(model)
    assert model.with_rate_limit_retries(True) is model and paced.with_rate_limit_retries(False) is paced
    assert (paced.model_name, paced.provider, paced.base_url, paced.profile) == (
        model.model_name,
        model.provider,
        model.base_url,
        model.profile,
    )
    assert (await paced.request(REQUEST)).message.content == "fine"
    with pytest.raises(RateLimitError):
        await paced.request(REQUEST)
    assert (await model.request(REQUEST)).message.content == "fine"  # the original still retries
    assert len(server.requests) == 4 and server.connections_used == 1
    async for _ in paced.stream(REQUEST):  # streams too, on the same pool
        break
    await model.aclose()
    assert not paced._http._senders


async def test_streams_of_a_paced_model_raise_the_first_429(loopback):
    server = loopback([SLOW_DOWN, OK])
    paced = compatible(server).with_rate_limit_retries(False)
    with pytest.raises(RateLimitError):
        async for _ in paced.stream(REQUEST):
            pass
    assert len(server.requests) == 1
    await paced.aclose()


async def test_fallback_model_maps_it_over_its_models(loopback):
    first, second = loopback([SLOW_DOWN, OK]), loopback([SLOW_DOWN, OK])
    fallback = FallbackModel(compatible(first), compatible(second), fallback_on=())
    paced = fallback.with_rate_limit_retries(False)
    assert isinstance(paced, FallbackModel) and paced is not fallback
    assert [m._http.retry_rate_limits for m in paced.models] == [False, False]  # type: ignore[attr-defined]
    assert [m._http.retry_rate_limits for m in fallback.models] == [True, True]  # type: ignore[attr-defined]
    with pytest.raises(RateLimitError):
        await paced.request(REQUEST)
    assert len(first.requests) == 1 and second.requests == []
    assert (await fallback.request(REQUEST)).message.content == "fine"  # the original retried
    offline = FallbackModel(TestModel(), ScriptedModel(["x"]))
    assert offline.with_rate_limit_retries(False) is offline  # nothing of theirs retries: itself
    await paced.aclose()


async def test_a_paced_fallback_moves_on_after_a_429(loopback):
    first, second = loopback([SLOW_DOWN]), loopback([OK])
    paced = FallbackModel(compatible(first), compatible(second)).with_rate_limit_retries(False)
    assert (await paced.request(REQUEST)).message.content == "fine"
    assert len(first.requests) == 1
    with pytest.raises(AllModelsFailed):
        await paced.request(REQUEST)  # both servers' scripts are used up now
    await paced.aclose()


def test_models_that_do_not_retry_return_themselves():
    for model in (TestModel(), ScriptedModel([])):
        assert model.with_rate_limit_retries(False) is model


# --- the key, at the first request ------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "env_var"),
    [
        (lambda url: OpenAI("gpt-4o-mini", base_url=url), "OPENAI_API_KEY"),
        (lambda url: OpenRouter("x/y", base_url=url), "OPENROUTER_API_KEY"),
        (lambda url: Mistral("mistral-small-latest", base_url=url), "MISTRAL_API_KEY"),
        (lambda url: OpenRouterResponses("x/y", base_url=url), "OPENROUTER_API_KEY"),
    ],
)
async def test_models_build_without_a_key_and_refuse_the_first_request(loopback, monkeypatch, build, env_var):
    monkeypatch.delenv(env_var, raising=False)
    server = loopback([], spec=None)
    model = build(server.url)
    with pytest.raises(MissingAPIKeyError, match=env_var):
        await model.request(REQUEST)
    with pytest.raises(MissingAPIKeyError, match=env_var):
        async for _ in model.stream(REQUEST):
            pass
    assert server.requests == [] and server.connections_accepted == 0  # no network traffic at all


async def test_an_agent_with_a_model_string_builds_without_a_key(loopback, monkeypatch, caplog):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = loopback([OK])
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    agent = Agent("openai:gpt-4o-mini")  # used to raise MissingAPIKeyError here
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        await agent.run("hi")
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        async for _ in agent.run_stream("hi"):
            pass
    assert server.requests == []
    secret = "sk-set-later-5678"
    monkeypatch.setenv("OPENAI_API_KEY", secret)  # set after the agent was built: found at the next request
    with caplog.at_level(logging.DEBUG):
        assert (await agent.run("hi")).output == "fine"
    assert server.requests[0].headers["authorization"] == f"Bearer {secret}"
    assert secret not in repr(agent.model) and secret not in caplog.text
    await agent.aclose()
