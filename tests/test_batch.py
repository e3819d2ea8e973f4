"""run_many: bounded concurrency, rate limits, 429s absorbed, JSONL results, resume after a crash."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from agentkit import Agent, UserError
from agentkit.batch import RateLimiter
from agentkit.errors import BadRequestError
from agentkit.models import OpenAICompatible
from agentkit.models.base import Model, ModelRequest, ModelResponse
from agentkit.testing import reply
from agentkit.usage import Usage
from tests.support.server import Reply, chat_completion


class EchoModel(Model):
    """Answers each prompt with its upper-case text; counts calls and the most in flight at once."""

    def __init__(self, fail_on: set[str] = frozenset(), delay: float = 0.0) -> None:
        self.model_name = "echo"
        self.calls: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_on = set(fail_on)
        self.delay = delay

    async def request(self, request: ModelRequest) -> ModelResponse:
        prompt = request.messages[-1].content
        self.calls.append(prompt)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if prompt in self.fail_on:
                raise BadRequestError("rejected", status=400, provider="echo")
            return reply(prompt.upper(), usage=Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5, requests=1))
        finally:
            self.in_flight -= 1


async def test_results_come_back_in_input_order_with_bounded_concurrency():
    model = EchoModel(delay=0.01)
    prompts = [f"p{i}" for i in range(50)]
    items = await Agent(model).run_many(prompts, concurrency=7)
    assert [i.output for i in items] == [p.upper() for p in prompts]
    assert all(i.ok and i.usage.total_tokens == 5 for i in items)
    assert model.max_in_flight == 7


async def test_results_file_and_resume_after_a_crash(tmp_path):
    out = tmp_path / "out.jsonl"
    model = EchoModel(fail_on={"bad"})
    inputs = ["a", {"id": "second", "prompt": "b"}, "bad", "c"]
    items = await Agent(model).run_many(inputs, results=out, concurrency=2)
    assert [i.ok for i in items] == [True, True, False, True]
    assert items[1].id == "second" and "rejected" in (items[2].error or "")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["prompt"]: r["output"] for r in records} == {"a": "A", "b": "B", "bad": None, "c": "C"}

    with out.open("a") as f:  # a crash in the middle of writing a line
        f.write('{"id": "torn", "prom')
    again = EchoModel()
    items = await Agent(again).run_many(inputs, results=out)
    assert again.calls == ["bad"]  # only the failed input runs again
    assert [i.skipped for i in items] == [True, True, False, True]
    assert [i.output for i in items] == ["A", "B", "BAD", "C"]


async def test_requests_per_minute_spaces_requests():
    model = EchoModel()
    started = time.perf_counter()
    await Agent(model).run_many([f"p{i}" for i in range(21)], concurrency=21, requests_per_minute=6000)  # 100/s
    assert time.perf_counter() - started >= 0.19  # 20 gaps of 10 ms


async def test_rate_limits_slow_the_batch_down_instead_of_failing(loopback):
    state = {"n": 0}

    def handler(request):
        state["n"] += 1
        if state["n"] in (2, 3, 5):
            return Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0.2"})
        return Reply(body=chat_completion("ok"))

    server = loopback(handler)
    model = OpenAICompatible("m", base_url=server.url + "/v1", max_retries=0)
    agent = Agent(model)
    started = time.perf_counter()
    items = await agent.run_many([f"p{i}" for i in range(8)], concurrency=4)
    assert all(i.ok for i in items), [i.error for i in items]
    assert len(server.requests) == 8 + 3
    assert time.perf_counter() - started >= 0.2  # everyone waited out Retry-After
    await agent.aclose()


def test_rate_limiter_halves_and_recovers():
    limiter = RateLimiter(requests_per_minute=600)
    limiter.rate_limited_for(0.01)
    assert limiter._rate == pytest.approx(5.0)
    for _ in range(30):
        limiter.charge(0)
    assert limiter._rate == pytest.approx(10.0)
    with pytest.raises(UserError):
        RateLimiter(requests_per_minute=0)


def test_bad_inputs_fail_before_any_run():
    model = EchoModel()
    agent = Agent(model)
    for bad, message in [
        (["a", 3], "Input #1"),
        ([{"id": "x", "prompt": "a"}, {"id": "x", "prompt": "b"}], "used twice"),
        (["a"], None),
    ]:
        if message is None:
            with pytest.raises(UserError, match="concurrency"):
                agent.run_many_sync(bad, concurrency=0)
        else:
            with pytest.raises(UserError, match=message):
                agent.run_many_sync(bad)
    assert model.calls == []


def test_a_burst_of_429s_halves_the_rate_once():
    limiter = RateLimiter(requests_per_minute=600)
    for _ in range(100):  # 100 workers hit by the same 429 burst
        limiter.rate_limited_for(0.5)
    assert limiter._rate == pytest.approx(5.0)
    assert limiter.rate_limited == 100


async def test_the_batch_sees_the_first_429_so_every_worker_waits(loopback):
    """The model client does not retry a batch's 429 on its own: all workers pause, not just the one hit.

    The 429 is sent 50 ms after its request arrived, so the time it reached the client is known
    (the other worker runs meanwhile, 10 ms a request); from then on, nothing new may start for Retry-After.
    """
    seen: list[float] = []
    sent: list[float] = []

    def handler(request):
        seen.append(time.monotonic())
        if len(seen) == 1:
            sent.append(time.monotonic() + 0.05)
            return Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0.5"}, delay=0.05)
        return Reply(body=chat_completion("ok"), delay=0.01)  # the other worker is still busy during the pause

    server = loopback(handler)
    agent = Agent(OpenAICompatible("m", base_url=server.url + "/v1"))  # max_retries=2, as by default
    items = await agent.run_many([f"p{i}" for i in range(60)], concurrency=2)
    assert all(i.ok for i in items), [i.error for i in items]
    assert len(seen) == 60 + 1  # the 429 was not retried by the client: the batch sent that input again once
    # a request already under way when the 429 arrived may still land; nothing else starts during the pause
    assert sum(1 for t in seen if sent[0] + 0.03 < t < sent[0] + 0.4) <= 1
    await agent.aclose()


def test_without_requests_per_minute_a_429_sets_the_rate_to_what_was_accepted(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    limiter = RateLimiter()
    for _ in range(200):  # 200 successes in 1 s
        clock[0] += 0.005
        limiter.charge(0)
    limiter.rate_limited_for(0.01)
    assert limiter._rate == pytest.approx(0.95 * 200, rel=0.02)
    for _ in range(50):  # more 429s of the same overshoot do not compound
        limiter.rate_limited_for(None)
    assert limiter._rate == pytest.approx(0.95 * 200, rel=0.02)
    rate = limiter._rate
    for _ in range(190):  # a second of successes at that rate: +25 %
        clock[0] += 1 / 190
        limiter.charge(0)
    assert limiter._rate == pytest.approx(rate * 1.28, rel=0.03)


async def test_the_progress_bar_counts_failures_and_absorbed_429s(loopback, capsys):
    state = {"n": 0}

    def handler(request):
        state["n"] += 1
        if state["n"] == 1:
            return Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0.05"})
        if request.json["messages"][-1]["content"] == "bad":
            return Reply(400, {"error": {"message": "rejected"}})
        return Reply(body=chat_completion("ok"))

    agent = Agent(OpenAICompatible("m", base_url=loopback(handler).url + "/v1"))
    items = await agent.run_many(["a", "bad", "c"], concurrency=1, progress=True)
    assert [i.ok for i in items] == [True, False, True]
    err = capsys.readouterr().err
    assert "3/3" in err and "1 failed" in err and "1 x 429 absorbed" in err, err
    await agent.aclose()
