"""The ``agentkit`` command line: run, chat, tools, batch (CliRunner, plus one real console-script run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")

from click.testing import CliRunner, Result

from agentkit import _providers
from agentkit.cli import _app
from agentkit.testing import Scripted, ScriptedModel, reply, tool_call

ROOT = Path(__file__).parent.parent

TOOLS = '''
from agentkit import Agent, tool
from agentkit.testing import Scripted, ScriptedModel, reply, tool_call


@tool
def get_weather(city: str) -> str:
    """Get the current weather.

    Args:
        city: City name.
    """
    return f"Sunny, 22 C in {city}"
'''


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(_app.cli, list(args), input=input)


def assert_one_line_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def weather_file(tmp_path: Path) -> Path:
    """An agent that calls get_weather, then answers."""
    return write(
        tmp_path,
        "weather_agent.py",
        TOOLS
        + """
agent = Agent(
    ScriptedModel([reply("Let me check.", tool_call("get_weather", {"city": "Paris"})), "It is sunny in Paris."]),
    tools=[get_weather],
)
""",
    )


@pytest.fixture
def echo_file(tmp_path: Path) -> Path:
    """An agent that repeats the prompt it got; it prints at import time (like examples/quickstart.py)."""
    return write(
        tmp_path,
        "echo_agent.py",
        """
        from agentkit import Agent
        from agentkit.testing import ScriptedModel

        print("importing echo_agent")
        agent = Agent(ScriptedModel([lambda request: f"you said: {request.messages[-1].content}"]))
        other = Agent(ScriptedModel(["I am the other agent."]), name="other")
        """,
    )


# --- packaging ---------------------------------------------------------------------------------


def test_import_agentkit_does_not_import_the_cli() -> None:
    code = "import sys, agentkit; bad = [m for m in ('click', 'rich', 'agentkit.cli') if m in sys.modules]; print(bad)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_without_click_one_line_says_what_to_install(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from agentkit.cli import main

    monkeypatch.setitem(sys.modules, "click", None)  # import click → ImportError
    with pytest.raises(SystemExit) as info:
        main(["run", "x.py"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'agentkit-loop[cli]'" in err[0]


def test_console_script_runs_the_quickstart_offline() -> None:
    script = shutil.which("agentkit", path=str(Path(sys.executable).parent)) or shutil.which("agentkit")
    assert script is not None, "the agentkit console script is not installed: pip install -e '.[dev]'"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "AGENTKIT_MODEL")}
    done = subprocess.run(
        [script, "run", "examples/quickstart.py", "Weather in Paris?"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert '→ get_weather(city="Paris")' in out  # the offline stand-in calls the tools as a model would
    assert "← get_weather: Sunny, 22 C in Paris" in out
    assert "← multiply: 391.0" in out
    assert "Sunny, 22 C in Paris, and 17 * 23 = 391." in out
    assert "2 turns · 2 tool calls ·" in out.splitlines()[-1] and "tokens" in out.splitlines()[-1]


# --- run ---------------------------------------------------------------------------------------


def test_run_streams_text_tool_calls_results_and_a_final_line(weather_file: Path) -> None:
    result = invoke("run", str(weather_file), "Weather in Paris?")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Let me check."
    assert lines[1] == '→ get_weather(city="Paris")'
    assert lines[2] == "← get_weather: Sunny, 22 C in Paris"
    assert lines[3] == "It is sunny in Paris."
    assert "2 turns · 1 tool call · 0 tokens (0 in, 0 out)" in lines[4]


def test_run_without_streaming_shows_the_same(weather_file: Path) -> None:
    result = invoke("run", str(weather_file), "Weather in Paris?", "--no-stream")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:4] == [
        "Let me check.",
        '→ get_weather(city="Paris")',
        "← get_weather: Sunny, 22 C in Paris",
        "It is sunny in Paris.",
    ]


def test_run_reads_the_prompt_from_stdin(echo_file: Path) -> None:
    result = invoke("run", str(echo_file), input="hello from stdin\n")
    assert result.exit_code == 0, result.output
    assert "you said: hello from stdin" in result.stdout
    assert invoke("run", str(echo_file), input="  \n").exit_code == 2


def test_run_json_is_one_document_with_output_usage_and_messages(echo_file: Path) -> None:
    result = invoke("run", str(echo_file), "hi", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # the file's print went to stderr
    assert doc["output"] == "you said: hi"
    assert doc["usage"]["requests"] == 1
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant"]
    assert "importing echo_agent" in result.stderr


def test_run_json_dumps_structured_output(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "city_agent.py",
        """
        from pydantic import BaseModel
        from agentkit import Agent
        from agentkit.testing import ScriptedModel

        class City(BaseModel):
            name: str
            population: int

        agent = Agent(ScriptedModel(['{"name": "Paris", "population": 2100000}']), output_type=City)
        """,
    )
    result = invoke("run", str(path), "Largest city?", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output"] == {"name": "Paris", "population": 2100000}
    shown = invoke("run", str(path), "Largest city?")  # the display prints the validated output as JSON, once
    assert shown.stdout.count('"name": "Paris"') == 1 and '"population": 2100000' in shown.stdout


def test_run_shows_re_asks_and_hides_the_output_tool(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "reask_agent.py",
        """
        from pydantic import BaseModel
        from agentkit import Agent
        from agentkit.testing import ScriptedModel, reply, tool_call

        class City(BaseModel):
            name: str

        native = Agent(ScriptedModel(["Paris!", '{"name": "Paris"}']), output_type=City)
        final = reply(None, tool_call("final_result", {"name": "Lyon"}))
        as_tool = Agent(ScriptedModel([final]), output_type=City, output_mode="tool")
        """,
    )
    for stream in ("--stream", "--no-stream"):
        result = invoke("run", f"{path}:native", "City?", stream)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[0] == "↻ the answer did not match the output type; the model was asked again"
        assert "Paris!" not in result.stdout and '"name": "Paris"' in result.stdout
        assert "2 turns" in result.stdout.splitlines()[-1]
    result = invoke("run", f"{path}:as_tool", "City?")
    assert result.exit_code == 0, result.output
    assert "final_result" not in result.stdout and '"name": "Lyon"' in result.stdout


def test_run_picks_another_agent(echo_file: Path) -> None:
    for args in (["run", str(echo_file), "hi", "--agent", "other"], ["run", f"{echo_file}:other", "hi"]):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert "I am the other agent." in result.stdout


def test_run_with_model_test_replaces_the_agents_model(weather_file: Path) -> None:
    result = invoke("run", str(weather_file), "Weather?", "--model", "test")
    assert result.exit_code == 0, result.output
    assert '→ get_weather(city="example")' in result.stdout
    assert "Tool results: get_weather -> Sunny, 22 C in example" in result.stdout


def test_run_marks_error_results_the_model_retries_after(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "retry_agent.py",
        TOOLS
        + """
