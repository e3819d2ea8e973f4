"""The run log: runs recorded over the loopback server, many runs to one file, a crash, no key."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from agentkit import Agent
from agentkit._secrets import register_secret
from agentkit.models import OpenAICompatible
from agentkit.runlog import SCHEMA_VERSION, list_runs, load_run
from tests.support.server import Reply, call, chat_completion

KEY = "sk-runlog-secret-0123456789abcdef"


def usage(prompt: int, completion: int):
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


def two_turns() -> list[Reply]:
    first = chat_completion(tool_calls=[call("add", {"a": 1, "b": 2}, "c1"), call("shout", {"text": "hi"}, "c2")])
    first["usage"] = usage(100, 10)
    return [Reply(body=first), Reply(body=chat_completion("3 and HI", usage=usage(120, 5)))]


@pytest.fixture(autouse=True)
def _no_env_log(monkeypatch, tmp_path):
    monkeypatch.delenv("AGENTKIT_LOG", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def model(server) -> OpenAICompatible:
    return OpenAICompatible("mistral-large-2512", base_url=server.url + "/v1", api_key=KEY)


async def test_a_run_with_parallel_tools_is_recorded_step_by_step(loopback, tmp_path):
    server = loopback(two_turns())
    path = tmp_path / "runs.db"
    agent = Agent(model(server), tools=[add, shout], name="calc", log=path)
    result = await agent.run("1+2, and shout hi")
    assert result.output == "3 and HI"
    assert result.log_id == (str(path), result.log_id[1])

    (run,) = list_runs(path)
    assert (run.agent, run.model, run.prompt, run.status, run.turns) == ("calc", "loopback-model", "1+2, and shout hi", "ok", 2)
    assert not run.stopped and run.shown_status == "ok"
    assert (run.input_tokens, run.output_tokens) == (220, 15)
    assert run.cost == pytest.approx(result.usage.cost)
    assert run.output == "3 and HI" and run.duration is not None and run.duration > 0

    full = load_run(path, run.id[:6])
    kinds = [(s.kind, s.name) for s in full.steps]
    assert kinds == [("request", "loopback-model"), ("tool", "add"), ("tool", "shout"), ("request", "loopback-model")]
    first, add_step, shout_step, last = full.steps
    assert first.finish_reason == "tool_calls" and first.input_tokens == 100 and first.cost is not None
    assert (add_step.data, add_step.result, shout_step.result) == ('{"a": 1, "b": 2}', "3", "HI")
    assert all(s.ended is not None and s.ended >= s.started for s in full.steps)
    assert first.ended <= add_step.started and shout_step.ended <= last.started
    assert '"tool_call_id":"c2"' in (full.messages or "")
    stored = sqlite3.connect(path).execute("SELECT value FROM runlog_meta WHERE key = 'schema_version'").fetchone()
    assert stored == (str(SCHEMA_VERSION),)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_env_var_logs_every_agent_and_false_opts_out(loopback, tmp_path, monkeypatch):
    path = tmp_path / "env.db"
    monkeypatch.setenv("AGENTKIT_LOG", str(path))
    server = loopback([Reply(body=chat_completion("a"))] * 2)
    await Agent(model(server)).run("one")
    await Agent(model(server), log=False).run("two")
    assert [r.prompt for r in list_runs(path)] == ["one"]


async def test_errors_are_recorded_with_their_type_and_no_key(loopback, tmp_path):
    register_secret(KEY)
    server = loopback([Reply(status=400, body={"error": {"message": f"bad key {KEY}"}})])
    path = tmp_path / "err.db"
    agent = Agent(model(server), log=path)
    with pytest.raises(Exception) as raised:
        await agent.run(f"my key is {KEY}")
    (run,) = list_runs(path, status="error")
    assert run.error_type == type(raised.value).__name__
    assert KEY not in (run.error_message or "") and KEY not in (run.prompt or "")
    for file in tmp_path.glob("err.db*"):
        assert KEY.encode() not in file.read_bytes()


async def test_no_key_in_the_file_after_a_good_run(loopback, tmp_path):
    register_secret(KEY)
    replies = two_turns()
    replies[1] = Reply(body=chat_completion(f"your key {KEY}"))
    server = loopback(replies)
    path = tmp_path / "k.db"
    await Agent(model(server), tools=[add, shout], log=path).run(f"use {KEY}")
    assert list_runs(path)[0].status == "ok"
    for file in tmp_path.glob("k.db*"):
        assert KEY.encode() not in file.read_bytes()


async def test_many_concurrent_runs_to_one_log(loopback, tmp_path):
    server = loopback(lambda request: Reply(body=chat_completion("ok")))
    path = tmp_path / "many.db"
    agent = Agent(model(server), log=path)
    await asyncio.gather(*(agent.run(f"run {i}") for i in range(40)))
    runs = list_runs(path, limit=None)
    assert sorted(r.prompt or "" for r in runs) == sorted(f"run {i}" for i in range(40))
    assert {r.status for r in runs} == {"ok"}
    assert all(len(load_run(path, r.id).steps) == 1 for r in runs[:5])


async def test_sub_agents_are_children_of_the_calling_tool_call(loopback, tmp_path):
    path = tmp_path / "sub.db"
    inner_server = loopback([Reply(body=chat_completion("inner answer"))])
    outer_server = loopback(
        [
            Reply(body=chat_completion(tool_calls=[call("helper", {"input": "go"}, "h1")])),
            Reply(body=chat_completion("done")),
        ]
    )
    helper = Agent(model(inner_server), name="helper", log=path)
    outer = Agent(model(outer_server), name="boss", tools=[helper.as_tool(description="Helps.")], log=path)
    await outer.run("delegate")
    (top,) = list_runs(path)
    run = load_run(path, top.id)
    (child,) = run.children
    assert (child.agent, child.parent_id, child.parent_call_id, child.status) == ("helper", top.id, "h1", "ok")
    assert [s.kind for s in child.steps] == ["request"]


def test_a_crash_keeps_the_steps_before_it(tmp_path):
    path = tmp_path / "crash.db"
    script = textwrap.dedent(
        f"""
        import os
        from agentkit import Agent
        from agentkit.testing import ScriptedModel, reply, tool_call

        def boom() -> str:
            \"\"\"Crash the process.\"\"\"
            os._exit(3)

        model = ScriptedModel([reply(None, tool_call("boom", {{}})), "never"])
        Agent(model, tools=[boom], log={str(path)!r}).run_sync("crash now")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 3, done.stderr
    (run,) = list_runs(path)
    assert (run.status, run.prompt, run.ended) == ("running", "crash now", None)
    assert run.stopped and run.shown_status == "stopped"  # its process is gone: it will never end
    from click.testing import CliRunner

    from agentkit.cli import _app

    listed = CliRunner().invoke(_app.cli, ["logs", "--status", "running", "--log", str(path)])
    assert run.id in listed.stdout and "stopped" in listed.stdout, listed.output
    shown = CliRunner().invoke(_app.cli, ["logs", "show", run.id, "--log", str(path)])
    assert f"its process ({run.pid}) is gone" in shown.stdout, shown.output
    steps = load_run(path, run.id).steps
    assert [(s.kind, s.name) for s in steps] == [("request", "scripted"), ("tool", "boom")]
    assert steps[1].ended is None


