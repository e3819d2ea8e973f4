"""``agentkit run --log PATH``, ``agentkit logs`` (filters), ``logs show``, ``logs export --as-test``
and ``agentkit view``. Every log lives under the test's ``tmp_path``."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("click")

from click.testing import CliRunner, Result

from agentkit.cli import _app
from agentkit.runlog import list_runs

AGENT = '''
from agentkit import Agent, tool
from agentkit.testing import ScriptedModel, reply, tool_call


@tool
def get_weather(city: str) -> str:
    """Get the current weather."""
    return f"Sunny, 22 C in {city}"


@tool
def get_time(city: str) -> str:
    """Get the local time."""
    return f"12:00 in {city}"


agent = Agent(
    ScriptedModel(
        [
            reply("Let me check.", tool_call("get_weather", {"city": "Paris"}), tool_call("get_time", {"city": "Paris"})),
            reply(None, tool_call("get_weather", {"city": "Rome"})),
            "Sunny in Paris at noon, and in Rome.",
        ],
        model_name="scripted-1",
    ),
    tools=[get_weather, get_time],
    name="weather",
)
'''


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("AGENTKIT_LOG", "")  # --log sets it: restored after the test
    monkeypatch.delenv("AGENTKIT_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(_app.cli, list(args))


@pytest.fixture
def logged(tmp_path: Path) -> Path:
    """A log holding one run of the weather agent (two turns of tools, parallel calls in the first)."""
    agent_file = tmp_path / "weather_agent.py"
    agent_file.write_text(textwrap.dedent(AGENT), encoding="utf-8")
    path = tmp_path / "runs.db"
    result = invoke("run", str(agent_file), "Weather in Paris and Rome?", "--log", str(path))
    assert result.exit_code == 0, result.output
    os.environ["AGENTKIT_LOG"] = ""
    return path


def test_run_log_records_the_cli_run_and_logs_lists_it(logged: Path) -> None:
    (run,) = list_runs(logged)
    assert (run.agent, run.model, run.status, run.turns) == ("weather", "scripted-1", "ok", 3)
    result = invoke("logs", "--log", str(logged))
    assert result.exit_code == 0, result.output
    assert run.id in result.stdout and "weather" in result.stdout and "ok" in result.stdout


def test_logs_filters(logged: Path) -> None:
    assert list_runs(logged)[0].id in invoke("logs", "--log", str(logged), "--agent", "weather").stdout
    for args in (("--agent", "other"), ("--model", "nope"), ("--status", "error"), ("--since", "1m")):
        result = invoke("logs", "--log", str(logged), *args)
        if args[0] == "--since":
            assert "weather" in result.stdout
        else:
            assert result.exit_code == 0 and "weather" not in result.stdout, args
    assert "weather" not in invoke("logs", "--log", str(logged), "--since", "2999-01-01").stdout
    assert invoke("logs", "--log", str(logged), "--since", "yesterday-ish").exit_code == 2


def test_logs_show_prints_the_transcript(logged: Path) -> None:
    run_id = list_runs(logged)[0].id
    result = invoke("logs", "show", run_id[:6], "--log", str(logged))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "> Weather in Paris and Rome?"
    assert lines[2:6] == [
        "Let me check.",
        '→ get_weather(city="Paris")',
        '→ get_time(city="Paris")',
        "← get_weather: Sunny, 22 C in Paris",
    ]
    assert "Sunny in Paris at noon, and in Rome." in result.stdout
    assert "3 turns · 3 tool calls" in result.stdout


def test_logs_errors_are_one_line(tmp_path: Path, logged: Path) -> None:
    missing = invoke("logs", "--log", str(tmp_path / "none.db"))
    assert missing.exit_code != 0 and "No run log" in missing.stderr
    unknown = invoke("logs", "show", "zzzz", "--log", str(logged))
    assert unknown.exit_code != 0 and "No run 'zzzz'" in unknown.stderr
    (tmp_path / "folder.db").mkdir()
    folder = invoke("logs", "--log", str(tmp_path / "folder.db"))  # before: "OperationalError: disk I/O error"
    assert folder.exit_code != 0 and "is a folder, not a run log" in folder.stderr
    (tmp_path / "junk.db").write_bytes(b"SQLite format 3\0" + b"\xff" * 5000)
    junk = invoke("logs", "--log", str(tmp_path / "junk.db"))
    assert junk.exit_code != 0 and "is not an agentkit run log" in junk.stderr and len(junk.stderr.splitlines()) == 1


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's package)")
    return found


def dump_dom(page: Path) -> str:
    """The page as headless Chromium rendered it (its JS run)."""
    done = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(page.parent)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_view_writes_a_page_chromium_renders(logged: Path, tmp_path: Path) -> None:
    run_id = list_runs(logged)[0].id
    result = invoke("view", run_id, "--log", str(logged))
    assert result.exit_code == 0, result.output
    page = Path(result.stdout.strip())
    assert page == tmp_path / f"run-{run_id}.html"
    html = page.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # self-contained: nothing fetched
    dom = dump_dom(page)
    assert re.search(r'id="agentkit-rendered" data-bars="6"', dom), dom[-3000:]  # 3 requests + 3 tool calls
    bars = re.findall(r'<div class="bar (request|tool)[^"]*" data-kind="\w+" data-name="([\w-]*)"', dom)
    assert [b[0] for b in bars] == ["request", "tool", "tool", "request", "tool", "request"]
    assert [b[1] for b in bars if b[0] == "tool"] == ["get_weather", "get_time", "get_weather"]
    assert re.findall(r'<details class="call" open="" data-tool="(\w+)"', dom) == ["get_weather", "get_time", "get_weather"]
    assert "Sunny in Paris at noon, and in Rome." in dom


def test_result_to_html_without_a_log_has_no_timings(tmp_path: Path) -> None:
    from agentkit import Agent
    from agentkit.testing import ScriptedModel, reply, tool_call

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    model = ScriptedModel([reply(None, tool_call("add", {"a": 1, "b": 2}), tool_call("add", {"a": 3, "b": 4})), "3, 7"])
    result = Agent(model, tools=[add], log=False).run_sync("add")
    page = tmp_path / "result.html"
    page.write_text(result.to_html(), encoding="utf-8")
    dom = dump_dom(page)
    assert 'data-bars="0"' in dom and "No timings" in dom
    assert dom.count('data-tool="add"') == 2


def test_export_as_test_replays_the_run(logged: Path, tmp_path: Path) -> None:
    run_id = list_runs(logged)[0].id
    out = tmp_path / "exported" / "test_replay.py"
    result = invoke("logs", "export", run_id, "--as-test", "--log", str(logged), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.exists()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=out.parent,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 passed" in done.stdout
    # the exported test fails when the run changes: a model answer that calls another tool
    changed = out.read_text(encoding="utf-8").replace('\\\\"Rome\\\\"', '\\\\"Oslo\\\\"', 1)
    assert changed != out.read_text(encoding="utf-8")
    out.write_text(changed, encoding="utf-8")
    again = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=out.parent,
    )
    assert again.returncode == 1, again.stdout[-3000:]


def attributes(tag: str) -> dict[str, str]:
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag))


def rows(dom: str) -> list[tuple[int, str]]:
    """The timeline's rows as drawn: (indent in px, label)."""
    found = []
    for tag, text in re.findall(r'(<div class="label"[^>]*>)([^<]*)</div>', dom):
        indent = re.search(r"padding-left: (\d+)px", attributes(tag)["style"])
        found.append((int(indent[1]) if indent else 0, html.unescape(text)))
    return found


