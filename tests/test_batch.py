"""run_many: bounded concurrency, rate limits, 429s absorbed, JSONL results, resume after a crash."""

from __future__ import annotations

import asyncio
import contextvars
import json
import time

import pytest

from agentkit import Agent, UserError
from agentkit.batch import RateLimiter
from agentkit.errors import (
    AllModelsFailed,
    AuthenticationError,
    BadRequestError,
    MissingAPIKeyError,
    PermissionDeniedError,
)
from agentkit.models import FallbackModel, OpenAICompatible
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


# --- nothing is lost: a torn last line is repaired before appending ---------------------------


@pytest.mark.parametrize("torn", ['{"id": "b", "prompt": "b", "outp', '{"id": "b", "prompt": "\xe9', "{"])
async def test_a_torn_last_line_is_moved_aside_and_its_input_runs_again(tmp_path, torn):
    out = tmp_path / "out.jsonl"
    model = EchoModel()
    await Agent(model).run_many([{"id": "a", "prompt": "a"}], results=out)
    with out.open("ab") as f:  # a full disk or a power cut while "b" was written: no newline, maybe half a character
        f.write(torn.encode()[:-1] if torn.endswith("\xe9") else torn.encode())
    again = EchoModel()
    inputs = [{"id": "a", "prompt": "a"}, {"id": "b", "prompt": "b"}, {"id": "c", "prompt": "c"}]
    items = await Agent(again).run_many(inputs, results=out, concurrency=1)
    assert sorted(again.calls) == ["b", "c"]  # "a" is skipped; the torn "b" runs again, once
    assert [i.output for i in items] == ["A", "B", "C"]
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]  # valid JSONL again
    assert sorted(r["id"] for r in records) == ["a", "b", "c"]
    assert (tmp_path / "out.jsonl.torn").read_bytes().startswith(torn.encode()[:5])  # kept aside, not thrown away
    third = EchoModel()
    await Agent(third).run_many(inputs, results=out)
    assert third.calls == []


async def test_a_whole_last_record_without_its_newline_is_kept(tmp_path):
    out = tmp_path / "out.jsonl"
    record = {"id": "a", "prompt": "a", "output": "A", "error": None, "usage": {}}
    out.write_text(json.dumps(record), encoding="utf-8")  # written by hand, or the newline was all that was lost
    model = EchoModel()
    await Agent(model).run_many([{"id": "a", "prompt": "a"}, {"id": "b", "prompt": "b"}], results=out)
    assert model.calls == ["b"]
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a", "b"]
    assert not (tmp_path / "out.jsonl.torn").exists()


async def test_a_record_glued_onto_a_fragment_by_an_older_version_still_counts(tmp_path):
    out = tmp_path / "out.jsonl"
    glued = '{"id": "a", "prom' + json.dumps({"id": "b", "prompt": "b", "output": "B", "error": None, "usage": {}})
    out.write_text(glued + "\n", encoding="utf-8")
    model = EchoModel()
    items = await Agent(model).run_many([{"id": "a", "prompt": "a"}, {"id": "b", "prompt": "b"}], results=out)
    assert model.calls == ["a"] and [i.skipped for i in items] == [False, True]


# --- an authentication failure stops the batch ---------------------------------------------------


async def test_a_401_stops_the_batch_at_once(loopback, tmp_path):
    server = loopback(lambda request: Reply(401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}))
    agent = Agent(OpenAICompatible("m", base_url=server.url + "/v1", api_key="sk-wrong-key-0000"))
    out = tmp_path / "out.jsonl"
    started = time.perf_counter()
    with pytest.raises(AuthenticationError) as caught:
        await agent.run_many([f"p{i}" for i in range(100)], concurrency=4, results=out)
    assert time.perf_counter() - started < 5
    assert 1 <= len(server.requests) <= 4  # only the runs already in flight: no retries, no new inputs
    assert "Incorrect API key provided" in str(caught.value) and caught.value.status == 401
    assert out.read_text() == ""  # nothing done, nothing written (the failure is the batch's, not an input's)
    await agent.aclose()


