"""Embeddings report what they cost: the provider's figure, else the price table's."""

from __future__ import annotations

import pytest

from agentkit.embeddings import Embedder
from tests.support.server import Reply

KEY = "sk-embed-cost"


def answer(cost: float | None = None) -> Reply:
    usage = {"prompt_tokens": 2_000_000, "total_tokens": 2_000_000}
    if cost is not None:
        usage["cost"] = cost
    return Reply(body={"data": [{"index": 0, "embedding": [0.1, 0.2]}], "model": "mistral-embed", "usage": usage})


async def test_embedding_cost_from_the_price_table(embeddings_server):
    server = embeddings_server([answer()], "mistral")
    result = await Embedder("mistral:mistral-embed", api_key=KEY, base_url=server.url + "/v1").embed("hello")
    assert result.usage.cost == pytest.approx(2 * 0.10)


async def test_embedding_cost_reported_by_openrouter_wins(embeddings_server):
    server = embeddings_server([answer(cost=0.123)], "openrouter")
    emb = Embedder("openrouter:mistralai/mistral-embed-2312", api_key=KEY, base_url=server.url + "/v1")
    assert (await emb.embed("hello")).usage.cost == pytest.approx(0.123)