async def test_view_draws_retries_and_a_nested_sub_agent(loopback, tmp_path: Path) -> None:
    """A real run over a loopback server answering 429 then 503 (Retry-After) before its answer;
    the model calls a sub-agent (no log of its own) and a tool in parallel."""
    from agentkit import Agent
    from agentkit.models import OpenAICompatible
    from agentkit.testing import ScriptedModel, reply, tool_call
    from tests.support.server import Reply, call, chat_completion

    def busy(status: int, seconds: str) -> Reply:
        return Reply(status=status, body={"error": {"message": "later"}}, headers={"Retry-After": seconds})

    server = loopback(
        [
            busy(429, "0.3"),
            busy(503, "0.2"),
            Reply(body=chat_completion(tool_calls=[call("researcher", {"input": "find it"}, "c1"), call("clock", {}, "c2")])),
            Reply(body=chat_completion("All done.")),
        ]
    )

    def clock() -> str:
        """The time."""
        return "12:00"

    def lookup(topic: str) -> str:
        """Look a topic up."""
        return f"{topic}: found"

    researcher = Agent(
        ScriptedModel([reply(None, tool_call("lookup", {"topic": "it"}, id="l1")), "It is found."], model_name="small"),
        name="researcher",
        tools=[lookup],
    )
    path = tmp_path / "nested.db"
    agent = Agent(
        OpenAICompatible("mistral-large-2512", base_url=server.url + "/v1", api_key="sk-test-not-a-key"),
        name="lead",
        tools=[researcher.as_tool(description="Research."), clock],
        log=path,
    )
    assert (await agent.run("go")).output == "All done."
    run_id = list_runs(path)[0].id
    shown = invoke("logs", "show", run_id, "--log", str(path))
    assert "2 retries (HTTP 429, HTTP 503), 0.50 s of waiting." in shown.stdout, shown.output
    assert "Sub-agent run" in shown.stdout and "→ lookup" in shown.stdout
    result = invoke("view", run_id, "--log", str(path), "-o", str(tmp_path / "nested.html"))
    assert result.exit_code == 0, result.output
    dom = dump_dom(tmp_path / "nested.html")
    assert re.search(r'id="agentkit-rendered" data-bars="7" data-marks="2"', dom), dom[-3000:]
    assert rows(dom) == [
        (0, "request 1"),
        (0, "researcher"),
        (16, "researcher · request 1"),  # the sub-agent's run, under the call that ran it
        (16, "researcher · lookup"),
        (16, "researcher · request 2"),
        (0, "clock"),
        (0, "request 2"),
    ]
    marks = [attributes(tag) for tag in re.findall(r'<div class="mark [^>]*>', dom)]
    assert [(m["data-kind"], m["data-attempt"], m["data-status"]) for m in marks] == [
        ("retry", "1", "429"),
        ("retry", "2", "503"),
    ]
    assert [round(float(m["data-wait"]), 2) for m in marks] == [0.3, 0.2]
    assert marks[0]["title"] == "retry 1: HTTP 429 (RateLimitError), waited 0.30 s (Retry-After 0.3 s)"
    first_row = dom[dom.index('title="request 1"') :].split('<div class="row">', 1)[0]
    assert first_row.count('class="mark retry"') == 2  # drawn on the request they delayed
    assert "1 retry" not in dom and "2 retries, waited 0.50 s" in dom
    lead = re.search(
        r"left: ([\d.e-]+)%; width: ([\d.e-]+)%", attributes(re.findall(r'<div class="bar request[^>]*>', dom)[0])["style"]
    )
    spot = re.search(r"left: ([\d.e-]+)%; width: ([\d.e-]+)%", marks[0]["style"])
    assert lead and spot and float(lead[1]) <= float(spot[1]) <= float(lead[1]) + float(lead[2])


