"""The CLI on an agent file that names a real provider, with no API key anywhere: listing its tools
and running it with ``-m test`` need no key (it is checked at a model's first request)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")

from click.testing import CliRunner

from agentkit.cli import _app

ROOT = Path(__file__).parent.parent

AGENT = '''
from agentkit import Agent, tool


@tool
def get_weather(city: str) -> str:
    """Get the current weather.

    Args:
        city: City name.
    """
    return f"Sunny in {city}"


agent = Agent("openai:gpt-4o-mini", tools=[get_weather])
'''


@pytest.fixture
def agent_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "MISTRAL_API_KEY", "AGENTKIT_MODEL"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "keyless_agent.py"
    path.write_text(textwrap.dedent(AGENT), encoding="utf-8")
    return path


def test_tools_lists_an_agent_that_names_openai_without_a_key(agent_file: Path) -> None:
    result = CliRunner().invoke(_app.cli, ["tools", str(agent_file)])
    assert result.exit_code == 0, result.output
    schemas = json.loads(result.stdout.split("─ openai ─")[1].split("\n", 1)[1].split("───")[0])
    assert [t["function"]["name"] for t in schemas] == ["get_weather"]


def test_run_with_model_test_runs_an_agent_that_names_openai_without_a_key(agent_file: Path) -> None:
    result = CliRunner().invoke(_app.cli, ["run", str(agent_file), "Weather in Paris?", "-m", "test"])
    assert result.exit_code == 0, result.output
    assert "Tool results: get_weather -> Sunny in example" in result.stdout


def test_run_without_model_test_still_says_which_key_is_missing(agent_file: Path) -> None:
    result = CliRunner().invoke(_app.cli, ["run", str(agent_file), "Weather in Paris?"])
    assert result.exit_code == 2
    assert "OPENAI_API_KEY" in result.stderr and "Traceback" not in result.output


def test_the_console_script_in_a_keyless_environment(agent_file: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AGENTKIT_MODEL"}
    for args in (["tools", str(agent_file)], ["run", str(agent_file), "Weather?", "-m", "test"]):
        done = subprocess.run(
            [sys.executable, "-m", "agentkit.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "get_weather" in done.stdout
