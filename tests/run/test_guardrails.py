"""Input and output guardrails over the loopback server (agentkit/_run/guard.py).

Input guardrails race the first model request: the slow replies here send their body a space at
a time, so a request is still in flight when a guardrail trips, and the server counts the stream
the client hung up on (``streams_abandoned``). Ordering is asserted, not timing: a guardrail
that waits until the server has the request proves the two ran at once. Tool guardrails are in
``tests/test_tool_guardrails.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    ApprovalRequired,
    Guardrail,
    GuardrailError,
    GuardrailResult,
    GuardrailTripped,
    HookError,
    Hooks,
    RunContext,
    Usage,
    tool,
)
from agentkit.errors import BadRequestError
from agentkit.events import ModelRequestStep, ResponseComplete, TextDelta
from agentkit.messages import UserMessage
from agentkit.models import OpenAICompatible
from agentkit.testing import ScriptedModel
from tests.run.helpers import answer, calls, chat_bodies, delete_file, model_for, sse_text
from tests.run.test_cancellation import client_sockets
from tests.support.server import LoopbackServer, Reply, chat_completion
from tests.support.sse import sse, text_stream

PASS = GuardrailResult(tripped=False)


def slow_answer(text: str, spaces: int = 100, delay: float = 0.05) -> Reply:
    """A plain answer whose body arrives after ``spaces`` chunks of whitespace (5 s by default)."""
    body = json.dumps(chat_completion(text)).encode()
    return Reply(chunks=[b" "] * spaces + [body], chunk_delay=delay, content_type="application/json")


def slow_stream(*pieces: str, delay: float = 0.05) -> Reply:
    """A streamed answer, one SSE chunk at a time."""
    chunks = [sse([c], done=False) for c in text_stream(*pieces)] + [b"data: [DONE]\n\n"]
    return Reply(chunks=chunks, chunk_delay=delay, content_type="text/event-stream")


async def until(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    """Wait (polling) until ``condition()`` is true."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        assert loop.time() < end, "timed out waiting"
        await asyncio.sleep(0.01)


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both ways agentkit sends requests: each must close the connection of a cancelled request."""
    if request.param == "aiohttp":
        pytest.importorskip("aiohttp")
    return str(request.param)


def _model(server: LoopbackServer, transport: str) -> OpenAICompatible:
    return OpenAICompatible("loopback-model", base_url=server.url + "/v1", api_key="sk-test", transport=transport)


def _port(server: LoopbackServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def trips_once_requested(server: LoopbackServer, info: Any = "blocked") -> Callable[..., Any]:
    async def no_secrets(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        await until(lambda: server.requests)  # the request is in flight: the guardrail runs beside it
        return GuardrailResult(tripped=True, info=info)

    return no_secrets


def passes_once_requested(server: LoopbackServer, log: list[str]) -> Callable[..., Any]:
    async def on_topic(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        await until(lambda: server.requests)
        log.append("guardrail passed")
        return PASS

    return on_topic


# --- input guardrails: run() ------------------------------------------------------------------


async def test_a_trip_during_the_first_request_cancels_it(loopback, transport):
    server = loopback([slow_answer("too late"), answer("never asked")])
    agent = Agent(
        _model(server, transport), input_guardrails=[trips_once_requested(server, {"score": 0.9})], instructions="Be kind."
    )
    tasks_before = asyncio.all_tasks()
    with pytest.raises(GuardrailTripped) as caught:
        await agent.run("my password is hunter2")
    error = caught.value
    assert (error.guardrail, error.kind, error.info) == ("no_secrets", "input", {"score": 0.9})
    assert "'no_secrets' tripped" in str(error)
    assert [m.content for m in error.messages] == ["Be kind.", "my password is hunter2"]
    await until(lambda: client_sockets(_port(server)) == 0)  # the client closed the connection
    await until(lambda: server.streams_abandoned == 1)  # ...before the body's end
    assert len(server.requests) == 1
    assert asyncio.all_tasks() == tasks_before


async def test_a_guardrail_gets_the_context_and_the_prompt(loopback):
    server = loopback([answer("hi")])
    seen: list[Any] = []

    def check(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        seen.append((ctx.deps, ctx.agent_name, value))
        return PASS

    agent = Agent(model_for(server), name="desk", input_guardrails=[check])
    result = await agent.run("hello", deps={"user": 7})
    assert result.output == "hi"
    assert seen == [({"user": 7}, "desk", "hello")]


async def test_without_a_prompt_a_guardrail_gets_the_messages(loopback):
    server = loopback([answer("hi"), answer("again")])
    seen: list[Any] = []

    def check(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        seen.append(value)
        return PASS

    agent = Agent(model_for(server), input_guardrails=[check])
    history = [UserMessage(content="first question")]
    await agent.run(messages=history)
    await agent.run("second", messages=history)
    assert seen[0] == history and seen[0] is not history
    assert seen[1] == "second"


async def test_passing_guardrails_run_beside_the_request_and_the_answer_waits_for_them(loopback):
    server = loopback([answer("the answer")])
    log: list[str] = []

    class Track(Hooks):
        async def after_model_response(self, ctx: RunContext[Any], response: Any) -> None:
            log.append("response taken")

    agent = Agent(model_for(server), input_guardrails=[passes_once_requested(server, log)], hooks=[Track()])
    result = await agent.run("question")  # would hang if the guardrail held the request back
    assert result.output == "the answer"
    assert log == ["guardrail passed", "response taken"]


async def test_a_response_that_arrives_first_is_not_acted_on_before_the_guardrails_pass(loopback):
    server = loopback([calls(("record", {"what": "x"}, "c1")), answer("done")])
    log: list[str] = []

    @tool
    def record(what: str) -> str:
        """Record something.

        Args:
            what: What to record.
        """
        log.append("tool ran")
        return "ok"

    async def slow_check(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        await until(lambda: server.requests)
        await asyncio.sleep(0.3)  # the loopback answer is back by now
        log.append("guardrail passed")
        return PASS

    agent = Agent(model_for(server), tools=[record], input_guardrails=[slow_check])
    assert (await agent.run("go")).output == "done"
    assert log == ["guardrail passed", "tool ran"]


async def test_a_trip_after_the_response_arrived_still_stops_the_run_before_its_tool_calls(loopback):
    server = loopback([calls(("wipe", {"path": "/"}, "c1")), answer("never asked")])
    ran: list[str] = []

    @tool
    def wipe(path: str) -> str:
        """Delete.

        Args:
            path: The path.
        """
        ran.append(path)
        return "gone"

    async def late_trip(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        await until(lambda: server.requests)
        await asyncio.sleep(0.3)
        return GuardrailResult(tripped=True)

    agent = Agent(model_for(server), tools=[wipe], input_guardrails=[late_trip])
    with pytest.raises(GuardrailTripped):
        await agent.run("wipe the disk")
    assert ran == [] and len(server.requests) == 1


async def test_run_first_guardrails_finish_before_the_request_is_sent(loopback):
    server = loopback([answer("hi")])
    seen: list[int] = []

    async def first(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        await asyncio.sleep(0.1)
        seen.append(len(server.requests))
        return PASS

    agent = Agent(model_for(server), input_guardrails=[Guardrail(first, run_first=True)])
    assert (await agent.run("hello")).output == "hi"
    assert seen == [0]


async def test_a_tripped_run_first_guardrail_sends_no_request(loopback):
    server = loopback([answer("never")])
    agent = Agent(
        model_for(server), input_guardrails=[Guardrail(lambda ctx, v: GuardrailResult(True, info=v), name="gate", run_first=True)]
    )
    tasks_before = asyncio.all_tasks()
    with pytest.raises(GuardrailTripped) as caught:
        await agent.run("blocked input")
    assert (caught.value.guardrail, caught.value.info) == ("gate", "blocked input")
    assert server.requests == []
    assert asyncio.all_tasks() == tasks_before


async def test_run_first_and_concurrent_guardrails_together(loopback):
    server = loopback([slow_answer("late")])
    order: list[str] = []

    def gate(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        order.append(f"gate saw {len(server.requests)} requests")
        return PASS

    agent = Agent(model_for(server), input_guardrails=[Guardrail(gate, run_first=True), trips_once_requested(server)])
    with pytest.raises(GuardrailTripped) as caught:
        await agent.run("x")
    assert caught.value.guardrail == "no_secrets"
    assert order == ["gate saw 0 requests"]
    await until(lambda: server.streams_abandoned == 1)


async def test_sync_and_async_guardrails_run_at_once_and_the_first_trip_wins(loopback):
    server = loopback([slow_answer("late")])
    cancelled: list[str] = []

    def sync_trip(ctx: RunContext[Any], value: Any) -> GuardrailResult:  # runs in a worker thread
        return GuardrailResult(tripped="password" in value, info="sync")

    async def slow_pass(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append("slow_pass")
            raise
        return PASS

    agent = Agent(model_for(server), input_guardrails=[slow_pass, sync_trip])
    with pytest.raises(GuardrailTripped) as caught:
        await agent.run("the password")
    assert (caught.value.guardrail, caught.value.info) == ("sync_trip", "sync")
    assert cancelled == ["slow_pass"]


async def test_sync_and_async_guardrails_that_pass(loopback):
    server = loopback([answer("fine")])

    def sync_ok(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        return PASS

    async def async_ok(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        await asyncio.sleep(0)
        return PASS

    agent = Agent(model_for(server), input_guardrails=[sync_ok, async_ok], output_guardrails=[sync_ok, async_ok])
    assert (await agent.run("hi")).output == "fine"


async def test_input_guardrails_run_once_per_run_not_on_later_turns(loopback):
    server = loopback([calls(("get_weather", {"city": "Paris"}, "c1")), answer("sunny"), answer("again")])
    count: list[Any] = []

    @tool
    def get_weather(city: str) -> str:
        """Weather.

        Args:
            city: City.
        """
        return "sunny"

    def check(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        count.append(value)
        return PASS

    agent = Agent(model_for(server), tools=[get_weather], input_guardrails=[check])
    result = await agent.run("weather?")
    await agent.run("more", messages=result.messages)
    assert count == ["weather?", "more"]


async def test_a_resumed_run_does_not_check_its_input_again(loopback):
    server = loopback([calls(("delete_file", {"path": "a"}, "c1")), answer("deleted")])
    count: list[Any] = []

    def check(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        count.append(value)
        return PASS

    agent = Agent(model_for(server), tools=[delete_file], input_guardrails=[check])
    with pytest.raises(ApprovalRequired) as paused:
        await agent.run("delete a")
    result = await agent.run(state=paused.value.state, approvals={"c1": True})
    assert result.output == "deleted"
    assert count == ["delete a"]


async def test_a_failed_first_request_waits_for_the_guardrails_a_trip_wins(loopback):
    error_reply = Reply(400, {"error": {"message": "bad request", "type": "invalid_request_error"}})
    server = loopback([error_reply, error_reply])

    async def late(tripped: bool) -> Any:
        async def check(ctx: RunContext[Any], value: Any) -> GuardrailResult:
            await until(lambda: server.requests)
            await asyncio.sleep(0.2)  # the 400 is back by now
            return GuardrailResult(tripped=tripped)

        return check

    with pytest.raises(GuardrailTripped):
        await Agent(model_for(server), input_guardrails=[await late(True)]).run("x")
    with pytest.raises(BadRequestError, match="bad request"):
        await Agent(model_for(server), input_guardrails=[await late(False)]).run("x")


async def test_a_response_dropped_by_a_trip_still_counts_its_usage(loopback):
    server = loopback([answer("fast")])

    async def late_trip(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        await until(lambda: server.requests)
        await asyncio.sleep(0.3)
        return GuardrailResult(tripped=True)

    with pytest.raises(GuardrailTripped) as caught:
        await Agent(model_for(server), input_guardrails=[late_trip]).run("x")
    assert caught.value.usage is not None and caught.value.usage.requests == 1
    assert caught.value.usage.total_tokens == 15
    assert [m.content for m in caught.value.messages] == ["x"]  # the answer is not in the conversation


# --- input guardrails: streaming and iter() ----------------------------------------------------


async def test_stream_events_flow_while_a_guardrail_runs_and_a_trip_cuts_the_stream(loopback, transport):
    server = loopback([slow_stream(*[f"w{i} " for i in range(60)])])
    first_delta = asyncio.Event()

    async def after_first_words(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        await first_delta.wait()
        return GuardrailResult(tripped=True, info="off topic")

    agent = Agent(_model(server, transport), input_guardrails=[after_first_words])
    tasks_before = asyncio.all_tasks()
    texts: list[str] = []
    with pytest.raises(GuardrailTripped) as caught:
        async with agent.run_stream("x") as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                    first_delta.set()
                assert not isinstance(event, ResponseComplete)
    assert caught.value.info == "off topic"
    assert texts and len(texts) < 60
    await until(lambda: server.streams_abandoned == 1)
    await until(lambda: client_sockets(_port(server)) == 0)
    assert len(server.requests) == 1
    assert asyncio.all_tasks() == tasks_before


async def test_a_passing_guardrail_leaves_the_stream_whole(loopback):
    server = loopback([sse_text("Hello", " there")])
    log: list[str] = []
    agent = Agent(model_for(server), input_guardrails=[passes_once_requested(server, log)], output_guardrails=[lambda c, o: PASS])
    async with agent.run_stream("hi") as stream:
        texts = [e.text async for e in stream if isinstance(e, TextDelta)]
    assert texts == ["Hello", " there"]
    assert stream.result is not None and stream.result.output == "Hello there"
    assert log == ["guardrail passed"]


async def test_iter_raises_the_trip_at_the_step_after_the_request(loopback):
    server = loopback([slow_answer("late")])
    agent = Agent(model_for(server), input_guardrails=[trips_once_requested(server)])
    steps: list[str] = []
    with pytest.raises(GuardrailTripped):
        async with agent.iter("x") as run:
            async for step in run:
                steps.append(type(step).__name__)
    assert steps == [ModelRequestStep.__name__]
    await until(lambda: server.streams_abandoned == 1)


async def test_leaving_a_stream_early_cancels_the_guardrails_too(loopback):
    server = loopback([slow_stream(*[f"w{i} " for i in range(60)])])
    cancelled = asyncio.Event()

    async def never_done(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        try:
            await asyncio.sleep(30)
        finally:
            cancelled.set()
        return PASS

    agent = Agent(model_for(server), input_guardrails=[never_done])
    tasks_before = asyncio.all_tasks()
    async with agent.run_stream("x") as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    assert cancelled.is_set()
    await until(lambda: server.streams_abandoned == 1)
    assert asyncio.all_tasks() == tasks_before


# --- guardrails that fail ---------------------------------------------------------------------


async def test_a_guardrail_that_raises_ends_the_run_with_a_guardrail_error(loopback):
    server = loopback([slow_answer("late")])

    async def broken(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        await until(lambda: server.requests)
        raise ValueError("classifier down")

    errors: list[BaseException] = []

    class OnError(Hooks):
        async def on_error(self, ctx: RunContext[Any], error: Exception) -> None:
            errors.append(error)

    agent = Agent(model_for(server), input_guardrails=[broken], hooks=[OnError()])
    with pytest.raises(GuardrailError) as caught:
        await agent.run("x")
    error = caught.value
    assert isinstance(error, HookError)  # like a failing hook: on_error is not called
    assert (error.guardrail, error.kind, error.hook) == ("broken", "input", "broken")
    assert "'broken' raised ValueError: classifier down" in str(error)
    assert isinstance(error.__cause__, ValueError)
    assert errors == []
    await until(lambda: server.streams_abandoned == 1)


async def test_a_guardrail_must_return_a_guardrail_result(loopback):
    server = loopback([answer("hi"), answer("hi")])
    agent = Agent(model_for(server), input_guardrails=[lambda ctx, v: True])
    with pytest.raises(GuardrailError, match="must return a GuardrailResult, not bool"):
        await agent.run("x")
    agent = Agent(model_for(server), output_guardrails=[Guardrail(lambda ctx, v: None, name="checker")])
    with pytest.raises(GuardrailError, match="output guardrail 'checker'"):
        await agent.run("x")


# --- output guardrails ------------------------------------------------------------------------


class Verdict(BaseModel):
    allowed: bool


async def test_an_output_guardrail_trips_on_the_final_answer(loopback):
    server = loopback([answer("the secret is 42")])

    def no_leaks(ctx: RunContext[Any], output: Any) -> GuardrailResult:
        return GuardrailResult(tripped="secret" in output, info={"output": output})

    ended: list[Any] = []

    class End(Hooks):
        async def on_run_end(self, ctx: RunContext[Any], result: Any) -> None:
            ended.append(result)

    agent = Agent(model_for(server), output_guardrails=[no_leaks], hooks=[End()])
    with pytest.raises(GuardrailTripped) as caught:
        await agent.run("tell me")
    error = caught.value
    assert (error.guardrail, error.kind, error.info) == ("no_leaks", "output", {"output": "the secret is 42"})
    assert error.messages[-1].content == "the secret is 42"
    assert error.usage is not None and error.usage.requests == 1
    assert ended == []  # the run did not end with a result


async def test_output_guardrails_get_the_structured_output_and_run_at_once(loopback):
    server = loopback([answer('{"allowed": true}')])
    seen: list[Any] = []

    async def a(ctx: RunContext[Any], output: Any) -> GuardrailResult:
        seen.append(output)
        await asyncio.sleep(0.05)
        return PASS

    async def b(ctx: RunContext[Any], output: Any) -> GuardrailResult:
        seen.append(output)
        return PASS

    agent = Agent(model_for(server), output_type=Verdict, output_guardrails=[a, b])
    result = await agent.run("ok?")
    assert result.output == Verdict(allowed=True)
    assert seen == [Verdict(allowed=True)] * 2


async def test_after_a_handoff_the_targets_output_guardrails_apply(loopback):
    server = loopback([calls(("transfer_to_billing", {}, "h1")), answer("refund approved")])
    checked: list[str] = []

    def triage_check(ctx: RunContext[Any], output: Any) -> GuardrailResult:
        checked.append("triage")
        return GuardrailResult(tripped=True)

    def billing_check(ctx: RunContext[Any], output: Any) -> GuardrailResult:
        checked.append(f"billing: {output} ({ctx.agent_name})")
        return GuardrailResult(tripped="refund" in output, info="no refunds here")

    billing = Agent(model_for(server), name="billing", output_guardrails=[billing_check])
    triage = Agent(model_for(server), name="triage", handoffs=[billing], output_guardrails=[triage_check])
    with pytest.raises(GuardrailTripped) as caught:
        await triage.run("I want a refund")
    assert (caught.value.guardrail, caught.value.info) == ("billing_check", "no refunds here")
    assert checked == ["billing: refund approved (billing)"]


async def test_a_handoff_targets_input_guardrails_do_not_run(loopback):
    server = loopback([calls(("transfer_to_billing", {}, "h1")), answer("done")])
    checked: list[str] = []
    billing = Agent(model_for(server), name="billing", input_guardrails=[lambda c, v: checked.append("billing") or PASS])
    triage = Agent(
        model_for(server), name="triage", handoffs=[billing], input_guardrails=[lambda c, v: checked.append("triage") or PASS]
    )
    result = await triage.run("hi")
    assert (result.output, result.agent_name, checked) == ("done", "billing", ["triage"])


# --- a guardrail that is itself an agent ------------------------------------------------------


class Moderation(BaseModel):
    harmful: bool
    reason: str


async def test_a_guardrail_can_run_a_classifier_agent_and_count_its_usage(loopback):
    server = loopback([slow_answer("late")])
    classifier = Agent(ScriptedModel(['{"harmful": true, "reason": "asks for malware"}']), output_type=Moderation)

    async def moderation(ctx: RunContext[Any], value: Any) -> GuardrailResult:
        verdict = await classifier.run(value)
        ctx.usage.add(verdict.usage)
        return GuardrailResult(tripped=verdict.output.harmful, info=verdict.output)

    agent = Agent(model_for(server), input_guardrails=[moderation])
    with pytest.raises(GuardrailTripped) as caught:
        await agent.run("write malware")
    assert caught.value.info == Moderation(harmful=True, reason="asks for malware")
    assert isinstance(caught.value.usage, Usage) and caught.value.usage.requests == 1  # the classifier's


async def test_an_agent_without_guardrails_never_builds_the_guarded_request(loopback, monkeypatch):
    from agentkit._run import loop

    def refuse(*args: Any) -> Any:
        raise AssertionError("GuardedRequest built for an agent without guardrails")

    monkeypatch.setattr(loop, "GuardedRequest", refuse)
    server = loopback([answer("hi")])
    assert (await Agent(model_for(server)).run("x")).output == "hi"
    assert chat_bodies(server)[0]["messages"] == [{"role": "user", "content": "x"}]
