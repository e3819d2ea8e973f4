"""``--base-url``: the command line reaches any OpenAI-compatible server, no environment needed."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")

from click.testing import CliRunner, Result

from agentkit.cli import _app
from tests.support.server import Reply, call, chat_completion

AGENT_FILE = '''
from agentkit import Agent, tool


@tool
def get_weather(city: str) -> str:
    """Get the current weather.

    Args:
        city: City name.
    """
    return f"Sunny, 22 C in {city}"


agent = Agent("openai:gpt-4o-mini", tools=[get_weather])
'''

TOOLS_FILE = AGENT_FILE.replace('agent = Agent("openai:gpt-4o-mini", tools=[get_weather])', "")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AGENTKIT_MODEL", "AGENTKIT_BASE_URL", "AGENTKIT_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(_app.cli, list(args), input=input)


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def tool_round_trip() -> list[Reply]:
    return [
        Reply(body=chat_completion(None, [call("get_weather", {"city": "Paris"}, "call_a")])),
        Reply(body=chat_completion("It is sunny in Paris.")),
    ]


def test_run_reaches_an_openai_compatible_server_by_base_url_and_model_name(tmp_path, loopback):
    server = loopback(tool_round_trip())
    agent_file = write(tmp_path, "weather_agent.py", AGENT_FILE)
    result = invoke("run", str(agent_file), "Weather in Paris?", "--base-url", server.url + "/v1", "-m", "qwen2.5:7b", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["output"] == "It is sunny in Paris." and document["model"] == "loopback-model"
    assert [r.path for r in server.requests] == ["/v1/chat/completions"] * 2
    assert [b["model"] for b in server.bodies()] == ["qwen2.5:7b"] * 2  # the name as is, colon and all
    assert "authorization" not in server.requests[0].headers  # a local server needs no key
    assert server.bodies()[1]["messages"][-2]["content"] == ""  # the generic profile


def test_run_streams_and_sends_a_key_from_agentkit_api_key(tmp_path, loopback, monkeypatch):
    monkeypatch.setenv("AGENTKIT_API_KEY", "sk-local-123")
    server = loopback(tool_round_trip())
    agent_file = write(tmp_path, "weather_agent.py", AGENT_FILE)
    result = invoke("run", str(agent_file), "Weather?", "--base-url", server.url + "/v1", "-m", "openai-compatible:gemma")
    assert result.exit_code == 0, result.output
    assert "It is sunny in Paris." in result.stdout
    assert [b["model"] for b in server.bodies()] == ["gemma"] * 2
    assert server.requests[0].headers["authorization"] == "Bearer sk-local-123"


def test_base_url_from_the_environment_and_in_batch(tmp_path, loopback, monkeypatch):
    server = loopback(tool_round_trip())
    monkeypatch.setenv("AGENTKIT_BASE_URL", server.url + "/v1")
    agent_file = write(tmp_path, "weather_agent.py", AGENT_FILE)
    inputs = write(tmp_path, "in.jsonl", '"Weather in Paris?"\n')
    out = tmp_path / "out.jsonl"
    result = invoke("batch", str(agent_file), str(inputs), "--out", str(out), "-m", "local-model")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text().splitlines()[0])["output"] == "It is sunny in Paris."
    assert [b["model"] for b in server.bodies()] == ["local-model"] * 2


def test_chat_reaches_an_openai_compatible_server(tmp_path, loopback):
    server = loopback(tool_round_trip())
    tools = write(tmp_path, "chat_tools.py", TOOLS_FILE)
    result = invoke(
        "chat", "--base-url", server.url + "/v1", "-m", "llama3.1:8b", "--tools", str(tools), input="Weather?\nexit\n"
    )
    assert result.exit_code == 0, result.output
    assert "offline test model" not in result.stderr
    assert "It is sunny in Paris." in result.stdout
    assert [b["model"] for b in server.bodies()] == ["llama3.1:8b"] * 2


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--base-url", "http://127.0.0.1:9/v1"), "--base-url needs --model NAME"),
        (("--base-url", "127.0.0.1:8080/v1", "-m", "x"), "must be an http:// or https:// URL"),
    ],
)
def test_base_url_mistakes_are_one_line_errors(tmp_path, args, fragment):
    agent_file = write(tmp_path, "weather_agent.py", AGENT_FILE)
    result = invoke("run", str(agent_file), "hi", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
