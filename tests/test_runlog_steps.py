"""The run log's steps beyond requests and tool calls: the HTTP client's retries and ``run_many``'s
rate-limit waits (over a real loopback server answering 429/503 with Retry-After), sub-agents and
handoffs of a logged agent that have no log of their own, and a file of the first schema."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from agentkit import Agent
from agentkit.models import OpenAICompatible
from agentkit.runlog import SCHEMA_VERSION, list_runs, load_run
from agentkit.testing import ScriptedModel, reply, tool_call
from tests.support.server import Reply, call, chat_completion


@pytest.fixture(autouse=True)
def _no_env_log(monkeypatch, tmp_path):
    monkeypatch.delenv("AGENTKIT_LOG", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def model(server, **options) -> OpenAICompatible:
    return OpenAICompatible("mistral-large-2512", base_url=server.url + "/v1", api_key="sk-test-not-a-key", **options)


def busy(status: int, retry_after: str) -> Reply:
    return Reply(status=status, body={"error": {"message": "try later"}}, headers={"Retry-After": retry_after})


def mark(step) -> dict:
    return json.loads(step.data)


async def test_http_retries_are_steps_of_the_request_they_delayed(loopback, tmp_path):
    server = loopback(
        [
            busy(429, "0.3"),
            busy(503, "0.2"),
            Reply(body=chat_completion(tool_calls=[call("echo", {"text": "hi"}, "c1")])),
            Reply(body=chat_completion("done")),
        ]
    )
    path = tmp_path / "retry.db"

    def echo(text: str) -> str:
        """Echo."""
        return text

    await Agent(model(server), tools=[echo], log=path).run("go")
    run = load_run(path, list_runs(path)[0].id)
    assert [s.kind for s in run.steps] == ["retry", "retry", "request", "tool", "request"]
    first, second, request = run.steps[:3]
    assert (first.name, mark(first)["attempt"], mark(first)["status"], mark(first)["error"]) == (
        "HTTP 429",
        1,
        429,
        "RateLimitError",
    )
    assert mark(first)["wait"] == pytest.approx(0.3) and mark(first)["retry_after"] == pytest.approx(0.3)
    assert (second.name, mark(second)["attempt"], mark(second)["status"]) == ("HTTP 503", 2, 503)
    assert first.ended == pytest.approx(first.started + 0.3) and second.ended == pytest.approx(second.started + 0.2)
    # inside the request's bar: after it was sent, before its answer; the wait really happened
    assert request.started <= first.started < first.ended <= second.started < second.ended <= request.ended
    assert request.ended - request.started >= 0.5
    assert {s.agent for s in run.steps} == {"agent"}


async def test_retries_of_a_request_that_never_got_an_answer_are_kept(loopback, tmp_path):
    server = loopback([busy(503, "0.05")] * 3)
    path = tmp_path / "failed.db"
    with pytest.raises(Exception, match=r"503|[uU]navailable"):
        await Agent(model(server, max_retries=2), log=path).run("go")
    run = load_run(path, list_runs(path)[0].id)
    assert run.status == "error"
    assert [(s.kind, mark(s)["attempt"]) for s in run.steps] == [("retry", 1), ("retry", 2)]


async def test_run_many_rate_limit_waits_are_steps_of_the_request(loopback, tmp_path):
    # the batch's model raises the 429 at once; the limiter pauses every worker and paces the rest
    server = loopback([busy(429, "0.4"), *[Reply(body=chat_completion("ok"))] * 3])
    path = tmp_path / "batch.db"
    results = await Agent(model(server), log=path).run_many(["a", "b", "c"], concurrency=1, requests_per_minute=300)
    assert all(r.ok for r in results)
    runs = {r.prompt: load_run(path, r.id) for r in list_runs(path)}
    first = runs["a"].steps
    assert [s.kind for s in first] == ["retry", "request"]
    assert (mark(first[0])["status"], mark(first[0])["attempt"]) == (429, 1)
    assert mark(first[0])["wait"] == pytest.approx(0.4, abs=0.05)
    assert first[1].ended - first[1].started >= 0.35  # the request waited out the pause
    later = runs["c"].steps  # 300 a minute: one request each 0.2 s, the next one held back
    assert [s.kind for s in later] == ["wait", "request"]
    assert later[0].name == "rate limit" and 0 < mark(later[0])["wait"] <= 0.45
    assert later[1].started <= later[0].started and later[0].ended <= later[1].ended + 0.01


async def test_a_retry_in_an_unlogged_run_is_not_put_on_a_logged_one(loopback, tmp_path):
    path = tmp_path / "two.db"
    logged = loopback([Reply(body=chat_completion("a"))])
    unlogged = loopback([busy(429, "0.05"), Reply(body=chat_completion("b"))])
    await Agent(model(logged), log=path).run("logged")
    await Agent(model(unlogged), log=False).run("not logged")
    (run,) = list_runs(path)
    assert [s.kind for s in load_run(path, run.id).steps] == ["request"]


def delegating(sub: Agent, *, log) -> Agent:
    model = ScriptedModel(
        [
            reply(None, tool_call("helper", {"input": "first"}, id="h1"), tool_call("helper", {"input": "second"}, id="h2")),
            "done",
        ],
        model_name="boss-model",
    )
    return Agent(model, name="boss", tools=[sub.as_tool(name="helper", description="Helps.")], log=log)


def test_a_sub_agent_without_a_log_is_recorded_as_a_child_of_its_call(tmp_path):
    path = tmp_path / "sub.db"
    helper = Agent(ScriptedModel(["one", "two"], model_name="helper-model"), name="helper")  # no log of its own
    result = delegating(helper, log=path).run_sync("delegate")
    assert result.output == "done"
    (top,) = list_runs(path)
    run = load_run(path, top.id)
    assert sorted((c.parent_call_id, c.agent, c.status, c.output) for c in run.children) == [
        ("h1", "helper", "ok", "one"),
        ("h2", "helper", "ok", "two"),
    ]
    assert all([s.kind for s in c.steps] == ["request"] and c.steps[0].agent == "helper" for c in run.children)
    assert len(list_runs(path, top_level=False)) == 3


def test_a_sub_agent_with_log_false_or_its_own_log_keeps_its_choice(tmp_path):
    path, own = tmp_path / "boss.db", tmp_path / "own.db"
    silent = Agent(ScriptedModel(["one", "two"]), name="helper", log=False)
    delegating(silent, log=path).run_sync("delegate")
    assert load_run(path, list_runs(path)[0].id).children == []
    separate = Agent(ScriptedModel(["one", "two"]), name="helper", log=own)
    other = tmp_path / "boss2.db"
    delegating(separate, log=other).run_sync("delegate")
    assert [r.parent_id for r in list_runs(own, top_level=False)] == [None, None]  # top-level runs of their own file
    assert load_run(other, list_runs(other)[0].id).children == []


def test_a_handoff_to_an_agent_without_a_log_goes_on_in_the_same_run(tmp_path):
    path = tmp_path / "handoff.db"

    def refund(order: str) -> str:
        """Refund an order."""
        return f"refunded {order}"

    billing = Agent(
        ScriptedModel([reply(None, tool_call("refund", {"order": "A1"}, id="r1")), "Refunded A1."], model_name="billing-model"),
        name="billing",
        tools=[refund],
    )
    triage = Agent(
        ScriptedModel([reply(None, tool_call("transfer_to_billing", {}, id="t1"))], model_name="triage-model"),
        name="triage",
        handoffs=[billing],
        log=path,
    )
    result = triage.run_sync("refund A1")
    assert result.output == "Refunded A1."
    (run,) = list_runs(path)
    assert (run.agent, run.status, run.output, run.turns) == ("triage", "ok", "Refunded A1.", 3)
    steps = load_run(path, run.id).steps
    assert [(s.kind, s.agent) for s in steps] == [
        ("request", "triage"),  # its answer: transfer_to_billing (a handoff: no tool step)
        ("request", "billing"),
        ("tool", "billing"),
        ("request", "billing"),
    ]
    assert steps[2].name == "refund" and steps[2].result == "refunded A1"


def test_a_first_schema_file_is_read_and_brought_up_to_date(tmp_path):
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE runlog_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO runlog_meta VALUES ('schema_version', '1');
        CREATE TABLE runs (id TEXT PRIMARY KEY, parent_id TEXT, parent_call_id TEXT, started REAL NOT NULL, ended REAL,
          agent TEXT, model TEXT, prompt TEXT, status TEXT NOT NULL, output TEXT, error_type TEXT, error_message TEXT,
          turns INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
          cost REAL, messages TEXT);
        CREATE TABLE steps (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, kind TEXT NOT NULL, call_id TEXT, name TEXT,
          started REAL NOT NULL, ended REAL, input_tokens INTEGER, output_tokens INTEGER, cost REAL, finish_reason TEXT,
          data TEXT, result TEXT, is_error INTEGER NOT NULL DEFAULT 0, error TEXT);
        INSERT INTO runs (id, started, ended, agent, model, prompt, status, turns)
          VALUES ('old1', 1.0, 2.0, 'a', 'm', 'p', 'ok', 1);
        INSERT INTO steps (run_id, kind, name, started, ended) VALUES ('old1', 'request', 'm', 1.0, 2.0);
        """
    )
    db.commit()
    db.close()
    (old,) = load_run(path, "old1").steps
    assert (old.kind, old.agent) == ("request", None)
    Agent(ScriptedModel(["new"]), name="b", log=path).run_sync("again")
    stored = sqlite3.connect(path).execute("SELECT value FROM runlog_meta WHERE key = 'schema_version'").fetchone()
    assert stored == (str(SCHEMA_VERSION),) and SCHEMA_VERSION == 3
    assert [r.prompt for r in list_runs(path)] == ["again", "p"]
    assert load_run(path, list_runs(path)[0].id).steps[0].agent == "b"
    assert (list_runs(path)[1].pid, list_runs(path)[0].pid) == (None, os.getpid())  # v1 run: no process known


