"""Handoffs with streaming (``run_stream`` events and their agent path, also from a sub-agent
that hands off), ``iter()`` steps, approvals after a handoff (resumed in a new process), and
``run_many``; over the loopback server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import BaseModel

from agentkit import Agent, tool
from agentkit.agent import RunState
from agentkit.errors import ApprovalRequired, InvalidRunState, MaxHandoffsExceeded
from agentkit.events import (
    AgentHandoff,
    FinalOutput,
    ModelRequestStep,
    PartialOutput,
    TextDelta,
    ToolCallStarted,
    ToolExecutionStarted,
    ToolResult,
)
from tests.run.handoff_desk import ROOT, Desk, build_cleanup_desk, mistral_rule_breaks, model, replied, transfer, usage
from tests.run.handoff_desk import system_texts as _system
from tests.run.handoff_desk import tool_results as _tool_results
from tests.run.helpers import sse_calls, sse_text
from tests.support.server import Reply, chat_completion


class RefundDecision(BaseModel):
    approved: bool
    amount: float


@tool
def lookup_customer(email: str) -> str:
    """Find a customer.

    Args:
        email: Their email address.
    """
    return f"customer 7 ({email})"


# -- streaming and iter() ----------------------------------------------------------------------


def _stream_desk(url: str) -> Agent:
    refunds = Agent(model("openai", url, "refunds"), name="refunds", instructions="You are refunds.", output_type=RefundDecision)
    return Agent(
        model("openai", url, "triage"), name="triage", instructions="You are triage.", tools=[lookup_customer], handoffs=[refunds]
    )


async def test_run_stream_yields_the_handoff_and_later_events_carry_the_targets_path(loopback):
    desk = Desk(
        triage=[sse_calls(("lookup_customer", {"email": "a@b.c"}, "call_l1"), ("transfer_to_refunds", {}, "call_t1"))],
        refunds=[sse_text('{"approved": tr', 'ue, "amount": 3', "5.9}")],
    )
    server = loopback(desk)
    triage = _stream_desk(server.url)

    async with triage.run_stream("Refund order 1042.") as stream:
        events = [event async for event in stream]
        result = stream.result

    (handoff,) = [e for e in events if isinstance(e, AgentHandoff)]
    at = events.index(handoff)
    assert (handoff.from_agent, handoff.to_agent, handoff.tool_call_id) == ("triage", "refunds", "call_t1")
    assert handoff.path == ("refunds",) and handoff.agent == "refunds"
    before, after = events[:at], events[at + 1 :]
    assert {e.path for e in before} == {("triage",)} and {e.path for e in after} == {("refunds",)}
    assert [(type(e).__name__, e.tool_call_id) for e in before if isinstance(e, (ToolCallStarted, ToolResult))] == [
        ("ToolCallStarted", "call_l1"),
        ("ToolCallStarted", "call_t1"),
        ("ToolResult", "call_t1"),  # the handoff call is answered at once
        ("ToolResult", "call_l1"),
    ]
    assert [e.name for e in before if isinstance(e, ToolExecutionStarted)] == ["lookup_customer"]
    assert "".join(e.text for e in after if isinstance(e, TextDelta)) == '{"approved": true, "amount": 35.9}'
    partial = [e for e in after if isinstance(e, PartialOutput)]
    assert partial and partial[-1].output == RefundDecision(approved=True, amount=35.9)  # the target's output type
    assert isinstance(events[-1], FinalOutput) and events[-1].agent == "refunds"
    assert events[-1].output == RefundDecision(approved=True, amount=35.9)
    assert result.agent_name == "refunds" and result.usage.requests == 2
    assert all(body["stream"] for bodies in desk.bodies.values() for body in bodies)
    assert _system(desk.bodies["refunds"][0]) == ["You are refunds."]


async def test_iter_yields_the_agent_handoff_step_between_the_agents_steps(loopback):
    desk = Desk(
        triage=[replied(None, ("lookup_customer", {"email": "a@b.c"}, "call_l1"), ("transfer_to_refunds", {}, "call_t1"))],
        refunds=[replied('{"approved": false, "amount": 0}')],
    )
    server = loopback(desk)
    triage = _stream_desk(server.url)

    steps = []
    async with triage.iter("Refund order 1042.") as run:
        async for step in run:
            steps.append((type(step).__name__, step.agent))
            if isinstance(step, AgentHandoff):
                assert (step.from_agent, step.to_agent, step.tool_call_id) == ("triage", "refunds", "call_t1")
                assert (run.state.agent, run.state.handoffs) == ("refunds", 1)
            if isinstance(step, ModelRequestStep) and step.agent == "refunds":
                assert step.request.messages[0].content == "You are refunds."
                assert [t.name for t in step.request.tools] == []
        result = run.result

    assert steps == [
        ("ModelRequestStep", "triage"),
        ("ModelResponseStep", "triage"),
        ("ToolCallsStep", "triage"),
        ("ToolResultsStep", "triage"),
        ("AgentHandoff", "refunds"),
        ("ModelRequestStep", "refunds"),
        ("ModelResponseStep", "refunds"),
        ("FinalResultStep", "refunds"),
    ]
    assert result is not None and result.agent_name == "refunds" and result.output.approved is False


async def test_a_sub_agent_that_hands_off_streams_the_handoff_under_its_parents_path(loopback):
    desk = Desk(
        lead=[sse_calls(("front", {"input": "When is INV-7 due?"}, "call_f1")), sse_text("On the 15th.")],
        front=[sse_calls(("transfer_to_billing", {}, "call_t1"))],
        billing=[sse_text("INV-7 is due ", "on the 15th.")],
    )
    server = loopback(desk)
    billing = Agent(model("openai", server.url, "billing"), name="billing", instructions="You are billing.")
    front = Agent(model("openai", server.url, "front"), name="front", instructions="You route.", handoffs=[billing])
    lead = Agent(model("openai", server.url, "lead"), name="lead", tools=[front.as_tool()])

    async with lead.run_stream("When is INV-7 due?") as stream:
        events = [event async for event in stream]
        result = stream.result

    (handoff,) = [e for e in events if isinstance(e, AgentHandoff)]
    assert (handoff.from_agent, handoff.to_agent, handoff.path) == ("front", "billing", ("lead", "billing"))
    texts = [(e.path, e.text) for e in events if isinstance(e, TextDelta)]
    assert texts == [(("lead", "billing"), "INV-7 is due "), (("lead", "billing"), "on the 15th."), (("lead",), "On the 15th.")]
    ((path, content),) = [(e.path, e.content) for e in events if isinstance(e, ToolResult) and e.tool_call_id == "call_f1"]
    assert path == ("lead",) and content == "INV-7 is due on the 15th."  # the target's answer is the tool's result
    assert events.index(handoff) < [type(e) for e in events].index(TextDelta)
    assert result.agent_name == "lead" and result.output == "On the 15th." and result.usage.requests == 4
    assert _system(desk.bodies["billing"][0]) == ["You are billing."]


# -- approvals ---------------------------------------------------------------------------------

_RESUME = """
import json, sys
from agentkit.agent import RunState
from tests.run.handoff_desk import build_cleanup_desk