agent = Agent(
    ScriptedModel([
        reply(None, tool_call("get_weather", {"town": "Paris"})),
        reply(None, tool_call("get_weather", {"city": "Paris"})),
        "Sunny.",
    ]),
    tools=[get_weather],
)
""",
    )
    result = invoke("run", str(path), "Weather?")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith("✗ get_weather: Invalid arguments for tool 'get_weather':")
    assert "← get_weather: Sunny, 22 C in Paris" in lines
    assert "3 turns" in lines[-1]


def test_run_collapses_long_results(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "long_agent.py",
        '''
        from agentkit import Agent, tool
        from agentkit.testing import Scripted, ScriptedModel, reply, tool_call

        @tool
        def dump() -> str:
            """Dump a lot."""
            return "\\n".join(f"line {i}" for i in range(50))

        agent = Agent(ScriptedModel([reply(None, tool_call("dump")), "ok"]), tools=[dump])
        ''',
    )
    result = invoke("run", str(path), "go")
    assert result.exit_code == 0, result.output
    assert "line 3" in result.stdout and "line 4\n" not in result.stdout
    assert "… 46 more lines" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "missing.py", "hi"], "No such file: missing.py"),
        (["run", "{empty}", "hi"], "has no module-level Agent"),
        (["run", "{weather}", "hi", "--model", "gpt-4o"], "is not of the form 'provider:model'"),
        (["run", "{weather}", "hi", "--model", "openai:gpt-4o-mini"], "OPENAI_API_KEY"),
        (["run", "{needs_key}", "hi"], "OPENAI_API_KEY"),
        (["run", "{broken}", "hi"], "Importing"),
        (["run", "{weather}", "hi", "--agent", "nope"], "no module-level Agent named 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, weather_file: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    files = {
        "weather": str(weather_file),
        "empty": str(write(tmp_path, "empty.py", "x = 1\n")),
        "needs_key": str(write(tmp_path, "needs_key.py", 'from agentkit import Agent\nagent = Agent("openai:gpt-4o-mini")\n')),
        "broken": str(write(tmp_path, "broken.py", "raise RuntimeError('broken at import')\n")),
    }
    result = invoke(*[a.format(**files) for a in args])
    assert_one_line_error(result, 2, fragment)


def test_debug_shows_the_traceback(weather_file: Path) -> None:
    result = invoke("run", str(weather_file), "hi", "--model", "openai:gpt-4o-mini", "--debug")
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr and "MissingAPIKeyError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: No API key for OpenAI")


def test_provider_errors_are_one_line_with_the_providers_message_and_exit_1(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "failing_agent.py",
        """
        from agentkit import Agent
        from agentkit.errors import AuthenticationError
        from agentkit.testing import ScriptedModel

        error = AuthenticationError("Incorrect API key provided.", status=401, provider="openai", code="invalid_api_key")
        agent = Agent(ScriptedModel([error]))
        """,
    )
    result = invoke("run", str(path), "hi")
    assert_one_line_error(result, 1, "openai HTTP 401: Incorrect API key provided. (code=invalid_api_key)")


APPROVAL_FILE = '''
from agentkit import Agent, tool
from agentkit.testing import Scripted, ScriptedModel, reply, tool_call

@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: The file.
    """
    return f"deleted {path}"