def test_filters(tmp_path):
    from agentkit.testing import ScriptedModel

    path = tmp_path / "f.db"
    Agent(ScriptedModel(["a"], model_name="m1"), name="one", log=path).run_sync("p1")
    Agent(ScriptedModel(["b"], model_name="m2"), name="two", log=path).run_sync("p2")
    failing = Agent(ScriptedModel([ValueError("down")], model_name="m2"), name="two", log=path)
    with pytest.raises(ValueError):
        failing.run_sync("p3")
    assert [r.prompt for r in list_runs(path)] == ["p3", "p2", "p1"]
    assert [r.prompt for r in list_runs(path, agent="two")] == ["p3", "p2"]
    assert [r.prompt for r in list_runs(path, model="m1")] == ["p1"]
    assert [r.prompt for r in list_runs(path, status="error")] == ["p3"]
    assert [r.prompt for r in list_runs(path, limit=1)] == ["p3"]
    assert list_runs(path, since=list_runs(path)[0].started + 1) == []


def test_a_huge_tool_result_is_clipped_with_a_note_not_stored_whole(tmp_path):
    from agentkit._runlog_store import MAX_TEXT
    from agentkit.testing import ScriptedModel, reply, tool_call

    def dump() -> str:
        """A 10 MB answer."""
        return "x" * 10_000_000

    path = tmp_path / "huge.db"
    result = Agent(ScriptedModel([reply(None, tool_call("dump", {})), "ok"]), tools=[dump], log=path).run_sync("go")
    assert len(result.messages[2].content) == 10_000_000  # the run itself gets all of it
    run = load_run(path, list_runs(path)[0].id)
    (tool_step,) = [s for s in run.steps if s.kind == "tool"]
    assert len(tool_step.result or "") < MAX_TEXT + 100 and "9,900,000 more characters not recorded" in (tool_step.result or "")
    assert len(run.messages or "") < 2 * MAX_TEXT
    size = sum(f.stat().st_size for f in tmp_path.glob("huge.db*"))
    assert size < 2_000_000, size
    page = result.to_html()
    assert len(page) < 2 * MAX_TEXT and "more characters not recorded" in page