def test_a_sub_agent_run_no_tool_call_ran_is_still_drawn(tmp_path: Path) -> None:
    from agentkit._runlog_html import render
    from agentkit.runlog import LoggedRun, Step

    def logged(run_id: str, agent: str, parent_call: str | None, steps: list[Step]) -> LoggedRun:
        return LoggedRun(
            run_id,
            "top" if parent_call else None,
            parent_call,
            1.0,
            3.0,
            agent,
            "m",
            "hi",
            "ok",
            "done",
            None,
            None,
            1,
            10,
            5,
            None,
            None,
            steps,
        )

    orphan = logged("kid", "stray", "gone", [Step("request", "m", 1.5, 2.0, agent="stray")])
    top = logged("top", "main", None, [Step("request", "m", 1.0, 1.4), Step("request", "m", 2.1, 3.0)])
    top.children = [orphan]
    page = tmp_path / "orphan.html"
    page.write_text(render(top), encoding="utf-8")
    dom = dump_dom(page)
    assert re.search(r'data-bars="3"', dom)
    assert rows(dom) == [(0, "request 1"), (0, "request 2"), (16, "stray · request 1")]
    assert 'data-unmatched="1"' in dom  # and in the conversation, after the run's own messages


def test_view_names_the_agent_of_each_step_after_a_handoff(tmp_path: Path) -> None:
    from agentkit import Agent
    from agentkit.testing import ScriptedModel, reply, tool_call

    def refund(order: str) -> str:
        """Refund an order."""
        return f"refunded {order}"

    billing = Agent(
        ScriptedModel([reply(None, tool_call("refund", {"order": "A1"})), "Refunded A1."], model_name="b"),
        name="billing",
        tools=[refund],
    )  # no log of its own: the run goes on in triage's
    path = tmp_path / "handoff.db"
    triage = Agent(
        ScriptedModel([reply(None, tool_call("transfer_to_billing", {}))]), name="triage", handoffs=[billing], log=path
    )
    assert triage.run_sync("refund A1").output == "Refunded A1."
    (run,) = list_runs(path)
    assert run.status == "ok"
    result = invoke("view", run.id, "--log", str(path), "-o", str(tmp_path / "handoff.html"))
    assert result.exit_code == 0, result.output
    dom = dump_dom(tmp_path / "handoff.html")
    assert rows(dom) == [(0, "request 1"), (0, "billing · request 2"), (0, "billing · refund"), (0, "billing · request 3")]
    assert dom.count('<div class="who">assistant · billing</div>') == 2


