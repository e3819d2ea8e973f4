"""A batch's cost: its total, ``max_cost`` stopping it, and ``estimate`` running a sample first."""

from __future__ import annotations

import json

import pytest

from agentkit import Agent, UserError, pricing
from agentkit._batch_cost import BatchEstimate, pick_sample, sample_size
from agentkit.batch import total_usage
from agentkit.errors import BatchCostExceeded
from agentkit.models import OpenAICompatible
from tests.support.server import Reply, chat_completion

HALF_A_DOLLAR = {"prompt_tokens": 1_000_000, "completion_tokens": 0, "total_tokens": 1_000_000}  # mistral-large-2512


@pytest.fixture(autouse=True)
def _clean_prices(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTKIT_CACHE_DIR", str(tmp_path / "cache"))
    yield
    pricing._user.clear()


def answer(_request) -> Reply:
    return Reply(body=chat_completion("ok", usage=HALF_A_DOLLAR))


def agent_at(server) -> Agent:
    return Agent(OpenAICompatible("mistral-large-2512", base_url=server.url + "/v1"))


async def test_a_batch_total_sums_every_input_cost(loopback):
    server = loopback(answer)
    items = await agent_at(server).run_many(["a", "b", "c"], concurrency=2)
    assert [item.usage.cost for item in items] == [pytest.approx(0.5)] * 3
    assert total_usage(items).cost == pytest.approx(1.5)


async def test_max_cost_stops_the_batch_before_the_request_that_would_cross_it(loopback, tmp_path):
    server = loopback(answer)
    out = tmp_path / "out.jsonl"
    with pytest.raises(BatchCostExceeded, match="max cost"):
        await agent_at(server).run_many([f"p{i}" for i in range(6)], concurrency=1, max_cost=1.2, results=out)
    assert len(server.requests) == 2  # $1.00 spent: the third ($0.50 more) was never sent
    assert len(out.read_text().splitlines()) == 2  # the inputs done are kept


def _scripted_pair():
    """An agent whose every input calls a sub-agent once; each sub-agent request costs $1, each of its own $0.001."""
    from agentkit.testing import ScriptedModel, reply, tool_call
    from agentkit.usage import Usage

    pricing.set_price("outer-m", input=1.0)
    pricing.set_price("inner-m", input=1.0)

    def tokens(n: int) -> Usage:
        return Usage(prompt_tokens=n, total_tokens=n, requests=1)

    def outer(request):
        if len(request.messages) < 3:
            return reply(None, tool_call("helper", {"input": "x"}), usage=tokens(1000))
        return reply("done", usage=tokens(1000))

    helper = Agent(ScriptedModel([lambda r: reply("inner", usage=tokens(1_000_000))] * 10, model_name="inner-m"), name="helper")
    outer_model = ScriptedModel([outer] * 20, model_name="outer-m")
    return Agent(outer_model, tools=[helper.as_tool(description="Helps.")]), helper


async def test_max_cost_counts_the_sub_agents_requests():
    """Before: only the batch agent's own model was guarded, and ten $1 sub-agent requests went
    through a $2.50 budget ($10.02 spent)."""
    agent, helper = _scripted_pair()
    with pytest.raises(BatchCostExceeded, match="max cost"):
        await agent.run_many([str(i) for i in range(10)], concurrency=1, max_cost=2.5)
    spent = 10 - helper.model.remaining
    assert spent <= 3, spent  # at most one request past the budget: the estimate is a guess (mean prompt so far)


async def test_a_guarded_batch_leaves_later_runs_alone():
    agent, _ = _scripted_pair()
    items = await agent.run_many(["a"], concurrency=1, max_cost=5)
    assert items[0].error is None and items[0].usage.cost == pytest.approx(1.002)
    assert (await agent.run("again")).output == "done"  # no budget outside the batch


async def test_estimate_runs_a_sample_then_asks_and_no_stops_there(loopback, tmp_path):
    server = loopback(answer)
    out = tmp_path / "out.jsonl"
    prompts = [f"p{i}" for i in range(10)]
    seen: list[BatchEstimate] = []

    def no(projection: BatchEstimate) -> bool:
        seen.append(projection)
        return False

    items = await agent_at(server).run_many(prompts, results=out, estimate=no, concurrency=4)
    [estimate] = seen
    assert len(items) == 3 and items == estimate.sample and len(server.requests) == 3
    assert estimate.inputs == 10 and estimate.remaining == 7
    assert estimate.cost == pytest.approx(5.0) and estimate.cost_low == estimate.cost_high == pytest.approx(5.0)
    assert estimate.seconds >= 0 and "Projected cost for all 10: $5.0000" in estimate.summary()
    assert len(out.read_text().splitlines()) == 3


async def test_estimate_yes_runs_the_rest_without_paying_the_sample_twice(loopback, tmp_path):
    server = loopback(answer)
    out = tmp_path / "out.jsonl"
    prompts = [f"p{i}" for i in range(10)]

    async def yes(projection: BatchEstimate) -> bool:
        return projection.cost is not None and projection.cost < 6

    items = await agent_at(server).run_many(prompts, results=out, estimate=yes)
    assert len(items) == 10 and len(server.requests) == 10 and sum(item.skipped for item in items) == 3
    assert total_usage(items).cost == pytest.approx(5.0)
    assert {json.loads(line)["id"] for line in out.read_text().splitlines()} == {item.id for item in items}


async def test_estimate_needs_a_results_file(loopback):
    server = loopback(answer)
    with pytest.raises(UserError, match="results"):
        await agent_at(server).run_many(["a"], estimate=lambda projection: True)


def test_the_sample_is_2_percent_at_least_3_at_most_20():
    assert [sample_size(n) for n in (1, 3, 10, 150, 151, 5000)] == [1, 3, 3, 3, 4, 20]
    keys = [str(i) for i in range(500)]
    sample = pick_sample(keys, seed=1)
    assert len(sample) == 10 and sample == sorted(sample, key=int)


# --- the command line ----------------------------------------------------------------------

AGENT_FILE = 'from agentkit import Agent\n\nagent = Agent("openai:gpt-4o-mini")\n'


def cli_batch(tmp_path, server, monkeypatch, *extra: str, input: str | None = None):
    click_testing = pytest.importorskip("click.testing")
    from agentkit.cli import _app

    for name in ("AGENTKIT_MODEL", "AGENTKIT_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGENTKIT_BASE_URL", server.url + "/v1")
    agent = tmp_path / "cost_agent.py"
    agent.write_text(AGENT_FILE, encoding="utf-8")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(f'"q{i}"\n' for i in range(10)), encoding="utf-8")
    args = ["batch", str(agent), str(inputs), "--out", str(tmp_path / "out.jsonl"), "-m", "mistral-large-2512", *extra]
    return click_testing.CliRunner().invoke(_app.cli, args, input=input)