url, provider, approvals = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
log = {}
triage = build_cleanup_desk(url, provider, log)
result = triage.run_sync(state=RunState.model_validate_json(sys.stdin.read()), approvals=approvals)
print(json.dumps({"output": result.output, "agent": result.agent_name, "log": log, "requests": result.usage.requests}))
"""


def _cleanup_script() -> Desk:
    return Desk(
        triage=[transfer("janitor", "call_t1")],
        janitor=[replied(None, ("delete_file", {"path": "a.txt"}, "call_d1")), replied("Deleted a.txt.")],
    )


@pytest.mark.parametrize("provider", ["openai", "mistral"])
def test_a_run_paused_after_a_handoff_resumes_with_the_target_in_a_new_process(loopback, provider):
    desk = _cleanup_script()
    server = loopback(desk, spec=provider)
    log: dict[str, list[str]] = {}
    with pytest.raises(ApprovalRequired) as info:
        build_cleanup_desk(server.url, provider, log).run_sync("Delete a.txt.")

    paused = info.value
    assert [(c.id, c.name) for c in paused.pending] == [("call_d1", "delete_file")]
    assert (paused.state.agent, paused.state.handoffs) == ("janitor", 1) and log == {}
    assert desk.order == ["triage", "janitor"]
    text = paused.state.model_dump_json()
    assert json.loads(text)["agent"] == "janitor"

    done = subprocess.run(
        [sys.executable, "-c", _RESUME, server.url, provider, json.dumps({"call_d1": True})],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])

    assert out == {"output": "Deleted a.txt.", "agent": "janitor", "log": {"deleted": ["a.txt"]}, "requests": 3}
    assert desk.order == ["triage", "janitor", "janitor"]  # resumed with the janitor, not the triage agent
    resumed = desk.bodies["janitor"][1]
    assert _system(resumed) == ["You delete files."] and resumed["temperature"] == 0.3
    assert [t["function"]["name"] for t in resumed["tools"]] == ["delete_file"]
    assert _tool_results(resumed)[-1][1] == "deleted a.txt"
    if provider == "mistral":
        assert mistral_rule_breaks(resumed) == []


def test_a_denied_call_after_a_handoff_goes_to_the_target_and_a_state_from_elsewhere_is_refused(loopback):
    desk = _cleanup_script()
    server = loopback(desk)
    log: dict[str, list[str]] = {}
    triage = build_cleanup_desk(server.url, "openai", log)
    with pytest.raises(ApprovalRequired) as info:
        triage.run_sync("Delete a.txt.")
    state = RunState.model_validate_json(info.value.state.model_dump_json())

    stranger = Agent(model("openai", server.url, "stranger"), name="stranger")
    with pytest.raises(InvalidRunState, match="with agent 'janitor', which 'stranger' cannot hand off to"):
        stranger.run_sync(state=state, approvals={"call_d1": True})

    result = triage.run_sync(state=state, approvals={"call_d1": "not today"})
    assert result.agent_name == "janitor" and log == {}
    denied = "The user denied this call: not today. Do not retry it unchanged."
    assert _tool_results(desk.bodies["janitor"][1])[-1] == ("call_d1", denied)
    assert desk.order == ["triage", "janitor", "janitor"]


@tool(requires_approval=True)
def wipe(path: str) -> str:
    """Wipe a disk (needs approval).

    Args:
        path: The disk.
    """
    return f"wiped {path}"


def test_a_handoff_waits_for_the_approval_of_a_call_in_its_turn(loopback):
    desk = Desk(
        triage=[replied(None, ("wipe", {"path": "/dev/x"}, "call_w"), ("transfer_to_billing", {}, "call_t"))],
        billing=[replied("Done.")],
    )
    server = loopback(desk)
    billing = Agent(model("openai", server.url, "billing"), name="billing", instructions="You are billing.")
    triage = Agent(model("openai", server.url, "triage"), name="triage", tools=[wipe], handoffs=[billing])
    with pytest.raises(ApprovalRequired) as info:
        triage.run_sync("Wipe it, then billing.")
    assert [c.id for c in info.value.pending] == ["call_w"]
    assert (info.value.state.agent, info.value.state.handoffs) == (None, 0)  # nothing of that turn happened yet

    state = RunState.model_validate_json(info.value.state.model_dump_json())
    result = triage.run_sync(state=state, approvals={"call_w": True})

    assert result.agent_name == "billing" and desk.order == ["triage", "billing"]
    (body,) = desk.bodies["billing"]
    assert _tool_results(body) == [("call_w", "wiped /dev/x"), ("call_t", "Transferred to billing: it answers from here on.")]
    assert _system(body) == ["You are billing."]


def test_the_handoffs_made_before_a_pause_count_after_the_resume(loopback):
    desk = Desk(
        triage=[transfer("janitor", "call_t1")],
        janitor=[replied(None, ("wipe", {"path": "a"}, "call_w1")), transfer("triage", "call_t2")],
    )
    server = loopback(desk)
    janitor = Agent(model("openai", server.url, "janitor"), name="janitor", tools=[wipe])
    triage = Agent(model("openai", server.url, "triage"), name="triage", handoffs=[janitor], max_handoffs=1)
    janitor.handoffs = [triage]
    with pytest.raises(ApprovalRequired) as info:
        triage.run_sync("Wipe a.")
    state = RunState.model_validate_json(info.value.state.model_dump_json())
    assert state.handoffs == 1

    with pytest.raises(MaxHandoffsExceeded, match="max_handoffs=1") as limit:
        triage.run_sync(state=state, approvals={"call_w1": True})
    assert limit.value.handoffs[-1] == ("janitor", "triage") and desk.order == ["triage", "janitor", "janitor"]


# -- run_many ----------------------------------------------------------------------------------


def _answer_the_question(request) -> Reply:
    question = [m["content"] for m in request.json["messages"] if m["role"] == "user"][-1]
    return Reply(body=chat_completion(f"billing: {question}", usage=usage(7, 3)))


def test_run_many_with_an_agent_that_hands_off(loopback):
    prompts = [f"question {i}" for i in range(5)]
    desk = Desk(triage=[transfer("billing", f"call_t{i}") for i in range(5)], billing=[_answer_the_question] * 5)
    server = loopback(desk)
    billing = Agent(model("openai", server.url, "billing"), name="billing", instructions="You are billing.")
    triage = Agent(model("openai", server.url, "triage"), name="triage", instructions="You are triage.", handoffs=[billing])

    items = triage.run_many_sync(prompts, concurrency=3, progress=False)

    assert [item.output for item in items] == [f"billing: {p}" for p in prompts]
    assert all(item.ok and item.usage.requests == 2 and item.usage.total_tokens == 25 for item in items)
    assert sorted(desk.order) == ["billing"] * 5 + ["triage"] * 5
    assert all(_system(body) == ["You are billing."] for body in desk.bodies["billing"])