def test_to_html_without_a_log_shows_no_key(tmp_path):
    from agentkit.testing import ScriptedModel, reply, tool_call

    register_secret(KEY)

    def leak(x: str) -> str:
        """Returns a key."""
        return f"the key is {KEY}"

    model = ScriptedModel([reply(None, tool_call("leak", {"x": KEY})), f"done {KEY}"])
    result = Agent(model, tools=[leak], log=False).run_sync(f"prompt {KEY}")
    assert KEY in result.messages[2].content
    page = result.to_html()
    assert KEY not in page and "***" in page


def test_a_log_that_cannot_be_written_warns_once_and_the_result_names_no_run(tmp_path, caplog):
    """A file of a newer schema: before, one warning per write of every run (3 a run, 600 for a
    batch of 200) and results whose log_id named a run that was never recorded (to_html failed)."""
    import logging

    from agentkit.testing import ScriptedModel

    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE runlog_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        connection.execute("INSERT INTO runlog_meta VALUES ('schema_version', '99')")
    agent = Agent(ScriptedModel(["b", "c"]), log=path)
    with caplog.at_level(logging.DEBUG, logger="agentkit"):
        results = [agent.run_sync("y"), agent.run_sync("z")]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "could not be written" in r.getMessage()]
    assert len(warnings) == 1 and "newer agentkit (schema 99)" in warnings[0].getMessage()
    assert all(getattr(r, "log_id", None) is None for r in results)
    assert "agentkit run" in results[1].to_html()  # drawn from the result itself


async def test_a_key_in_the_base_urls_query_string_is_never_recorded(loopback, tmp_path):
    """A server that echoes the URL (the key in ?api_key=...) in its error: before, the key was in
    the error message and in the run log's file."""
    secret = "qs-secret-0123456789abcdef"
    server = loopback(lambda request: Reply(status=400, body={"error": {"message": f"bad url {request.path}"}}), spec=None)
    base_url = server.url + f"/v1?api_key={secret}&api-version=2024-02-01"
    path = tmp_path / "q.db"
    with pytest.raises(Exception) as raised:
        await Agent(OpenAICompatible("x", base_url=base_url, api_key=KEY), log=path).run("hi")
    assert secret in server.requests[0].path  # it was sent
    assert secret not in str(raised.value) and "2024-02-01" in str(raised.value)  # a version is no key
    for file in tmp_path.glob("q.db*"):
        assert secret.encode() not in file.read_bytes()