def test_cli_estimate_asks_and_stops_on_no(tmp_path, loopback, monkeypatch):
    server = loopback(answer)
    result = cli_batch(tmp_path, server, monkeypatch, "--estimate", input="n\n")
    assert result.exit_code == 0, result.output
    assert "Sample: 3 of 10 inputs ran" in result.output and "Projected cost for all 10: $5.0000" in result.output
    assert "Run the remaining 7 inputs?" in result.output and "Stopped after the sample" in result.output
    assert len(server.requests) == 3 and len((tmp_path / "out.jsonl").read_text().splitlines()) == 3


def test_cli_estimate_goes_on_after_yes_without_paying_the_sample_twice(tmp_path, loopback, monkeypatch):
    server = loopback(answer)
    result = cli_batch(tmp_path, server, monkeypatch, "--estimate", input="y\n")
    assert result.exit_code == 0, result.output
    assert "7 done, 3 skipped, 0 failed" in result.stdout and "$3.5000" in result.stdout
    assert len(server.requests) == 10


def test_cli_max_cost_stops_the_batch(tmp_path, loopback, monkeypatch):
    server = loopback(answer)
    result = cli_batch(tmp_path, server, monkeypatch, "--max-cost", "1.2", "-c", "1")
    assert result.exit_code != 0 and "max cost" in result.stderr and "Traceback" not in result.output
    assert len(server.requests) == 2
