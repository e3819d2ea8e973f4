"""Every example runs offline on the test model, as a user would start it, so none rots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_offline(path: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AGENTKIT_MODEL"}
    env["AGENTKIT_CACHE_DIR"] = str(tmp_path / "cache")  # examples must not write into the user's home
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "offline on the built-in test model" in done.stdout
    assert "Traceback" not in done.stderr
    # a newcomer's first run reads right: real arguments, no tool errors, no answer cut mid-word
    for looks_broken in ('"example"', "example:", "Invalid timezone", "Unknown name", "Error", "!! ", "Tool results:"):
        assert looks_broken not in done.stdout, f"{path.name} prints {looks_broken!r}:\n{done.stdout}"
    assert "0 tokens" not in done.stdout


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"quickstart.py", "structured_output.py"}
