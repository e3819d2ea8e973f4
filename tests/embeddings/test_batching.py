"""Many inputs: split within the provider's limits, bounded concurrency, order kept, failures named."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit.embeddings import BatchLimits, Embedder
from agentkit.embeddings.batching import approx_tokens, plan_batches, run_batches
from agentkit.errors import BadRequestError, ProviderUnavailableError
from tests.embeddings.conftest import KEY, EmbeddingsAPI, fake_vector
from tests.support.server import Reply


def test_approx_tokens_is_an_upper_estimate():
    assert approx_tokens(["", "a", "abc", "abcd", "é" * 3, "日本語"]) == [1, 1, 1, 2, 2, 3]


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=60),
    max_inputs=st.integers(min_value=1, max_value=10),
    max_tokens=st.integers(min_value=1, max_value=300),
)
def test_plan_covers_everything_in_order_within_limits(sizes, max_inputs, max_tokens):
    texts = ["x" * n for n in sizes]
    batches = plan_batches(texts, BatchLimits(max_inputs, max_tokens))
    assert [i for b in batches for i in b] == list(range(len(texts)))
    tokens = approx_tokens(texts)
    for batch in batches:
        assert 1 <= len(batch) <= max_inputs
        if len(batch) > 1:  # a lone text may exceed the token limit
            assert sum(tokens[i] for i in batch) <= max_tokens
        if batch.stop < len(texts):  # greedy: the next text would not have fitted
            assert len(batch) == max_inputs or sum(tokens[i] for i in range(batch.start, batch.stop + 1)) > max_tokens


async def test_ten_thousand_inputs_go_out_in_batches_and_come_back_in_order(embeddings_server):
    api = EmbeddingsAPI(dim=8, shuffle=True)
    server = embeddings_server(api, "openai")  # every body is checked against OpenAI's schema: at most 2048 inputs
    texts = [f"input number {i}" for i in range(10_000)]
    emb = Embedder("openai:text-embedding-3-small", api_key=KEY, base_url=server.url, concurrency=3)
    result = await emb.embed(texts)
    assert sorted(api.batch_sizes, reverse=True) == [2048, 2048, 2048, 2048, 1808]
    assert sorted(b["input"][0] for b in server.bodies()) == sorted(texts[i] for i in range(0, 10_000, 2048))
    assert result.vectors.shape == (10_000, 8)
    np.testing.assert_allclose(result.vectors, np.stack([fake_vector(t, 8) for t in texts]), rtol=1e-6)
    assert result.usage.requests == 5 and result.usage.prompt_tokens == 3 * 10_000
    await emb.aclose()


async def test_mistral_batches_stay_under_its_token_limit(embeddings_server):
    api = EmbeddingsAPI(dim=8)
    server = embeddings_server(api, "mistral")
    texts = [f"{i:04d} " + "word " * 600 for i in range(40)]  # 3005 bytes: ~1002 tokens each by the estimate
    result = await Embedder("mistral:mistral-embed", api_key=KEY, base_url=server.url).embed(texts)
    assert sorted(api.batch_sizes) == [10, 15, 15]  # 16,000 estimated tokens a request
    assert sorted(b["input"][0][:4] for b in server.bodies()) == ["0000", "0015", "0030"]
    assert len(result) == 40


async def test_concurrency_is_bounded(embeddings_server):
    api = EmbeddingsAPI(dim=4, delay=0.05)
    server = embeddings_server(api, "openai")
    emb = Embedder("openai:m", api_key=KEY, base_url=server.url, batch_size=10, concurrency=3)
    result = await emb.embed([f"t{i}" for i in range(200)])
    assert len(api.batch_sizes) == 20 and api.max_in_flight == 3
    assert len(result) == 200 and result.usage.requests == 20


async def test_a_failing_batch_names_its_inputs_and_stops_the_rest(embeddings_server):
    def fail(body):
        return (
            Reply(400, {"error": {"message": "input too long", "type": "invalid_request_error"}})
            if "t25" in body["input"]
            else None
        )

    api = EmbeddingsAPI(dim=4, fail=fail, delay=0.02)
    server = embeddings_server(api, "openai")
    emb = Embedder("openai:m", api_key=KEY, base_url=server.url, batch_size=10, concurrency=2)
    with pytest.raises(BadRequestError) as caught:
        await emb.embed([f"t{i}" for i in range(100)])
    error = caught.value
    assert error.inputs == range(20, 30)
    assert "input too long [embedding inputs 20-29 of 100 failed; 10 requests in all]" in str(error)
    assert error.status == 400 and error.message.startswith("input too long")
    await asyncio.sleep(0.1)
    assert len(server.requests) < 10  # the batches after the failure were never sent


async def test_a_batch_is_retried_like_chat_requests(embeddings_server):
    attempts: dict[str, int] = {}

    def flaky(body):
        first = body["input"][0]
        attempts[first] = attempts.get(first, 0) + 1
        if first == "t10" and attempts[first] == 1:
            return Reply(503, {"error": {"message": "overloaded"}}, headers={"Retry-After": "0"})
        return None

    server = embeddings_server(EmbeddingsAPI(dim=4, fail=flaky), "openai")
    result = await Embedder("openai:m", api_key=KEY, base_url=server.url, batch_size=10).embed([f"t{i}" for i in range(30)])
    assert attempts == {"t0": 1, "t10": 2, "t20": 1}
    np.testing.assert_allclose(result.vectors[15], fake_vector("t15", 4), rtol=1e-6)


async def test_a_batch_that_keeps_failing_raises_after_the_retries(embeddings_server):
    down = Reply(503, {"error": {"message": "overloaded"}}, headers={"Retry-After": "0"})
    server = embeddings_server(EmbeddingsAPI(dim=4, fail=lambda body: down if "t3" in body["input"] else None), "openai")
    emb = Embedder("openai:m", api_key=KEY, base_url=server.url, batch_size=2, max_retries=2, concurrency=1)
    with pytest.raises(ProviderUnavailableError, match=r"overloaded \[embedding inputs 2-3 of 6 failed") as caught:
        await emb.embed([f"t{i}" for i in range(6)])
    assert caught.value.inputs == range(2, 4)
    assert [b["input"] for b in server.bodies()] == [["t0", "t1"]] + [["t2", "t3"]] * 3


async def test_run_batches_keeps_order_and_bounds():
    running = 0
    most = 0

    async def send(batch: range) -> list[int]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001 * (len(batch) % 3))
        running -= 1
        return list(batch)

    batches = [range(i, i + 3) for i in range(0, 60, 3)]
    assert await run_batches(batches, send, 4) == [list(b) for b in batches]
    assert most == 4
    with pytest.raises(ValueError):
        await run_batches(batches, send, 0)
