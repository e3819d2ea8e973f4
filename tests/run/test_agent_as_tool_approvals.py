"""Approvals inside a sub-agent (``agent.as_tool()``), over the loopback server: a sub-agent's tool
that needs approval pauses the whole run, its state nested in the parent's; the state goes
through JSON and is resumed in a new process; denial; the parent's ``approve=`` callback decides
for the sub-agent's calls; a sibling call that already ran is not run again."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agentkit import Agent, UserError
from agentkit.agent import RunState
from agentkit.errors import ApprovalRequired
from agentkit.events import ToolExecutionStarted, ToolResult
from tests.run.helpers import answer, calls, sse_calls, sse_text
from tests.run.team import ROOT, Team, build_cleanup_team, model_named

_RESUME = """
import json, sys
from agentkit.agent import RunState
from tests.run.team import build_cleanup_team

url, approvals = sys.argv[1], json.loads(sys.argv[2])
log = {}
lead = build_cleanup_team(url, log)
state = RunState.model_validate_json(sys.stdin.read())
result = lead.run_sync(state=state, approvals=approvals)
usage = result.usage
print(json.dumps({"output": result.output, "log": log, "requests": usage.requests, "tool_calls": usage.tool_calls}))
"""

LISTED = '["a.txt","b.txt"]'


def _team(*, streamed: bool = False) -> Team:
    if streamed:
        return Team(
            lead=[sse_calls(("janitor", {"input": "Delete a.txt"}, "j1"), ("list_files", {}, "l1")), sse_text("Cleaned up.")],
            janitor=[sse_calls(("delete_file", {"path": "a.txt"}, "d1")), sse_text("deleted a.txt")],
        )
    return Team(
        lead=[calls(("janitor", {"input": "Delete a.txt"}, "j1"), ("list_files", {}, "l1")), answer("Cleaned up.")],
        janitor=[calls(("delete_file", {"path": "a.txt"}, "d1")), answer("deleted a.txt")],
    )


def _tool_messages(body: dict) -> list[tuple[str, str]]:
    return [(m["tool_call_id"], m["content"]) for m in body["messages"] if m["role"] == "tool"]


def _pause(lead) -> ApprovalRequired:
    with pytest.raises(ApprovalRequired) as info:
        lead.run_sync("Clean up.")
    return info.value


def test_a_sub_agents_call_pauses_the_whole_run_and_resumes_in_a_new_process(loopback):
    team = _team()
    server = loopback(team)
    log: dict[str, list[str]] = {}
    paused = _pause(build_cleanup_team(server.url, log))

    assert [(c.id, c.name, c.arguments) for c in paused.pending] == [("d1", "delete_file", '{"path": "a.txt"}')]
    assert list(paused.state.nested) == ["j1"]  # the janitor's paused run, by the id of the call running it
    nested = paused.state.nested["j1"]
    assert [c.id for c in nested.pending] == ["d1"] and nested.messages[-1].tool_calls[0].id == "d1"
    assert [c.id for c in paused.state.pending] == ["d1"]  # the sub-agent's call in place of j1
    assert log == {"listed": ["ls"]}  # the sibling ran; the delete waits
    assert (len(team.bodies["lead"]), len(team.bodies["janitor"])) == (1, 1)

    text = paused.state.model_dump_json()
    assert json.loads(text)["nested"]["j1"]["messages"][-1]["tool_calls"][0]["id"] == "d1"
    done = subprocess.run(
        [sys.executable, "-c", _RESUME, server.url, json.dumps({"d1": True})],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])

    assert out["output"] == "Cleaned up."
    assert out["log"] == {"deleted": ["a.txt"]}  # the approved call ran exactly once; list_files did not run again
    janitor_resumed = team.bodies["janitor"][1]
    assert _tool_messages(janitor_resumed) == [("d1", "deleted a.txt")]
    assert janitor_resumed["messages"][0] == {"role": "system", "content": "You delete files."}
    lead_resumed = team.bodies["lead"][1]
    assert _tool_messages(lead_resumed) == [("j1", "deleted a.txt"), ("l1", LISTED)]  # each once, in the calls' order
    assert (len(team.bodies["lead"]), len(team.bodies["janitor"])) == (2, 2)
    assert out["requests"] == 4  # the state carried the first two
    assert out["tool_calls"] == 3  # j1, l1, d1: each counted once


@pytest.mark.parametrize(
    ("decision", "expected"), [(False, "The user denied this call."), ("not now", "The user denied this call: not now.")]
)
def test_a_denied_sub_agent_call_tells_the_sub_agents_model(loopback, decision, expected):
    team = _team()
    server = loopback(team)
    log: dict[str, list[str]] = {}
    lead = build_cleanup_team(server.url, log)
    state = RunState.model_validate_json(_pause(lead).state.model_dump_json())

    result = lead.run_sync(state=state, approvals={"d1": decision})

    assert result.output == "Cleaned up." and log == {"listed": ["ls"]}  # nothing deleted, nothing listed twice
    ((call_id, content),) = _tool_messages(team.bodies["janitor"][1])
    assert call_id == "d1" and content.startswith(expected)


@pytest.mark.parametrize(("decision", "deleted"), [(True, ["a.txt"]), ("not today", [])])
def test_the_parents_approve_callback_decides_for_the_sub_agents_calls(loopback, decision, deleted):
    team = _team()
    server = loopback(team)
    asked = []

    def approve(call, ctx):
        asked.append((call.id, call.name, ctx.agent_name))
        return decision

    log: dict[str, list[str]] = {}
    result = build_cleanup_team(server.url, log, approve=approve).run_sync("Clean up.")

    assert result.output == "Cleaned up."
    assert asked == [("d1", "delete_file", "janitor")]
    assert log.get("deleted", []) == deleted and log["listed"] == ["ls"]
    assert (len(team.bodies["lead"]), len(team.bodies["janitor"])) == (2, 2)


def test_a_callback_that_does_not_decide_pauses_the_run(loopback):
    server = loopback(_team())
    lead = build_cleanup_team(server.url, {}, approve=lambda call, ctx: None)
    paused = _pause(lead)
    assert [c.id for c in paused.pending] == ["d1"]
    with pytest.raises(UserError, match=r"not pending: j1\. Pending: d1"):
        lead.run_sync(state=paused.state, approvals={"j1": True})  # the decision is for the sub-agent's call


async def test_a_streamed_run_pauses_and_its_resumed_stream_carries_the_sub_agents_events(loopback):
    team = _team(streamed=True)
    server = loopback(team)
    log: dict[str, list[str]] = {}
    lead = build_cleanup_team(server.url, log)

    with pytest.raises(ApprovalRequired) as info:
        async with lead.run_stream("Clean up.") as stream:
            async for _ in stream:
                pass
    assert [c.id for c in info.value.pending] == ["d1"] and log == {"listed": ["ls"]}

    state = RunState.model_validate_json(info.value.state.model_dump_json())
    async with lead.run_stream(state=state, approvals={"d1": True}) as stream:
        events = [event async for event in stream]
        result = stream.result

    assert result.output == "Cleaned up." and log == {"listed": ["ls"], "deleted": ["a.txt"]}
    ran = [(e.agent, type(e).__name__, e.tool_call_id) for e in events if isinstance(e, (ToolExecutionStarted, ToolResult))]
    assert ran == [
        ("lead", "ToolExecutionStarted", "j1"),
        ("janitor", "ToolExecutionStarted", "d1"),
        ("janitor", "ToolResult", "d1"),
        ("lead", "ToolResult", "j1"),
    ]


def test_a_call_two_levels_deep_pauses_the_run_and_resumes_with_the_states_nested_twice(loopback):
    team = Team(
        lead=[calls(("manager", {"input": "Clean up."}, "m1")), answer("All clean.")],
        manager=[calls(("janitor", {"input": "Delete a.txt"}, "j1")), answer("The janitor deleted a.txt.")],
        janitor=[calls(("delete_file", {"path": "a.txt"}, "d1")), answer("deleted a.txt")],
    )
    server = loopback(team)
    log: dict[str, list[str]] = {}
    janitor_tool = next(t for t in build_cleanup_team(server.url, log).tools if t.name == "janitor")
    manager = Agent(model_named(server.url, "manager"), name="manager", tools=[janitor_tool])
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[manager.as_tool()])

    paused = _pause(lead)
    assert [c.id for c in paused.pending] == ["d1"]
    assert list(paused.state.nested) == ["m1"] and list(paused.state.nested["m1"].nested) == ["j1"]
    state = RunState.model_validate_json(paused.state.model_dump_json())

    result = lead.run_sync(state=state, approvals={"d1": True})

    assert result.output == "All clean." and log == {"deleted": ["a.txt"]}
    assert [len(team.bodies[name]) for name in ("lead", "manager", "janitor")] == [2, 2, 2]
    assert result.usage.requests == 6 and result.usage.tool_calls == 3  # m1, j1, d1: each counted once