def _pytest(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=path if path.is_dir() else path.parent,
    )


def test_export_as_test_of_structured_output_a_sub_agent_and_a_failed_run(tmp_path: Path) -> None:
    """Each exported test passes; the failed run's test expects the same failure after the same
    calls, and fails when the recorded tool calls change."""
    from pydantic import BaseModel

    from agentkit import Agent
    from agentkit.testing import ScriptedModel, reply, tool_call

    class City(BaseModel):
        name: str
        population: int

    def look(city: str) -> str:
        """Look a city up."""
        return f"big {city}"

    def boom() -> str:
        """Fail."""
        raise RuntimeError("kaput")

    path = tmp_path / "kinds.db"
    parallel = reply(None, tool_call("look", {"city": "Paris"}), tool_call("look", {"city": "Rome"}))
    structured = Agent(
        ScriptedModel([parallel, '{"name": "Paris", "population": 2}']), tools=[look], output_type=City, name="struct", log=path
    )
    assert structured.run_sync("biggest?").output == City(name="Paris", population=2)
    helper = Agent(ScriptedModel([reply(None, tool_call("look", {"city": "Oslo"})), "inner"]), tools=[look], name="helper")
    boss = Agent(
        ScriptedModel([reply(None, tool_call("helper", {"input": "go"})), "outer"]),
        tools=[helper.as_tool(description="Helps.")],
        name="boss",
        log=path,
    )
    boss.run_sync("delegate")
    failing = Agent(
        ScriptedModel([reply(None, tool_call("boom", {})), ValueError("model down")]), tools=[boom], name="failing", log=path
    )
    with pytest.raises(ValueError):
        failing.run_sync("try")
    out = tmp_path / "exported"
    for name in ("struct", "boss", "failing"):
        run_id = list_runs(path, agent=name)[0].id
        result = invoke("logs", "export", run_id, "--as-test", "--log", str(path), "-o", str(out / f"test_{name}.py"))
        assert result.exit_code == 0, result.output
    done = _pytest(out)
    assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout[-3000:]
    failed = out / "test_failing.py"
    failed.write_text(failed.read_text(encoding="utf-8").replace('"name":"boom"', '"name":"look"', 1), encoding="utf-8")
    again = _pytest(failed)
    assert again.returncode == 1, again.stdout[-3000:]


HOSTILE = '</script><script>document.title="PWNED";alert(1)</script><img src=x onerror="document.title=\'PWNED\'">\u2028\u2029'


