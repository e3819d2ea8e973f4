"""What runs cost: provider-reported cost, price tables, user prices, sums, and max_cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit import Agent, UsageLimitExceeded, UsageLimits, pricing, set_price
from agentkit.models import OpenAICompatible, OpenRouter
from tests.support.server import Reply, call, chat_completion

KEY = "sk-cost-test"


@pytest.fixture(autouse=True)
def _clean_prices(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTKIT_CACHE_DIR", str(tmp_path / "cache"))
    pricing.forget_fetched()
    yield
    pricing._user.clear()
    pricing.forget_fetched()


def usage(prompt: int, completion: int, **extra):
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion, **extra}


async def test_openrouter_reported_cost_is_summed_over_turns(loopback):
    server = loopback(
        [
            Reply(body=chat_completion(tool_calls=[call("add", {"a": 1, "b": 2})], usage=usage(100, 10, cost=0.0015))),
            Reply(body=chat_completion("3", usage=usage(120, 5, cost=0.0025))),
        ],
        spec="openrouter",
    )

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    agent = Agent(OpenRouter("mistralai/mistral-nemo", api_key=KEY, base_url=server.url + "/v1"), tools=[add])

    result = await agent.run("1+2?")
    assert result.usage.cost == pytest.approx(0.004)  # what the provider said, not the price table's
    assert "usage" not in server.requests[0].json  # OpenRouter always reports the cost: nothing to ask for


async def test_price_table_cost_when_the_provider_reports_none(loopback):
    server = loopback([Reply(body=chat_completion("hi", usage=usage(2_000_000, 1_000_000)))])
    model = OpenAICompatible("mistral-large-2512", base_url=server.url + "/v1")
    result = await Agent(model).run("hello")
    assert result.usage.cost == pytest.approx(2 * 0.50 + 1 * 1.50)
    nemo = pricing.price_of("mistralai/mistral-nemo")
    assert nemo == pricing.Price(0.02, 0.03)
    assert pricing.price_of("open-mistral-nemo") == nemo


async def test_unknown_model_has_no_cost_and_a_user_price_sets_one(loopback):
    server = loopback([Reply(body=chat_completion("a", usage=usage(1000, 1000)))] * 2)
    model = OpenAICompatible("my-local-model", base_url=server.url + "/v1")
    assert (await Agent(model).run("x")).usage.cost is None  # unknown, not free
    set_price("my-local-model", input=1.0, output=2.0)
    assert (await Agent(model).run("x")).usage.cost == pytest.approx(0.003)


def test_a_user_price_wins_and_bad_prices_are_refused():
    set_price("mistral-large-2512", input=1, output=1)
    assert pricing.price_of("mistral-large-2512") == pricing.Price(1.0, 1.0)
    with pytest.raises(Exception, match="non-negative"):
        set_price("x", input=-1)


async def test_set_price_on_the_string_an_agent_is_built_from(loopback):
    """``set_price("openrouter:vendor/model")`` (the string given to Agent) prices that provider's model
    (before: the key never matched the model's name, and the cost stayed unknown)."""
    server = loopback([Reply(body=chat_completion("a", usage=usage(1000, 1000)))] * 2, spec="openrouter")
    model = OpenRouter("vendor/house-model", api_key=KEY, base_url=server.url + "/v1")
    set_price("openrouter:vendor/house-model", input=1.0, output=2.0)
    assert pricing.price_for(model, fetch=False) == pricing.Price(1.0, 2.0)
    assert pricing.price_for(OpenAICompatible("vendor/house-model", base_url=server.url + "/v1"), fetch=False) is None
    assert (await Agent(model).run("x")).usage.cost == pytest.approx(0.003)


async def test_sub_agent_cost_counts_in_the_parent(loopback):
    server = loopback(
        [
            Reply(body=chat_completion(tool_calls=[call("helper", {"input": "go"})], usage=usage(1_000_000, 0))),
            Reply(body=chat_completion("sub done", usage=usage(0, 1_000_000))),
            Reply(body=chat_completion("all done", usage=usage(1_000_000, 0))),
        ]
    )
    model = OpenAICompatible("mistral-large-2512", base_url=server.url + "/v1")
    helper = Agent(model, name="helper")
    lead = Agent(model, tools=[helper.as_tool("helper", "helps")])
    result = await lead.run("start")
    assert result.usage.cost == pytest.approx(0.50 + 1.50 + 0.50)


async def test_max_cost_stops_the_run_before_the_request_that_would_cross_it(loopback):
    answer = chat_completion(tool_calls=[call("step", {})], usage=usage(1_000_000, 0))  # $0.50 each
    server = loopback([Reply(body=answer)] * 5)

    def step() -> str:
        """One step."""
        return "ok"

    agent = Agent(OpenAICompatible("mistral-large-2512", base_url=server.url + "/v1"), tools=[step])

    with pytest.raises(UsageLimitExceeded, match="max cost") as caught:
        await agent.run("go", usage_limits=UsageLimits(max_cost=1.2))
    assert len(server.requests) == 2  # $1.00 spent; the third (~$1.50 with its estimate) never sent
    assert caught.value.usage is not None and caught.value.usage.cost == pytest.approx(1.0)


async def test_max_cost_counts_the_estimate_of_the_first_request(loopback):
    server = loopback([Reply(body=chat_completion("x"))])
    agent = Agent(OpenAICompatible("mistral-large-2512", base_url=server.url + "/v1"))
    with pytest.raises(UsageLimitExceeded, match="max cost"):
        await agent.run("y" * 40_000, usage_limits=UsageLimits(max_cost=0.001))  # ~11k tokens ≈ $0.006
    assert server.requests == []


def test_next_request_cost_uses_max_tokens_or_the_mean_answer():
    from agentkit.messages import UserMessage
    from agentkit.usage import Usage

    model = OpenAICompatible("mistral-large-2512", base_url="http://127.0.0.1:9/v1")
    messages = [UserMessage(content="hello")]
    base = pricing.next_request_cost(model, messages, (), None, Usage())
    assert base == pytest.approx((model.token_counter.estimate(messages) * 0.5 + 256 * 1.5) / 1e6)
    capped = pricing.next_request_cost(model, messages, (), 10, Usage())
    assert capped < base
    mean = pricing.next_request_cost(model, messages, (), None, Usage(completion_tokens=1000, requests=2))
    assert mean == pytest.approx((model.token_counter.estimate(messages) * 0.5 + 500 * 1.5) / 1e6)


# --- OpenRouter's /models prices -----------------------------------------------------------

# the OpenRouter spec's ModelsListResponse example, plus two models
MODELS_BODY = (Path(__file__).parent / "data" / "openrouter_models.json").read_text()
SMALL = "mistralai/mistral-small-3.2-24b-instruct"  # $0.10/M in, $0.30/M out in that body


def models_server(loopback):
    def handle(request):
        if request.method == "GET" and request.path.endswith("/models"):
            return Reply(body=MODELS_BODY, content_type="application/json")
        return Reply(body=chat_completion("ok", usage=usage(1_000_000, 1_000_000)))  # no cost reported

    return loopback(handle, spec="openrouter")


def gets(server):
    return [r for r in server.requests if r.method == "GET"]


async def test_openrouter_prices_are_fetched_once_and_cached_on_disk(loopback, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    server = models_server(loopback)
    model = OpenRouter(SMALL, base_url=server.url + "/v1")
    assert gets(server) == []  # nothing is fetched before a price is needed
    result = await Agent(model).run("hi")
    assert result.usage.cost == pytest.approx(0.10 + 0.30)
    assert len(gets(server)) == 1 and gets(server)[0].headers["authorization"] == f"Bearer {KEY}"
    assert list((tmp_path / "cache").iterdir())  # on disk

    pricing.forget_fetched()  # as in a new process: read from the disk cache, not fetched again
    await Agent(model).run("hi")
    assert len(gets(server)) == 1
    assert pricing.openrouter_prices(base_url=server.url + "/v1").get("openrouter/auto") is None  # "-1": no fixed price

    pricing.forget_fetched()  # past the expiry: fetched again
    assert pricing.openrouter_prices(base_url=server.url + "/v1", max_age=0)[SMALL] == pricing.Price(0.10, 0.30)
    assert len(gets(server)) == 2


async def test_no_key_no_fetch(loopback):
    server = models_server(loopback)
    result = await Agent(OpenRouter(SMALL, api_key=KEY, base_url=server.url + "/v1")).run("hi")
    assert result.usage.cost is None and gets(server) == []


# --- streaming and re-asks -----------------------------------------------------------------


async def test_a_streamed_run_has_the_reported_cost_or_the_priced_one(loopback):
    from tests.support.sse import sse, text_stream

    reported = text_stream("Hel", "lo", usage=usage(100, 2, cost=0.01))
    priced = text_stream("Hi", usage=usage(1_000_000, 0))
    kind = "text/event-stream"
    server = loopback([Reply(chunks=[sse(reported)], content_type=kind), Reply(chunks=[sse(priced)], content_type=kind)])
    for name, expected in (("mistralai/mistral-nemo", 0.01), ("mistralai/mistral-large-2512", 0.50)):
        agent = Agent(OpenAICompatible(name, base_url=server.url + "/v1"))
        async with agent.run_stream("hi") as stream:
            async for _ in stream:
                pass
        assert stream.result is not None and stream.result.usage.cost == pytest.approx(expected)


async def test_a_re_asked_answer_is_paid_for_too(loopback):
    from pydantic import BaseModel

    class City(BaseModel):
        name: str

    server = loopback(
        [
            Reply(body=chat_completion("not json", usage=usage(1_000_000, 0))),
            Reply(body=chat_completion('{"name": "Paris"}', usage=usage(1_000_000, 0))),
        ]
    )
    agent = Agent(OpenAICompatible("mistral-large-2512", base_url=server.url + "/v1"), output_type=City)
    result = await agent.run("capital of France?")
    assert result.output.name == "Paris" and result.usage.requests == 2 and result.usage.cost == pytest.approx(1.0)


async def test_max_cost_counts_what_sub_agents_spent(loopback):
    server = loopback(
        [
            Reply(body=chat_completion(tool_calls=[call("helper", {"input": "go"})], usage=usage(1_000_000, 0))),
            Reply(body=chat_completion("never sent")),
        ]
    )
    model = OpenAICompatible("mistral-large-2512", base_url=server.url + "/v1")
    lead = Agent(model, tools=[Agent(model, name="helper").as_tool("helper", "helps")])
    with pytest.raises(UsageLimitExceeded, match="max cost"):
        await lead.run("start", usage_limits=UsageLimits(max_cost=0.8))  # $0.50 spent + the helper's ~$0.50
    assert len(server.requests) == 1


def test_a_failed_price_fetch_is_not_retried_at_once(loopback, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    server = loopback(lambda request: Reply(status=500, body={"error": {"code": 500, "message": "down"}}), spec=None)
    url = server.url + "/v1"
    assert pricing.price_of(SMALL, base_url=url) is None
    assert pricing.price_of(SMALL, base_url=url) is None
    assert len(gets(server)) == 1
    assert pricing.price_of("mistralai/mistral-large-2512", base_url=url) == pricing.Price(0.50, 1.50)  # built in: no fetch
    assert len(gets(server)) == 1


async def test_a_fallback_answer_is_priced_at_the_model_that_answered(loopback):
    from agentkit.models import FallbackModel

    down = loopback([Reply(status=503, body={"error": {"message": "down"}})] * 5)
    up = loopback([Reply(body=chat_completion("hi", usage=usage(1_000_000, 0)))])
    first = OpenAICompatible("mistral-large-2512", base_url=down.url + "/v1", max_retries=0)
    second = OpenAICompatible("mistral-nemo", base_url=up.url + "/v1")
    result = await Agent(FallbackModel(first, second)).run("hi")
    assert result.usage.cost == pytest.approx(0.02)  # Nemo's price, not Large's
