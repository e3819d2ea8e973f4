"""How agentkit installs: its distribution name, the fast transport by default, a quick import,
and an editable install that type checkers outside the repository can follow."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DIST = "agentkit-loop"  # "agentkit" on PyPI is an unrelated project; the import name stays agentkit


def _distribution() -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"the {DIST} distribution is not installed (pip install -e '.[dev]')")


def test_the_distribution_is_agentkit_loop_and_imports_as_agentkit() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'(?m)^name = "agentkit-loop"$', pyproject)
    dist = _distribution()
    assert dist.metadata["Name"] == DIST


def test_every_install_hint_names_the_distribution() -> None:
    """``pip install 'agentkit-loop[...]'`` would install the unrelated PyPI project: hints say agentkit-loop."""
    wrong = re.compile(r"pip install\s+['\"]?agentkit(\[|['\"\s)`]|$)")
    places = [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("examples/*.py"), *ROOT.glob("agentkit/**/*.py")]
    places += [*ROOT.glob("tools/**/*.py"), *ROOT.glob("benchmarks/*.md"), *ROOT.glob("benchmarks/*.py")]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in places
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if wrong.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_fast_transport_is_a_default_dependency_and_fast_stays_an_extra() -> None:
    requires = _distribution().requires or []
    plain = {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requires if "extra ==" not in r}
    assert {"aiohttp", "httpx-aiohttp"} <= plain
    assert "fast" in (_distribution().metadata.get_all("Provides-Extra") or [])  # old install commands still work


# What ``import agentkit`` loads, not how long it takes (timing belongs to benchmarks/run.py's import
# workload, never to a test that a busy machine would fail): none of the heavy or optional packages,
# and not many more modules than today (about 300 with pydantic and asyncio).
_HEAVY = ("aiohttp", "httpx_aiohttp", "httpx", "jsonschema", "opentelemetry", "numpy", "psycopg", "redis", "mcp", "sqlite3")
_HEAVY += ("dbos", "sqlalchemy")  # agentkit.durable's
_HEAVY += ("ray",)  # agentkit.ray's
_IMPORTED = (
    "import sys; before = set(sys.modules); import agentkit; print(len(set(sys.modules) - before)); print(*sorted(sys.modules))"
)


def test_import_agentkit_stays_light_and_does_not_import_aiohttp() -> None:
    done = subprocess.run([sys.executable, "-c", _IMPORTED], capture_output=True, text=True, check=True, cwd=ROOT)
    count, names = done.stdout.split("\n", 1)
    loaded = {name.split(".")[0] for name in names.split()}
    assert not loaded & set(_HEAVY), sorted(loaded & set(_HEAVY))
    assert int(count) < 360, f"import agentkit loads {count} modules"


def test_mypy_outside_the_repository_finds_agentkit_through_the_editable_install(tmp_path: Path) -> None:
    """The README's ``pip install -e '.[dev]'``: a project elsewhere, checked with this venv's mypy, sees agentkit's types."""
    pytest.importorskip("mypy")
    direct_url = _distribution().read_text("direct_url.json")
    if not direct_url or not json.loads(direct_url).get("dir_info", {}).get("editable"):
        pytest.skip(f"{DIST} is not installed editable")
    (tmp_path / "snippet.py").write_text(
        "from agentkit import Agent, tool\n"
        "from agentkit_tools import calculator\n\n\n"
        "@tool\n"
        "def double(x: int) -> int:\n"
        '    """Double a number."""\n'
        "    return 2 * x\n\n\n"
        'result = Agent("test", tools=[double, calculator]).run_sync("hi")\n'
        "answer: str = result.output\n"
        "wrong: int = result.output\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"), "snippet.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = done.stdout + done.stderr
    assert "import-not-found" not in report and "import-untyped" not in report, report
    # exactly the one deliberate mistake: mypy knows RunResult[str].output is a str
    lines = [line for line in report.splitlines() if ": error:" in line]
    assert len(lines) == 1 and "snippet.py:13:" in lines[0] and "[assignment]" in lines[0], report


async def test_a_callers_http_client_still_sends_its_requests_with_aiohttp_installed() -> None:
    """aiohttp is the default transport now, but a model given ``http_client=`` sends through that httpx client."""
    import httpx

    from agentkit import Agent
    from agentkit.models import OpenAICompatible

    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        choice = {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}
        return httpx.Response(200, json={"id": "c1", "model": "m", "choices": [choice]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        model = OpenAICompatible("m", base_url="http://mock.invalid/v1", api_key="k", http_client=client)
        assert (await Agent(model).run("hi")).output == "hello"
    assert sent == ["http://mock.invalid/v1/chat/completions"]


def test_building_a_model_does_not_load_aiohttp_yet() -> None:
    """aiohttp is imported at the first request, not when an agent or a model is built (~0.17 s)."""
    code = "import sys; from agentkit import Agent; Agent('openai:gpt-4o-mini'); print('aiohttp' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, "OPENAI_API_KEY": ""}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
