"""``deps_type`` drives typing (issue 12, item 6): mypy --strict on a snippet that uses the public API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SNIPPET = textwrap.dedent(
    '''
    from __future__ import annotations

    from dataclasses import dataclass

    from pydantic import BaseModel

    from agentkit import Agent, RunContext, tool


    @dataclass
    class Deps:
        user: str = "ann"


    class City(BaseModel):
        name: str


    @tool
    def whoami(ctx: RunContext[Deps]) -> str:
        """Who is asking."""
        return ctx.deps.user


    agent = Agent("test", tools=[whoami], deps_type=Deps, output_type=City)
    reveal_type(agent)  # R: Agent[snippet.Deps, snippet.City]
    result = agent.run_sync("q", deps=Deps())
    reveal_type(result.output)  # R: snippet.City
    city: City = result.output
    agent.run_sync("q", deps=123)  # E
    agent.run_sync("q", deps=None)  # E


    async def use() -> None:
        ran = await agent.run("q", deps=Deps("bob"))
        reveal_type(ran.output)  # R: snippet.City
        await agent.run("q", deps="bob")  # E
        agent.iter("q", deps=1)  # E
        agent.run_stream("q", deps=1)  # E
        agent.run_stream_sync("q", deps=1)  # E
        await agent.run_many(["q"], deps=1)  # E
        agent.run_many_sync(["q"], deps=1, concurrency=2)  # E
        async with agent.iter("q", deps=Deps()) as run:
            reveal_type(run.result)  # R: RunResult[snippet.City] | None


    text_agent = Agent("test", deps_type=Deps)
    reveal_type(text_agent)  # R: Agent[snippet.Deps, str]
    reveal_type(text_agent.run_sync("q", deps=Deps()).output)  # R: str
    plain = Agent("test")
    reveal_type(plain)  # R: Agent[Any, str]
    plain.run_sync("q", deps=123)
    plain.run_sync("q")
    '''
)


def test_deps_type_and_output_type_drive_the_agents_type(tmp_path):
    pytest.importorskip("mypy")
    source = tmp_path / "snippet.py"
    source.write_text(SNIPPET)
    lines = SNIPPET.splitlines()
    expected_errors = {n for n, line in enumerate(lines, 1) if line.rstrip().endswith("# E")}
    expected_reveals = {n: line.split("# R: ", 1)[1].strip() for n, line in enumerate(lines, 1) if "# R: " in line}

    env = {**os.environ, "MYPYPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--follow-imports=silent",  # only the snippet's errors: agentkit's own are checked elsewhere
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(source),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    errors: dict[int, str] = {}
    reveals: dict[int, str] = {}
    for line in output.splitlines():
        match = re.match(r".*snippet\.py:(\d+): (error|note): (.*)$", line)
        assert match, f"unexpected mypy output: {line}\n{output}"
        number, kind, text = int(match[1]), match[2], match[3]
        if kind == "error":
            errors[number] = text
        elif text.startswith("Revealed type is "):
            # without the defining module (agentkit.agent.Agent -> Agent): where a class lives is not the point
            reveals[number] = re.sub(r"\bagentkit(\.\w+)*\.(?=[A-Z])", "", text.removeprefix("Revealed type is ").strip('"'))
    assert set(errors) == expected_errors, output
    assert all('Argument "deps"' in text and "[arg-type]" in text for text in errors.values()), output
    assert 'incompatible type "int"; expected "Deps"' in errors[min(expected_errors)]
    assert reveals == expected_reveals, output
    assert done.returncode == 1
