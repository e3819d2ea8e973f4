"""What the command line tells a newcomer: every tool that cannot be defined at once, and a missing
key with what to do about it on the command line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")

from click.testing import CliRunner, Result

from agentkit.cli import _app

BAD_TOOLS = '''
from __future__ import annotations

import socket

from agentkit import Agent, tool


@tool
def get_weather(city: str) -> str:
    """Get the current weather.

    Args:
        city: City name.
    """
    return f"Sunny in {city}"


@tool(name="bad name")
def first(x: int) -> int:
    """First.

    Args:
        x: A number.
    """
    return x


@tool(name="also bad!")
def second(x: int) -> int:
    """Second.

    Args:
        x: A number.
    """
    return x


@tool
def connect(sock: socket.socket) -> str:
    """Use a socket.

    Args:
        sock: The socket.
    """
    return "ok"


agent = Agent("test", tools=[get_weather, first, second, connect])  # uses the failed names: skipped


@tool
def last(text: str) -> str:
    """Echo.

    Args:
        text: The text.
    """
    return text
'''


def invoke(*args: str) -> Result:
    return CliRunner().invoke(_app.cli, list(args))


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def _problems(result: Result) -> list[str]:
    return [line for line in result.stdout.split("─ problems ─")[1].splitlines()[1:] if line.startswith(("ERROR", "WARNING"))]


def test_tools_strict_lists_every_tool_that_cannot_be_defined(tmp_path: Path) -> None:
    path = write(tmp_path, "bad_tools.py", BAD_TOOLS)
    result = invoke("tools", str(path), "--strict")
    assert result.exit_code == 1, result.output
    problems = _problems(result)
    assert len(problems) == 3, problems
    assert problems[0].startswith("ERROR   first") and "Tool name 'bad name' is not allowed" in problems[0]
    decorator = path.read_text(encoding="utf-8").splitlines().index('@tool(name="bad name")') + 1
    assert f"(line {decorator})" in problems[0]
    assert problems[1].startswith("ERROR   second") and "Tool name 'also bad!' is not allowed" in problems[1]
    assert problems[2].startswith("ERROR   connect") and "parameter 'sock' has type socket.socket" in problems[2]
    # the tools that could be defined, before and after the bad ones, are still shown and checked
    assert '"name": "get_weather"' in result.stdout and '"name": "last"' in result.stdout
    assert "2 tools, 3 errors" in result.stdout.splitlines()[-1]


def test_tools_lists_them_for_a_module_name_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "bad_tools_module.py", BAD_TOOLS)
    monkeypatch.chdir(tmp_path)
    result = invoke("tools", "bad_tools_module")
    assert result.exit_code == 1, result.output
    assert [p.split()[1] for p in _problems(result)] == ["first", "second", "connect"]


def test_a_failure_of_its_own_after_a_bad_tool_is_still_an_import_error(tmp_path: Path) -> None:
    body = BAD_TOOLS + "\nprint(undefined_name)\n"
    path = write(tmp_path, "broken_tools.py", body)
    result = invoke("tools", str(path))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Importing") and "undefined_name" in lines[0], result.stderr


def test_a_missing_key_says_what_to_do_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "AGENTKIT_MODEL"):
        monkeypatch.delenv(var, raising=False)
    path = write(tmp_path, "needs_key.py", 'from agentkit import Agent\nagent = Agent("openai:gpt-4o-mini")\n')
    result = invoke("run", str(path), "hi")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        "error: No API key for OpenAI: set the environment variable OPENAI_API_KEY, "
        "or run offline on the test model with -m test."
    )
    assert "api_key=" not in lines[0]  # a keyword argument the command line cannot pass
    assert invoke("run", str(path), "hi", "-m", "test").exit_code == 0  # and the advice works
