"""Type checking (mypy --strict) and lint (ruff) are part of the test suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_mypy_strict() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    done = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_module_of_the_framework_is_over_500_lines() -> None:
    """Modules of a few hundred lines, each with one job (functions: ruff's C901 at 12, in pyproject.toml)."""
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in (ROOT / "agentkit").rglob("*.py")
    }
    too_long = {name: n for name, n in sizes.items() if n > 500}
    assert not too_long, f"split these modules by job: {too_long}"
