"""A real two-node Ray cluster on this machine for tests/ray: a head node and a second node,
each started by ``ray start`` as processes of their own (one CPU each, a small object store, no
dashboard), stopped at the end by killing their process groups (``ray stop`` would stop every
Ray cluster on the machine, other people's too)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

ROOT = Path(__file__).parent.parent.parent
RAY = str(Path(sys.executable).parent / "ray")
NODE = ["--num-cpus=1", "--object-store-memory=100000000", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]


@dataclass
class Cluster:
    address: str
    directory: Path
    """``$AGENTKIT_RAY_TEST_DIR`` on the nodes: the workers' factory reads ``base_url`` there."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    directory = Path(tempfile.mkdtemp(prefix="akray-"))  # short: Ray's socket paths must stay under 108 bytes
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AGENTKIT_RAY_TEST_DIR": str(directory), "RAY_USAGE_STATS_ENABLED": "0"}
    env["RAY_AUTH_MODE"] = "disabled"  # a loopback cluster: no token (nor a token file in ~/.ray that another Ray left)
    env.pop("RAY_ADDRESS", None)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp = ["--temp-dir", str(directory / "ray")]
    commands = [
        [RAY, "start", "--head", f"--port={port}", "--include-dashboard=false", *temp, *NODE],
        [RAY, "start", f"--address={address}", *temp, *NODE],
    ]
    groups: list[int] = []
    try:
        for command in commands:
            # a session of its own: every process of the node (raylet, workers...) is in its process group
            node = subprocess.Popen(
                command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            groups.append(node.pid)
            output = node.communicate(timeout=90)[0].decode(errors="replace")
            assert node.returncode == 0, output[-3000:]
        yield Cluster(address, directory)
    finally:
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def in_process_driver() -> Iterator[None]:
    """This process is a Ray driver during the test (``ray.init`` by the executor), disconnected after it."""
    yield
    ray.shutdown()
