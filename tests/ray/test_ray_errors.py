"""RayExecutor's mistakes and limits, caught on the driver before any cluster is needed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agentkit import Agent, UserError
from agentkit.models import OpenAICompatible
from agentkit.ratelimit import Limiter
from agentkit.ray import RayExecutor, RayRateLimiter


def test_an_agent_that_cannot_be_pickled_without_a_factory_says_both() -> None:
    client = httpx.AsyncClient()
    agent = Agent(OpenAICompatible("m", base_url="http://127.0.0.1:9/v1", api_key="sk-test", http_client=client))
    with pytest.raises(UserError, match=r"cannot be pickled \(TypeError: .*http_client=.*\), and no factory was given") as caught:
        RayExecutor(workers=1).source(agent)
    assert "factory='module:function'" in str(caught.value)


def test_an_ordinary_agent_is_pickled_and_a_factory_is_checked_where_it_is_given() -> None:
    kind, blob = RayExecutor().source(Agent(OpenAICompatible("m", base_url="http://127.0.0.1:9/v1", api_key="sk-test")))
    assert kind == "pickle" and isinstance(blob, bytes)
    assert RayExecutor(factory="tests.ray.agent_factory:make_agent").source(Agent("test")) == (
        "factory",
        "tests.ray.agent_factory:make_agent",
    )
    with pytest.raises(UserError, match=r"factory='tests.ray.nowhere:make'.*cannot be imported here: ModuleNotFoundError"):
        RayExecutor(factory="tests.ray.nowhere:make")
    with pytest.raises(UserError, match="'module:function'"):
        RayExecutor(factory="tests.ray.agent_factory")


@pytest.mark.parametrize("argument", [{"workers": 0}, {"concurrency_per_worker": -1}, {"chunk_size": True}])
def test_sizes_must_be_positive_ints(argument: dict[str, object]) -> None:
    with pytest.raises(UserError, match="must be a positive int"):
        RayExecutor(**argument)  # type: ignore[arg-type]


async def test_options_an_executor_does_not_take_and_a_results_file_instead_of_a_directory(tmp_path: Path) -> None:
    agent = Agent("test")
    with pytest.raises(UserError, match="does not take session=, max_cost= or estimate="):
        await agent.run_many(["a"], executor=RayExecutor(), max_cost=1.0)
    (tmp_path / "out.jsonl").write_text("")
    with pytest.raises(UserError, match="results is a directory"):
        await agent.run_many(["a"], executor=RayExecutor(), results=tmp_path / "out.jsonl")


def test_the_ray_limiter_is_a_limiter_that_pickles_as_its_limits() -> None:
    import pickle

    limiter = RayRateLimiter(requests_per_minute=600, tokens_per_minute=10_000, name="shared")
    assert isinstance(limiter, Limiter)
    copy = pickle.loads(pickle.dumps(limiter))
    assert (copy.name, copy.requests_per_minute, copy.tokens_per_minute) == ("shared", 600, 10_000)
    with pytest.raises(UserError, match="requests_per_minute must be > 0"):
        RayRateLimiter(requests_per_minute=0)