async def test_a_cancelled_or_timed_out_run_is_recorded_as_cancelled_not_running(tmp_path):
    """Before: no hook ran for a cancellation, so the run stayed 'running' for ever (its process
    alive) and the run log kept the whole run in memory."""
    from agentkit import runlog
    from agentkit.testing import ScriptedModel, reply, tool_call

    async def slow() -> str:
        """Take a while."""
        await asyncio.sleep(30)
        return "late"

    path = tmp_path / "cancel.db"

    def agent() -> Agent:
        return Agent(ScriptedModel([reply(None, tool_call("slow", {})), "no"]), tools=[slow], log=path)

    task = asyncio.create_task(agent().run("cancel me"))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(agent().run("time me out"), 0.3)
    async with agent().iter("stop early") as run:
        async for _ in run:
            break
    await asyncio.sleep(0.3)  # the writes are queued
    found = {r.prompt: r for r in list_runs(path)}
    assert {p: (r.status, r.error_type) for p, r in found.items()} == {
        "cancel me": ("cancelled", "CancelledError"),
        "time me out": ("cancelled", "CancelledError"),
        "stop early": ("cancelled", None),
    }
    assert all(r.ended is not None and r.turns == 1 for r in found.values())
    assert not any(live.log.path == str(path) for live in runlog._live.values())


def test_a_paused_run_is_recorded_and_then_let_go(tmp_path):
    from agentkit import ApprovalRequired, runlog, tool
    from agentkit.testing import ScriptedModel, reply, tool_call

    @tool(requires_approval=True)
    def delete(path: str) -> str:
        """Delete a file."""
        return "deleted"

    path = tmp_path / "paused.db"
    agent = Agent(ScriptedModel([reply(None, tool_call("delete", {"path": "a"}, id="d1")), "done"]), tools=[delete], log=path)
    with pytest.raises(ApprovalRequired) as paused:
        agent.run_sync("clean")
    assert agent.run_sync(state=paused.value.state, approvals={"d1": True}).output == "done"
    assert sorted(r.status for r in list_runs(path)) == ["ok", "paused"]
    assert not any(live.log.path == str(path) for live in runlog._live.values())  # before: the paused run was kept


def test_to_html_after_the_log_file_is_gone_draws_from_the_result(tmp_path):
    from agentkit.testing import ScriptedModel

    path = tmp_path / "gone.db"
    result = Agent(ScriptedModel(["hello there"]), log=path).run_sync("hi")
    for file in tmp_path.glob("gone.db*"):
        file.unlink()
    page = result.to_html()  # before: UserError "No run log at ..."
    assert "hello there" in page


def test_two_processes_of_200_concurrent_runs_each_share_one_log(tmp_path):
    path = tmp_path / "shared.db"
    script = textwrap.dedent(
        f"""
        import sys
        from agentkit import Agent
        from agentkit.testing import TestModel

        def step(i: int) -> str:
            \"\"\"One step.\"\"\"
            return str(i)

        tag = sys.argv[1]
        agent = Agent(TestModel(), tools=[step], log={str(path)!r}, name=tag)
        items = agent.run_many_sync([f"{{tag}} {{i}}" for i in range(200)], concurrency=200)
        assert all(item.error is None for item in items), [item.error for item in items if item.error][:3]
        """
    )
    workers = [subprocess.Popen([sys.executable, "-c", script, tag], stderr=subprocess.PIPE) for tag in ("A", "B")]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()[-2000:]
    runs = list_runs(path, limit=None)
    assert sorted(r.prompt or "" for r in runs) == sorted(f"{t} {i}" for t in "AB" for i in range(200))
    assert {r.status for r in runs} == {"ok"}
    assert {len(load_run(path, r.id).steps) for r in runs[::20]} == {3}  # request, tool call, request