async def test_retries_of_what_a_hook_calls_after_the_answer_are_not_the_requests(loopback, tmp_path):
    from agentkit import Hooks

    judge_server = loopback([busy(429, "0.05"), Reply(body=chat_completion("fine"))])
    judge = Agent(model(judge_server), log=False)

    class Judge(Hooks):
        async def after_model_response(self, ctx, response):
            await judge.run("judge it")  # its own retry: not a step of the logged run's request

    path = tmp_path / "hooked.db"
    server = loopback([Reply(body=chat_completion("answer"))])
    await Agent(model(server), hooks=[Judge()], log=path).run("go")
    (run,) = list_runs(path)
    assert [s.kind for s in load_run(path, run.id).steps] == ["request"]
    assert len(judge_server.requests) == 2


def test_a_prompt_with_an_image_is_recorded_as_labels_and_exports_a_test_that_passes(tmp_path):
    import base64
    import subprocess
    import sys

    from agentkit._runlog_export import export_test
    from agentkit._runlog_html import render
    from agentkit.content import BinaryContent, ImageUrl

    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
    path = tmp_path / "image.db"
    prompt = ["What is this?", BinaryContent(data=png, media_type="image/png"), ImageUrl(url="https://example.com/cat.jpg")]
    Agent(ScriptedModel(["A cat."]), name="eyes", log=path).run_sync(prompt)
    run = load_run(path, list_runs(path)[0].id)
    assert run.prompt == "What is this? [image: image/png] [image: https://example.com/cat.jpg]"
    page = render(run)
    assert "What is this? [image: image/png] [image: https://example.com/cat.jpg]" in page
    assert base64.b64encode(png).decode() not in page  # the page names the image, it does not carry it
    test = tmp_path / "test_image_run.py"
    test.write_text(export_test(run), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:]