def last_tool_result(request):
    return "Result was: " + request.messages[-1].content

agent = Agent(ScriptedModel([reply(None, tool_call("delete_file", {"path": "a.txt"})), last_tool_result]), tools=[delete_file])
'''


def test_run_denies_approvals_without_a_terminal_and_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "approval_agent.py", APPROVAL_FILE)
    result = invoke("run", str(path), "clean up")
    assert result.exit_code == 0, result.output
    assert '✗ denied delete_file(path="a.txt"): stdin is not a terminal' in result.stdout
    assert "Result was: The user denied this call: the user could not be asked (no terminal)" in result.stdout


def test_run_asks_y_n_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "approval_agent2.py", APPROVAL_FILE)
    monkeypatch.setattr(_app, "stdin_is_tty", lambda: True)
    result = invoke("run", str(path), "clean up", input="y\n")
    assert result.exit_code == 0, result.output
    assert 'Allow delete_file(path="a.txt")? [y/N]' in result.stderr
    assert "Result was: deleted a.txt" in result.stdout


def test_run_yes_approves_without_asking(tmp_path: Path) -> None:
    path = write(tmp_path, "approval_agent3.py", APPROVAL_FILE)
    result = invoke("run", str(path), "clean up", "--yes")
    assert result.exit_code == 0, result.output
    assert "Allow" not in result.output and "Result was: deleted a.txt" in result.stdout


# --- chat --------------------------------------------------------------------------------------


@pytest.fixture
def chat_model(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[Scripted]], ScriptedModel]:
    """``chat_model([...])``: a ScriptedModel that ``--model clitest:x`` resolves to (for this test only)."""

    def make(responses: list[Scripted]) -> ScriptedModel:
        model = ScriptedModel(responses)
        monkeypatch.setitem(_providers._REGISTRY, "clitest", _providers.Provider("clitest", "clitest", chat=lambda name: model))
        return model

    return make


def test_chat_keeps_history_and_quit_ends(tmp_path: Path, chat_model: Callable[[list[Scripted]], ScriptedModel]) -> None:
    model = chat_model(["Hello, Ada.", "Your name is Ada."])
    result = invoke("chat", "--model", "clitest:x", "--system", "Be brief.", input="I am Ada.\nWhat is my name?\nquit\nignored\n")
    assert result.exit_code == 0, result.output
    assert "Hello, Ada." in result.stdout and "Your name is Ada." in result.stdout
    assert len(model.requests) == 2
    second = [(m.role, m.content) for m in model.requests[1].messages]
    assert second == [
        ("system", "Be brief."),
        ("user", "I am Ada."),
        ("assistant", "Hello, Ada."),
        ("user", "What is my name?"),
    ]


def test_chat_ends_at_end_of_input_and_defaults_to_the_test_model(tmp_path: Path) -> None:
    tools = write(tmp_path, "chat_tools.py", TOOLS)
    result = invoke("chat", "--tools", str(tools), input="Weather?\n")
    assert result.exit_code == 0, result.output
    assert "offline test model" in result.stderr and "--model provider:model" in result.stderr
    assert '→ get_weather(city="example")' in result.stdout
    assert "← get_weather: Sunny, 22 C in example" in result.stdout
    assert "Session: 1 answer" in result.stderr


def test_chat_approval_answered_n_sends_a_denial(tmp_path: Path, chat_model: Callable[[list[Scripted]], ScriptedModel]) -> None:
    tools = write(tmp_path, "chat_approval.py", APPROVAL_FILE)
    model = chat_model([reply(None, tool_call("delete_file", {"path": "a.txt"}, id="d1")), "OK, I did not delete it."])
    result = invoke("chat", "-m", "clitest:x", "--tools", str(tools), input="delete a.txt\nn\nexit\n")
    assert result.exit_code == 0, result.output
    assert 'Allow delete_file(path="a.txt")? [y/N]' in result.stderr
    assert "✗ delete_file: The user denied this call." in result.stdout
    sent = model.requests[1].messages[-1]
    assert sent.role == "tool" and sent.content.startswith("The user denied this call")


def test_chat_loads_tools_from_a_module_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "chat_mod_tools.py", TOOLS)
    monkeypatch.chdir(tmp_path)
    result = invoke("chat", "--model", "test", "--tools", "chat_mod_tools", input="hi\n")
    assert result.exit_code == 0, result.output
    assert "← get_weather: Sunny" in result.stdout
    assert_one_line_error(invoke("chat", "--tools", "no_such_module_xyz", input=""), 2, "No module named 'no_such_module_xyz'")


def test_chat_provider_error_keeps_the_session(tmp_path: Path, chat_model: Callable[[list[Scripted]], ScriptedModel]) -> None:
    from agentkit.errors import RateLimitError

    model = chat_model([RateLimitError("Slow down.", status=429, provider="openrouter"), "Second try works."])
    result = invoke("chat", "-m", "clitest:x", input="one\ntwo\n")
    assert result.exit_code == 0, result.output
    assert "error: openrouter HTTP 429: Slow down." in result.stderr
    assert "Second try works." in result.stdout
    assert [m.content for m in model.requests[1].messages] == ["two"]  # the failed turn is not in the history


def test_chat_mcp_without_mcp_support_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path, "mcp.json", '{"mcpServers": {}}')
    monkeypatch.setitem(sys.modules, "agentkit.mcp", None)  # as if agentkit.mcp or the mcp extra were missing
    result = invoke("chat", "--mcp", str(config), input="")
    assert_one_line_error(result, 2, "pip install 'agentkit-loop[mcp]'")
    assert_one_line_error(invoke("chat", "--mcp", str(tmp_path / "nope.json")), 2, "No such file")


# --- tools -------------------------------------------------------------------------------------

TOOLS_TO_CHECK = '''
from agentkit import tool