def rendered(page: Path) -> tuple[str, str]:
    """The DOM headless Chromium rendered, and what the page wrote to its console (errors included)."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=2000", "--enable-logging=stderr", "--v=0"]
    done = subprocess.run(
        [chromium(), *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(page.parent)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, "\n".join(line for line in done.stderr.splitlines() if ":CONSOLE" in line)


def test_hostile_names_and_texts_are_inert_on_the_page(tmp_path: Path) -> None:
    from agentkit import Agent
    from agentkit.testing import ScriptedModel, reply, tool_call

    def echo(text: str) -> str:
        """Echo."""
        return HOSTILE + text

    path = tmp_path / "hostile.db"
    model = ScriptedModel(
        [reply(HOSTILE, tool_call("echo", {"text": HOSTILE}), tool_call(HOSTILE, {HOSTILE: HOSTILE})), HOSTILE],
        model_name=HOSTILE,
    )
    result = Agent(model, tools=[echo], name=HOSTILE, log=path).run_sync(HOSTILE)
    run_id = list_runs(path)[0].id
    assert invoke("view", run_id, "--log", str(path), "-o", str(tmp_path / "hostile.html")).exit_code == 0
    (tmp_path / "result.html").write_text(result.to_html(), encoding="utf-8")
    for page in (tmp_path / "hostile.html", tmp_path / "result.html"):
        dom, console = rendered(page)
        assert console == "", console  # no script error, no alert
        assert "<img" not in dom and "<title>agentkit run" in dom  # no element made, the title untouched
        assert 'data-bars="3"' in dom  # 2 requests and the call of echo (the unknown tool ran nothing)
        assert "PWNED" in html.unescape(dom)  # shown as text


def test_a_run_of_500_steps_renders(tmp_path: Path) -> None:
    from agentkit import Agent
    from agentkit.testing import ScriptedModel, reply, tool_call

    def step(i: int) -> str:
        """One step."""
        return str(i)

    answers = [reply(None, tool_call("step", {"i": i}, id=f"c{i}")) for i in range(250)] + ["done"]
    path = tmp_path / "long.db"
    Agent(ScriptedModel(answers), tools=[step], max_turns=300, log=path).run_sync("go")
    assert invoke("view", list_runs(path)[0].id, "--log", str(path), "-o", str(tmp_path / "long.html")).exit_code == 0
    dom, console = rendered(tmp_path / "long.html")
    assert console == "", console
    assert 'data-bars="501"' in dom and dom.count('<details class="call"') == 250


def test_export_of_a_run_whose_model_name_ends_the_docstring_runs_no_code(tmp_path: Path) -> None:
    """The model's name comes from the provider's answer: before, one holding triple quotes was
    written as is in the test file's docstring, and pytest ran what followed."""
    from agentkit import Agent
    from agentkit.testing import ScriptedModel, reply

    answer = reply("hi")
    answer.model_name = 'x"""\nraise SystemExit("INJECTED")\n"""'
    path = tmp_path / "inj.db"
    Agent(ScriptedModel([answer]), name='a"""b', log=path).run_sync("q")
    out = tmp_path / "exported" / "test_inj.py"
    assert invoke("logs", "export", list_runs(path)[0].id, "--as-test", "--log", str(path), "-o", str(out)).exit_code == 0
    done = _pytest(out)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:]
    assert "INJECTED" not in done.stdout


def test_logs_and_logs_show_print_no_terminal_control_characters(tmp_path: Path) -> None:
    """A model's name and answer (the provider's) with ESC sequences: before, they reached the
    terminal as is (retitle the window, clear the screen, forge a hyperlink)."""
    from agentkit import Agent
    from agentkit.testing import ScriptedModel, reply

    answer = reply("answer \x1b]0;HIJACK\x07 \x1b[2J \x9b31m")
    answer.model_name = "m\x1b[31mRED\x1b]8;;http://evil/\x1b\\"
    path = tmp_path / "esc.db"
    Agent(ScriptedModel([answer]), name="a\x1b[1m", log=path).run_sync("q\x1b[2J")
    listed = invoke("logs", "--log", str(path))
    shown = invoke("logs", "show", list_runs(path)[0].id, "--log", str(path))
    for result in (listed, shown):
        assert result.exit_code == 0, result.output
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.stdout), repr(result.stdout)
    assert "HIJACK" in shown.stdout and "RED" in listed.stdout  # shown, made inert
