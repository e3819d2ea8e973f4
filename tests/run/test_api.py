"""One consistent public API (issue 12, item 6): run_many takes what run takes, sync twins keep
their signatures, RunState validates on load (agentkit/_run/state.py), duplicate call ids are
made unique (agentkit/_run/decide.py), and resuming checks the state first (agentkit/_run/live.py)."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

import pydantic
import pytest

from agentkit import (
    Agent,
    ApprovalRequired,
    Hooks,
    InvalidRunState,
    ModelSettings,
    RunContext,
    RunState,
    UserError,
    tool,
)
from agentkit.messages import AssistantMessage, ToolMessage, UserMessage
from agentkit.models import Model, ModelRequest, ModelResponse
from agentkit.usage import Usage, UsageLimits
from tests.run.helpers import answer, calls, chat_bodies, delete_file, model_for
from tests.support.server import Reply, call, chat_completion

# -- run_many takes what run takes ----------------------------------------------------------------


@dataclass
class Deps:
    user: str


def _batch_server(loopback):
    """Each prompt: a call of ``whoami`` first, then ``done <prompt> <tool result>``."""

    def handler(request):
        messages = request.json["messages"]
        last = messages[-1]
        if last["role"] == "user":
            return Reply(body=chat_completion(None, [call("whoami", {}, "w_" + last["content"])]))
        prompt = next(m["content"] for m in messages if m["role"] == "user")
        return Reply(body=chat_completion(f"done {prompt} {last['content']}"))

    return loopback(handler)


@tool
def whoami(ctx: RunContext[Deps]) -> str:
    """Who is asking."""
    return ctx.deps.user


async def test_run_many_passes_deps_settings_and_hooks_to_every_run(loopback):
    server = _batch_server(loopback)
    starts: list[str] = []

    class Record(Hooks):
        async def on_run_start(self, ctx: RunContext[Any]) -> None:
            starts.append(ctx.messages[-1].content)

    agent = Agent(model_for(server), tools=[whoami], deps_type=Deps, settings=ModelSettings(temperature=0.1))
    items = await agent.run_many(
        ["p1", "p2", "p3"],
        concurrency=2,
        deps=Deps("ann"),
        settings=ModelSettings(temperature=0.8, max_tokens=21),
        hooks=[Record()],
    )
    assert [(i.ok, i.output) for i in items] == [(True, "done p1 ann"), (True, "done p2 ann"), (True, "done p3 ann")]
    assert sorted(starts) == ["p1", "p2", "p3"]
    bodies = chat_bodies(server)
    assert len(bodies) == 6
    assert all((b["temperature"], b["max_tokens"]) == (0.8, 21) for b in bodies)
    await agent.aclose()


async def test_run_many_applies_usage_limits_per_input(loopback):
    server = _batch_server(loopback)
    agent = Agent(model_for(server), tools=[whoami], deps_type=Deps)
    items = await agent.run_many(["p1", "p2"], deps=Deps("bob"), usage_limits=UsageLimits(max_requests=1))
    assert [i.ok for i in items] == [False, False]
    assert all(i.error is not None and i.error.startswith("UsageLimitExceeded") for i in items)
    assert len(server.requests) == 2  # one request per input, the second was never sent
    await agent.aclose()


def test_run_many_sync_passes_the_options_too(loopback):
    server = _batch_server(loopback)
    agent = Agent(model_for(server), tools=[whoami], deps_type=Deps)
    items = agent.run_many_sync(["p1"], deps=Deps("cy"), settings=ModelSettings(seed=9))
    assert items[0].output == "done p1 cy"
    assert all(b["seed"] == 9 for b in chat_bodies(server))
    agent.close_sync()


def _options(function: Any) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(function).parameters)


def test_sync_twins_have_real_signatures():
    many_sync = _options(Agent.run_many_sync)
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in many_sync.values())
    for name in ("inputs", "concurrency", "requests_per_minute", "tokens_per_minute", "results", "progress", "deps"):
        assert name in many_sync
    for name in ("settings", "usage_limits", "hooks"):
        assert name in many_sync
    assert many_sync["concurrency"].default == 16
    assert list(many_sync) == list(_options(Agent.run_many))
    # run, run_sync, run_stream, run_stream_sync and iter take the same options
    run = list(_options(Agent.run))
    for twin in (Agent.run_sync, Agent.run_stream, Agent.run_stream_sync, Agent.iter):
        assert list(_options(twin)) == run, twin.__name__
    assert {"deps", "settings", "usage_limits", "state", "approvals", "hooks"} <= set(run)


class _FailsOn(Model):
    """Answers ``ok <prompt>``, but raises a plain RuntimeError (not an agentkit error) for one prompt."""

    model_name = "fails-on"

    def __init__(self, bad: str) -> None:
        self.bad = bad

    async def request(self, request: ModelRequest) -> ModelResponse:
        prompt = request.messages[-1].content
        if prompt == self.bad:
            raise RuntimeError(f"model broke on {prompt}")
        return ModelResponse(AssistantMessage(content=f"ok {prompt}"), Usage(requests=1))


async def test_a_non_agentkit_exception_fails_only_its_input():
    agent = Agent(_FailsOn("b"))
    items = await agent.run_many(["a", "b", "c"], concurrency=1)
    assert [(i.prompt, i.ok, i.output) for i in items] == [("a", True, "ok a"), ("b", False, None), ("c", True, "ok c")]
    assert items[1].error == "RuntimeError: model broke on b"
    sync_items = Agent(_FailsOn("a")).run_many_sync(["a", "b"])
    assert [i.ok for i in sync_items] == [False, True]


# -- RunState validates on load ------------------------------------------------------------------

_USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize(
    ("data", "mentions"),
    [
        ({"messages": [_USER], "turn": -1}, "turn"),
        ({"messages": [_USER], "surprise": 1}, "surprise"),
        ({"messages": 5}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages"),
        ({"messages": [_USER], "new_message_index": 2}, "new_message_index"),
        ({"messages": [_USER], "output_failures": -1}, "output_failures"),
        ({"messages": [_USER], "tool_failures": {"t": -2}}, "tool_failures"),
        ({"messages": [_USER], "usage": {"requests": -1}}, "usage"),
        ({"turn": 1}, "messages"),
        ([1, 2], ""),
    ],
)
@pytest.mark.parametrize("loader", ["python", "json"])
def test_a_bad_run_state_is_an_invalid_run_state_error(data, mentions, loader):
    with pytest.raises(InvalidRunState) as info:
        if loader == "python":
            RunState.model_validate(data)
        else:
            RunState.model_validate_json(json.dumps(data))
    error = info.value
    assert isinstance(error, UserError)
    assert not isinstance(error, pydantic.ValidationError)
    assert str(error).startswith("Not a valid RunState")
    assert mentions in str(error)
    assert not isinstance(error.__cause__, pydantic.ValidationError)


@pytest.mark.parametrize("text", ["not json", "", "{", '"a string"', "null"])
def test_text_that_is_not_a_run_state_is_an_invalid_run_state_error(text):
    with pytest.raises(InvalidRunState):
        RunState.model_validate_json(text)


async def test_a_real_paused_state_round_trips_and_resumes(loopback):
    server = loopback([calls(("delete_file", {"path": "a.txt"}, "d1"), ("delete_file", {"path": "b.txt"}, "d2")), answer("gone")])
    agent = Agent(model_for(server), tools=[delete_file])
    with pytest.raises(ApprovalRequired) as first:
        await agent.run("clean up")
    with pytest.raises(ApprovalRequired) as info:  # paused again, with the decision on d1 kept in the state
        await agent.run(state=first.value.state, approvals={"d1": True})
    text = info.value.state.model_dump_json()
    loaded = RunState.model_validate_json(text)
    assert loaded == RunState.model_validate(json.loads(text)) == info.value.state
    assert loaded.model_dump_json() == text
    assert [c.id for c in loaded.pending] == ["d1", "d2"]
    assert loaded.approvals == {"d1": True} and loaded.turn == 1 and loaded.usage.requests == 1

    result = await Agent(model_for(server), tools=[delete_file]).run(state=loaded, approvals={"d2": True})
    assert result.output == "gone"
    sent = chat_bodies(server)[1]["messages"]
    assert [(m["tool_call_id"], m["content"]) for m in sent[-2:]] == [("d1", "deleted a.txt"), ("d2", "deleted b.txt")]


# -- duplicate tool-call ids ---------------------------------------------------------------------


async def test_duplicate_call_ids_are_made_unique_before_approvals(loopback):
    server = loopback(
        [calls(("delete_file", {"path": "a.txt"}, "c1"), ("delete_file", {"path": "b.txt"}, "c1")), answer("both gone")]
    )
    agent = Agent(model_for(server), tools=[delete_file])
    with pytest.raises(ApprovalRequired) as info:
        await agent.run("clean up")
    ids = [c.id for c in info.value.pending]
    assert len(ids) == 2 and len(set(ids)) == 2 and ids[0] == "c1"
    assert [c.arguments for c in info.value.pending] == ['{"path": "a.txt"}', '{"path": "b.txt"}']
    state = RunState.model_validate_json(info.value.state.model_dump_json())
    assert [c.id for c in state.pending] == ids  # the unique ids are in the stored message too

    result = await agent.run(state=state, approvals=dict.fromkeys(ids, True))
    assert result.output == "both gone"
    assert [(m.tool_call_id, m.content) for m in result.messages if isinstance(m, ToolMessage)] == [
        (ids[0], "deleted a.txt"),
        (ids[1], "deleted b.txt"),
    ]
    sent = chat_bodies(server)[1]["messages"]
    assert [c["id"] for c in sent[-3]["tool_calls"]] == ids
    assert [(m["tool_call_id"], m["content"]) for m in sent[-2:]] == [(ids[0], "deleted a.txt"), (ids[1], "deleted b.txt")]
    assert len(server.requests) == 2


async def test_duplicate_call_ids_get_one_result_each(loopback):
    server = loopback([calls(("echo", {"x": 1}, "same"), ("echo", {"x": 2}, "same")), answer("ok")])

    @tool
    def echo(x: int) -> int:
        """Echo x."""
        return x

    result = await Agent(model_for(server), tools=[echo]).run("go")
    sent = chat_bodies(server)[1]["messages"]
    call_ids = [c["id"] for c in sent[-3]["tool_calls"]]
    assert len(set(call_ids)) == 2
    assert [(m["tool_call_id"], m["content"]) for m in sent[-2:]] == [(call_ids[0], "1"), (call_ids[1], "2")]
    assert result.output == "ok"


# -- resuming checks the state before any request ----------------------------------------------


async def _paused(loopback, *specs: tuple[str, Any, str], then: list[Reply] | None = None):
    server = loopback([calls(*specs), *(then or [])])
    agent = Agent(model_for(server), tools=[delete_file])
    with pytest.raises(ApprovalRequired) as info:
        await agent.run("clean up")
    assert len(server.requests) == 1
    return server, agent, info.value


async def test_resuming_a_state_without_messages_is_refused(loopback):
    server = loopback([answer("never sent")])
    with pytest.raises(InvalidRunState, match="no messages"):
        await Agent(model_for(server), tools=[delete_file]).run(state=RunState(messages=[]), approvals={"x": True})
    assert server.requests == []


async def test_resuming_a_state_with_a_user_message_after_the_calls_is_refused(loopback):
    server, agent, paused = await _paused(loopback, ("delete_file", {"path": "a"}, "d1"), then=[answer("never")])
    state = paused.state
    tampered = RunState(messages=[*state.messages, UserMessage(content="and more")], usage=state.usage, turn=state.turn)
    with pytest.raises(InvalidRunState, match="not paused"):
        await agent.run(state=tampered, approvals={"d1": True})
    assert len(server.requests) == 1


async def test_resuming_a_state_whose_calls_are_all_answered_is_refused(loopback):
    server, agent, paused = await _paused(loopback, ("delete_file", {"path": "a"}, "d1"), then=[answer("never")])
    answered = ToolMessage(tool_call_id="d1", content="done elsewhere", name="delete_file")
    state = paused.state
    done = RunState(messages=[*state.messages, answered], usage=state.usage, turn=state.turn)
    with pytest.raises(InvalidRunState):
        await agent.run(state=done, approvals={"d1": True})
    finished = RunState(messages=[UserMessage(content="hi"), AssistantMessage(content="hello")])
    with pytest.raises(InvalidRunState):
        await agent.run(state=finished)
    assert len(server.requests) == 1


async def test_an_approval_for_a_call_that_is_not_pending_is_refused(loopback):
    server, agent, paused = await _paused(loopback, ("delete_file", {"path": "a"}, "d1"), then=[answer("never")])
    with pytest.raises(UserError, match="not pending: nope"):
        await agent.run(state=paused.state, approvals={"d1": True, "nope": True})
    with pytest.raises(UserError, match="must be True, False or a reason"):
        await agent.run(state=paused.state, approvals={"d1": 1})  # type: ignore[dict-item]
    with pytest.raises(UserError):
        await agent.run(state={"messages": []})  # type: ignore[arg-type]
    assert len(server.requests) == 1
    with pytest.raises(ApprovalRequired) as again:  # no decisions at all: paused again, still nothing sent
        await agent.run(state=paused.state)
    assert [c.id for c in again.value.pending] == ["d1"]
    assert len(server.requests) == 1


async def test_partial_approvals_pause_again_and_keep_the_first_decision(loopback):
    server, agent, paused = await _paused(
        loopback,
        ("delete_file", {"path": "a.txt"}, "d1"),
        ("delete_file", {"path": "b.txt"}, "d2"),
        then=[answer("one gone, one kept")],
    )
    assert [c.id for c in paused.pending] == ["d1", "d2"]
    with pytest.raises(ApprovalRequired) as again:
        await agent.run(state=paused.state, approvals={"d1": True})
    assert [c.id for c in again.value.pending] == ["d2"]
    assert again.value.state.approvals == {"d1": True}
    assert not any(isinstance(m, ToolMessage) for m in again.value.state.messages)  # nothing ran yet
    assert len(server.requests) == 1  # pausing again sends nothing

    state = RunState.model_validate_json(again.value.state.model_dump_json())
    assert state.approvals == {"d1": True}
    result = await agent.run(state=state, approvals={"d2": "keep b"})
    assert result.output == "one gone, one kept"
    contents = {m.tool_call_id: m.content for m in result.messages if isinstance(m, ToolMessage)}
    assert contents["d1"] == "deleted a.txt"
    assert contents["d2"].startswith("The user denied this call: keep b")
    assert len(server.requests) == 2
    assert result.usage.tool_calls == 1


async def test_a_denial_for_a_call_that_needs_no_approval_is_not_ignored(loopback):
    ran: list[str] = []

    @tool
    def list_files() -> list[str]:
        """List the files."""
        ran.append("list_files")
        return ["a.txt"]

    server = loopback([calls(("delete_file", {"path": "a.txt"}, "d1"), ("list_files", {}, "l1")), answer("ok")])
    agent = Agent(model_for(server), tools=[delete_file, list_files])
    with pytest.raises(ApprovalRequired) as info:
        await agent.run("clean up")
    assert [c.id for c in info.value.pending] == ["d1"]
    assert [c.id for c in info.value.state.pending] == ["d1", "l1"]
    try:
        result = await agent.run(state=info.value.state, approvals={"d1": True, "l1": False})
    except UserError:  # refusing the decision is fine (l1 is not waiting for approval) ...
        assert len(server.requests) == 1
    else:  # ... and so is honouring it
        contents = {m.tool_call_id: m.content for m in result.messages if isinstance(m, ToolMessage)}
        assert contents["d1"] == "deleted a.txt"
        assert contents["l1"].startswith("The user denied this call")
    # ... running the call the caller denied is not
    assert ran == []


@pytest.mark.parametrize("mistake", ["settings", "deps"])
async def test_run_many_raises_the_callers_mistakes_at_once(loopback, mistake):
    server = _batch_server(loopback)
    agent = Agent(model_for(server), tools=[whoami], deps_type=Deps)
    options: dict[str, Any] = {"settings": {"temperature": 1}, "deps": Deps("ann")} if mistake == "settings" else {}
    with pytest.raises(UserError):
        await agent.run_many(["p1", "p2"], **options)
    assert server.requests == []
    await agent.aclose()
