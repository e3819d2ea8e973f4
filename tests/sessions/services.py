"""A throwaway PostgreSQL and Redis on 127.0.0.1 and a free port, for the session stores' tests.

The servers are Debian's ``postgresql`` and ``redis-server`` (``.ci/run`` installs them). When a
binary is missing the tests that need it fail with what to install, unless ``AGENTKIT_SKIP_SERVICES=1``
(then they skip).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SKIP_ENV = "AGENTKIT_SKIP_SERVICES"


def missing(what: str, install: str) -> None:
    """Fail (or skip, with AGENTKIT_SKIP_SERVICES=1) because a server binary is not installed."""
    message = f"{what} is not installed: {install} (or set {SKIP_ENV}=1 to skip these tests)"
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def postgres_bin(name: str) -> str | None:
    """``initdb``/``pg_ctl``: on PATH, or in Debian's /usr/lib/postgresql/<version>/bin (the newest)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else None


def _as_postgres(command: list[str]) -> list[str]:
    """The server refuses to run as root: as root, run ``command`` as the ``postgres`` user."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *command]
    return ["su", "postgres", "-c", shlex.join(command)]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL in a temporary folder; yield its DSN; stop it and remove the folder."""
    initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
    if not initdb or not pg_ctl:
        missing("PostgreSQL (initdb, pg_ctl)", "apt-get install postgresql")
    assert initdb and pg_ctl
    # as root the server runs as postgres, which must reach the folder: under /tmp, not a private $TMPDIR
    folder = tempfile.mkdtemp(prefix="agentkit-pg-", dir="/tmp" if os.geteuid() == 0 else None)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port = os.path.join(folder, "data"), free_port()
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    try:
        subprocess.run(_as_postgres([initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]), **run)
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(_as_postgres([pg_ctl, "-D", data, "-o", options, "-l", os.path.join(folder, "log"), "-w", "start"]), **run)
    except subprocess.CalledProcessError as e:
        log = os.path.join(folder, "log")
        tail = Path(log).read_text(errors="replace")[-2000:] if os.path.exists(log) else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {e.stderr}\n{tail}") from e
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", data, "-m", "immediate", "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def redis_server(port: int | None = None) -> Iterator[str]:
    """Start redis-server (no persistence) on ``port`` (a free one by default); yield its URL; stop it."""
    binary = shutil.which("redis-server")
    if not binary:
        missing("Redis (redis-server)", "apt-get install redis-server")
    assert binary
    port = port or free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise RuntimeError(f"redis-server did not start:\n{output[-2000:]}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