async def test_inputs_done_before_the_stop_stay_in_the_results_file(tmp_path):
    class ExpiresAfter(EchoModel):
        async def request(self, request: ModelRequest) -> ModelResponse:
            if len(self.calls) >= 3:
                self.calls.append(request.messages[-1].content)
                raise AuthenticationError("key revoked", status=401, provider="echo")
            return await super().request(request)

    model = ExpiresAfter()
    out = tmp_path / "out.jsonl"
    with pytest.raises(AuthenticationError):
        await Agent(model).run_many([f"p{i}" for i in range(20)], concurrency=1, results=out)
    assert len(model.calls) == 4
    assert [json.loads(line)["output"] for line in out.read_text().splitlines()] == ["P0", "P1", "P2"]
    again = EchoModel()
    items = await Agent(again).run_many([f"p{i}" for i in range(20)], concurrency=1, results=out)
    assert len(again.calls) == 17 and all(i.ok for i in items)


async def test_a_missing_key_stops_the_batch_and_other_failures_do_not(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    agent = Agent("openai:gpt-4o-mini")
    with pytest.raises(MissingAPIKeyError):
        await agent.run_many(["a", "b", "c"])
    await agent.aclose()

    class Forbidden(EchoModel):  # a 403 is a refusal of one input (moderation): the batch goes on
        async def request(self, request: ModelRequest) -> ModelResponse:
            self.calls.append(request.messages[-1].content)
            raise PermissionDeniedError("flagged", status=403, provider="echo")

    model = Forbidden()
    items = await Agent(model).run_many(["a", "b", "c"])
    assert len(model.calls) == 3 and not any(i.ok for i in items)


async def test_a_fallback_whose_every_model_refuses_the_key_stops_the_batch():
    class Refused(EchoModel):
        async def request(self, request: ModelRequest) -> ModelResponse:
            self.calls.append(request.messages[-1].content)
            raise AuthenticationError("bad key", status=401, provider="echo")

    first, second = Refused(), Refused()
    with pytest.raises(AllModelsFailed):
        await Agent(FallbackModel(first, second)).run_many([f"p{i}" for i in range(10)], concurrency=2)
    assert len(first.calls) <= 2


def test_the_command_line_says_in_one_line_that_the_batch_stopped(loopback, tmp_path):
    from click.testing import CliRunner

    from agentkit.cli import _app

    server = loopback(lambda request: Reply(401, {"error": {"message": "Incorrect API key provided"}}))
    agent_file = tmp_path / "agent401.py"
    agent_file.write_text(
        "from agentkit import Agent\nfrom agentkit.models import OpenAICompatible\n"
        f"agent = Agent(OpenAICompatible('m', base_url={server.url + '/v1'!r}, api_key='sk-wrong-0000'))\n",
        encoding="utf-8",
    )
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(f'"p{i}"\n' for i in range(50)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(_app.cli, ["batch", str(agent_file), str(inputs), "--out", str(out), "--concurrency", "2"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the batch stopped: openai-compatible HTTP 401: Incorrect API key")
    assert f"results done so far are in {out}" in lines[0]
    assert len(server.requests) <= 2 and "FAILED" not in result.stdout


async def test_a_429_to_a_request_booked_before_the_last_slowdown_only_pauses() -> None:
    """Requests booked at the old rate that get their 429 after the pause must not halve the rate again
    (before: each such 429 halved it, and a batch set above the provider's limit fell to a sixteenth)."""
    limiter = RateLimiter(requests_per_minute=6000)  # 100 a second

    async def booked() -> contextvars.Context:
        async def request() -> contextvars.Context:
            await limiter.acquire()
            return contextvars.copy_context()  # the request's task, as it is when its answer comes

        return await asyncio.ensure_future(request())

    async def answered_429(request: contextvars.Context) -> float:
        return request.run(limiter.rate_limited_for, 0.01)

    old = [await booked() for _ in range(3)]  # booked at 100 a second
    await answered_429(old[0])
    assert limiter._rate == pytest.approx(50)  # the first 429 of the burst halves it
    await asyncio.sleep(0.02)  # the pause is over; the old requests' 429s arrive now
    await answered_429(old[1])
    await answered_429(old[2])
    assert limiter._rate == pytest.approx(50)  # booked before the slowdown: a pause, no second halving
    assert limiter.rate_limited == 3
    new = await booked()  # booked at the new rate, still too fast: this one halves it
    await asyncio.sleep(0.02)
    await answered_429(new)
    assert limiter._rate == pytest.approx(25)
