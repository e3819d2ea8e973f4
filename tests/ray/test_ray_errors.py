"""RayExecutor's mistakes and limits, caught on the driver before any cluster is needed."""

from __future__ import annotations

import asyncio
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


async def test_the_budget_halves_once_per_burst_and_a_429_booked_before_a_slowdown_only_pauses() -> None:
    """The actor's logic, run here as a plain object (tests/ray/test_ray_cluster.py runs it as an actor)."""
    from agentkit._ray_limiter import _Budget

    budget = _Budget(requests_per_minute=6000, tokens_per_minute=None)
    (delay,), epoch = await budget.reserve([])
    assert delay <= 0 and epoch == 0
    assert await budget.rate_limited_for(0.05, epoch) == pytest.approx(0.05, abs=0.01)
    assert (await budget.status())["requests_per_minute"] == pytest.approx(3000)
    await asyncio.sleep(0.06)  # the pause is over: a 429 to a request booked at 6000 a minute says nothing new
    await budget.rate_limited_for(0.05, epoch)
    assert (await budget.status())["requests_per_minute"] == pytest.approx(3000)
    await asyncio.sleep(0.06)
    _, epoch = await budget.reserve([15, 15])  # two successes ride along: +5% each
    assert epoch == 1 and (await budget.status())["requests_per_minute"] == pytest.approx(3000 * 1.05**2)
    await budget.rate_limited_for(None, epoch)  # booked at the new rate: slows down again
    status = await budget.status()
    assert status["requests_per_minute"] == pytest.approx(3000 * 1.05**2 / 2) and status["rate_limited"] == 3


async def test_tokens_charged_by_one_worker_hold_back_the_next_slot_of_every_worker() -> None:
    from agentkit._ray_limiter import _Budget

    budget = _Budget(requests_per_minute=None, tokens_per_minute=6000)  # 100 tokens a second
    assert (await budget.reserve([]))[0][0] <= 0
    (delay,), _ = await budget.reserve([50])  # another worker's success used 50 tokens: half a second
    assert 0.45 < delay <= 0.5


async def test_the_slots_a_process_asks_for_at_once_are_booked_one_after_the_other_in_one_call() -> None:
    from agentkit._ray_limiter import _Budget

    budget = _Budget(requests_per_minute=6000, tokens_per_minute=None)  # 10 ms apart
    delays, _ = await budget.reserve([], 4)
    assert [round(d, 3) for d in delays] == pytest.approx([0.0, 0.01, 0.02, 0.03], abs=0.002)
    assert (await budget.status())["requests"] == 4