@tool
def get_weather(city: str) -> str:
    """Get the current weather.

    Args:
        city: City name.
    """
    return "Sunny"

@tool
def lookup(key: str, filters: dict[str, str]) -> str:
    return "x"
'''


def test_tools_prints_schemas_per_provider_and_flags_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "checked_tools.py", TOOLS_TO_CHECK)
    result = invoke("tools", str(path), "--provider", "openai", "--provider", "mistral")
    assert result.exit_code == 0, result.output  # warnings only
    out = result.stdout
    assert out.count("─ openai ─") == 1 and out.count("─ mistral ─") == 1 and "─ openrouter ─" not in out
    first = json.loads(out.split("─ openai ─")[1].split("\n", 1)[1].split("───")[0])
    assert [t["function"]["name"] for t in first] == ["get_weather", "lookup"]
    assert first[0]["function"]["parameters"]["properties"]["city"] == {"description": "City name.", "type": "string"}
    assert "WARNING lookup" in out
    assert "WARNING lookup  no description" in out
    assert "parameter 'key' has no description" in out and "parameter 'filters' has no description" in out
    assert "cannot be strict: strict mode cannot express objects with free-form keys" in out
    assert "get_weather  " not in out.split("─ problems ─")[1]
    assert "2 tools, 4 warnings" in out.splitlines()[-1]


def test_tools_strict_shows_strict_schemas_and_fails_on_what_cannot_be(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "strict_tools.py", TOOLS_TO_CHECK)
    monkeypatch.chdir(tmp_path)
    result = invoke("tools", "strict_tools", "--strict", "--provider", "all")
    assert result.exit_code == 1
    out = result.stdout
    for provider in ("openai", "openrouter", "mistral", "openai-compatible"):
        assert f"─ {provider} ─" in out
    schemas = json.loads(out.split("─ openrouter ─")[1].split("\n", 1)[1].split("───")[0])
    assert schemas[0]["function"]["strict"] is True and "strict" not in schemas[1]["function"]
    assert "ERROR   lookup  cannot be strict" in out
    assert "1 error, 3 warnings" in out.splitlines()[-1]


def test_tools_without_tools_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "no_tools.py", "x = 1\n")
    assert_one_line_error(invoke("tools", str(path)), 2, "No tools in")


# --- batch -------------------------------------------------------------------------------------

BATCH_FILE = """
from agentkit import Agent
from agentkit.errors import BadRequestError
from agentkit.models.base import Model, ModelResponse
from agentkit.messages import AssistantMessage
from agentkit.usage import Usage

class Upper(Model):
    model_name = "upper"
    provider = "test"

    async def request(self, request):
        prompt = request.messages[-1].content
        if "fail" in prompt:
            raise BadRequestError("cannot do that", status=400, provider="test")
        return ModelResponse(AssistantMessage(content=prompt.upper()), Usage(total_tokens=3, requests=1))

agent = Agent(Upper())
"""


def test_batch_writes_results_and_resumes(tmp_path: Path) -> None:
    agent = write(tmp_path, "batch_agent.py", BATCH_FILE)
    inputs = write(tmp_path, "in.jsonl", '"one"\n{"prompt": "two", "id": "b"}\n\n"three"\n')
    out = tmp_path / "out.jsonl"
    first = invoke("batch", str(agent), str(inputs), "--out", str(out), "--concurrency", "2", "--rpm", "6000")
    assert first.exit_code == 0, first.output
    assert "3 done, 0 skipped, 0 failed" in first.stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["output"] for r in records) == ["ONE", "THREE", "TWO"]
    assert any(r["id"] == "b" for r in records)

    with inputs.open("a") as f:
        f.write('"four"\n')
    second = invoke("batch", str(agent), str(inputs), "--out", str(out))
    assert second.exit_code == 0, second.output
    assert "1 done, 3 skipped, 0 failed" in second.stdout
    assert len(out.read_text().splitlines()) == 4


def test_batch_failures_exit_1(tmp_path: Path) -> None:
    agent = write(tmp_path, "batch_agent2.py", BATCH_FILE)
    inputs = write(tmp_path, "in.jsonl", '"ok"\n{"prompt": "please fail", "id": "bad"}\n')
    result = invoke("batch", str(agent), str(inputs), "--out", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 1, result.output
    assert "FAILED bad: BadRequestError: test HTTP 400: cannot do that" in result.stdout
    assert "1 done, 0 skipped, 1 failed" in result.stdout


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('"one"\n{"prompt": \n', "in.jsonl:2: not valid JSON"),
        ('"one"\n42\n', 'in.jsonl:2: expected a JSON string or an object with a "prompt" string'),
        ('{"text": "no prompt"}\n', "in.jsonl:1: expected"),
        ("\n", "has no inputs"),
        ('{"prompt": "a", "id": 1}\n{"prompt": "b", "id": 1}\n', "ids must be unique"),
    ],
)
def test_batch_invalid_jsonl_is_one_line_and_exit_2(tmp_path: Path, content: str, fragment: str) -> None:
    agent = write(tmp_path, "batch_agent3.py", BATCH_FILE)
    inputs = write(tmp_path, "in.jsonl", content)
    result = invoke("batch", str(agent), str(inputs), "--out", str(tmp_path / "out.jsonl"))
    assert_one_line_error(result, 2, fragment)
