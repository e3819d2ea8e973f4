"""``python_exec(...)``: a tool that runs Python code in a separate, resource-limited process.

    from agentkit import Agent
    from agentkit_tools import python_exec

    agent = Agent("openai:gpt-4o-mini", tools=[python_exec(timeout=10, memory_mb=512)])

Nothing runs unless you add the tool, and it is created with ``requires_approval=True``: each
call waits for the user's approval unless you pass ``requires_approval=False``.

Each call writes the code to ``main.py`` in a fresh temporary folder and runs
``sys.executable -I -B -u main.py`` there, with:

* **limits** set in the child before it starts (``resource`` rlimits in ``preexec_fn``):
  CPU seconds (``RLIMIT_CPU``), address space (``RLIMIT_AS`` = ``memory_mb``), file size
  (``RLIMIT_FSIZE``: writing a bigger file fails with ``File too large``), no new processes or
  threads (``RLIMIT_NPROC`` = 0, stops fork bombs), open files (``RLIMIT_NOFILE``), no core dumps;
* **a wall-clock timeout**: the child runs in its own session and its whole process group
  (plus any descendant still found in ``/proc``) is killed with SIGKILL when time is up, and
  again when it ends; then every process still carrying the run's random ``AGENTKIT_SANDBOX``
  marker in its environment is killed too (orphans that left the group), so nothing it started
  outlives the call unless it re-executed itself with a new environment;
* **an empty environment**: only ``PATH``, ``LANG``/``LC_ALL``, ``HOME``/``TMPDIR`` (the temporary
  folder), the marker and single-thread settings for numeric libraries; none of the agent's variables
  (``OPENAI_API_KEY``...) are passed, and ``-I`` makes Python ignore ``PYTHON*`` variables and
  the user's site-packages;
* **output capture**: stdout and stderr are read as they come and cut to ``max_output_chars``
  (the start and the end are kept), so a flood of output cannot fill the agent's memory.

What this is not: a security boundary against a determined attacker. The child runs as the
same OS user as the agent (or as ``user=`` when the agent runs as root), so it can read whatever
that user can read — including ``/proc/<agent pid>/environ``, the agent's environment *as it
was at start-up* (API keys set before launch) — signal the agent's process, and open network
connections. ``RLIMIT_NPROC`` does not bind root either: when the agent runs as root, pass
``user="nobody"`` (an account that can run the interpreter) or run the agent as another user,
or forked processes are stopped only by the kills above (a warning says so). For untrusted
code, run the agent in a container or VM.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit import ModelRetry, Tool, UserError

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

__all__ = ["python_exec"]

_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class _Result:
    """What one run produced."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    stdout_bytes: int
    stderr_bytes: int
    signal: int | None = None


@dataclass(frozen=True)
class _Limits:
    timeout: float
    cpu_seconds: int
    memory_bytes: int
    file_bytes: int
    max_output_chars: int
    uid: int | None
    gid: int | None
    python: str
    extra_env: tuple[tuple[str, str], ...]


class _Capture:
    """Keeps the first ``head`` and the last ``tail`` bytes of a stream, and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.head_limit = max(1, limit * 3 // 4)
        self.tail_limit = max(1, limit - self.head_limit)
        self.head = bytearray()
        self.tail = b""
        self.total = 0

    async def drain(self, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            self.total += len(chunk)
            room = self.head_limit - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail = (self.tail + chunk)[-self.tail_limit :]

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        if self.total <= len(self.head) + len(self.tail):
            return head + self.tail.decode("utf-8", "replace")
        omitted = self.total - len(self.head) - len(self.tail)
        return f"{head}\n[... {omitted:,} bytes not shown ...]\n{self.tail.decode('utf-8', 'replace')}"


def _preexec(limits: _Limits) -> Callable[[], None]:
    """The function the child runs between fork and exec: drop privileges (if asked) and set rlimits."""
    assert resource is not None
    cpu, memory, fsize = limits.cpu_seconds, limits.memory_bytes, limits.file_bytes
    uid, gid = limits.uid, limits.gid
    setrlimit = resource.setrlimit
    rl_core, rl_cpu, rl_as, rl_fsize = resource.RLIMIT_CORE, resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_FSIZE
    rl_nofile, rl_nproc = resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC

    def limit() -> None:
        setrlimit(rl_core, (0, 0))
        setrlimit(rl_cpu, (cpu, cpu + 1))
        setrlimit(rl_as, (memory, memory))
        setrlimit(rl_fsize, (fsize, fsize))
        setrlimit(rl_nofile, (256, 256))
        if uid is not None and gid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        setrlimit(rl_nproc, (0, 0))  # after setuid: counted for the user the child runs as

    return limit


def _descendants(pid: int) -> list[int]:
    """Processes whose parent chain leads to ``pid`` (Linux ``/proc``; empty elsewhere)."""
    parents: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
            ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents[int(entry)] = ppid
    found: list[int] = []
    frontier = {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier and p not in found}
        found.extend(children)
        frontier = children
    return found


def _kill_all(pid: int, *, alive: bool) -> None:
    """SIGKILL the child's process group, and (while the child is alive, so its pid cannot be reused) its descendants."""
    if alive:
        for child in _descendants(pid):
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def _kill_marked(marker: bytes) -> None:
    """SIGKILL every process whose environment carries ``marker`` (orphans that left the process group)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    me = os.getpid()
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)


def _prepare(workdir: str, code: str, limits: _Limits) -> None:
    if limits.uid is not None and limits.gid is not None:
        os.chown(workdir, limits.uid, limits.gid)
    script = Path(workdir, "main.py")
    script.write_text(code, encoding="utf-8")
    os.chmod(script, 0o644)


async def _run(code: str, limits: _Limits) -> _Result:
    """Run ``code`` in a fresh limited interpreter and collect what it printed."""
    workdir = tempfile.mkdtemp(prefix="agentkit-python-")
    token = secrets.token_hex(8)
    try:
        _prepare(workdir, code, limits)
        env = {
            "AGENTKIT_SANDBOX": token,  # inherited by anything the code forks: found and killed at the end
            "PATH": _SAFE_PATH,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": workdir,
            "TMPDIR": workdir,
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            **dict(limits.extra_env),
        }
        stdout, stderr = _Capture(limits.max_output_chars), _Capture(limits.max_output_chars)
        process = await asyncio.create_subprocess_exec(
            limits.python,
            "-I",
            "-B",
            "-u",
            "-X",
            "utf8",
            "main.py",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=workdir,
            env=env,
            start_new_session=True,
            preexec_fn=_preexec(limits),
        )
        readers = asyncio.gather(stdout.drain(process.stdout), stderr.drain(process.stderr))
        timed_out = False
        try:
            try:
                await asyncio.wait_for(process.wait(), limits.timeout)
            except asyncio.TimeoutError:
                timed_out = True
        finally:
            _kill_all(process.pid, alive=process.returncode is None)  # what it started; the child too if it overran
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            _kill_marked(f"AGENTKIT_SANDBOX={token}".encode())
            try:
                await asyncio.wait_for(asyncio.shield(readers), 2.0)
            except asyncio.TimeoutError:  # something outside the group still holds the pipes
                readers.cancel()
        code_ = process.returncode
        return _Result(
            exit_code=code_ if code_ is not None and code_ >= 0 else None,
            stdout=stdout.text(),
            stderr=stderr.text(),
            timed_out=timed_out,
            stdout_bytes=stdout.total,
            stderr_bytes=stderr.total,
            signal=-code_ if code_ is not None and code_ < 0 else None,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _render(result: _Result, limits: _Limits) -> str:
    if result.timed_out:
        status = f"Stopped: the code ran longer than {limits.timeout:g} s (wall clock) and was killed."
    elif result.signal == signal.SIGXCPU:
        status = f"Stopped: the CPU time limit ({limits.cpu_seconds} s) was reached (SIGXCPU)."
    elif result.signal == signal.SIGKILL:
        status = "Stopped: killed by SIGKILL (the hard CPU limit, or out of memory)."
    elif result.signal is not None:
        try:
            name = signal.Signals(result.signal).name
        except ValueError:
            name = str(result.signal)
        status = f"Crashed: killed by signal {name}."
    else:
        status = f"Exit code: {result.exit_code}"
    parts = [status]
    if result.stdout:
        parts.append("--- stdout ---\n" + result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append("--- stderr ---\n" + result.stderr.rstrip("\n"))
    if not result.stdout and not result.stderr:
        parts.append("(no output: print() the values you want to see)")
    hints = []
    if "MemoryError" in result.stderr:
        hints.append(f"The memory limit is {limits.memory_bytes // (1024 * 1024)} MB.")
    if "File too large" in result.stderr:
        hints.append(f"Files are limited to {limits.file_bytes // (1024 * 1024)} MB.")
    if "Resource temporarily unavailable" in result.stderr or "can't start new thread" in result.stderr:
        hints.append("Starting processes or threads is not allowed here.")
    if hints:
        parts.append("Note: " + " ".join(hints))
    return "\n".join(parts)


def _resolve_user(user: str | int | None) -> tuple[int | None, int | None]:
    if user is None:
        return None, None
    import pwd

    try:
        entry = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
    except KeyError:
        raise UserError(f"python_exec(user={user!r}): no such user.") from None
    if os.geteuid() != 0:
        raise UserError(f"python_exec(user={user!r}) needs the agent to run as root (to switch users); leave user=None.")
    return entry.pw_uid, entry.pw_gid


def python_exec(
    timeout: float = 10.0,
    memory_mb: int = 512,
    *,
    cpu_seconds: float | None = None,
    max_output_chars: int = 10_000,
    max_file_mb: int = 16,
    max_code_chars: int = 100_000,
    user: str | int | None = None,
    env: Mapping[str, str] | None = None,
    requires_approval: bool = True,
    name: str = "python_exec",
    python: str | None = None,
) -> Tool[[str], Coroutine[Any, Any, str]]:
    """A tool that runs Python code in a separate process with time, memory, file-size and process limits.

    Args:
        timeout: wall-clock seconds a run may take; then its process group is killed.
        memory_mb: address-space limit of the child (allocations beyond it raise MemoryError).
        cpu_seconds: CPU-time limit (default: ``timeout`` rounded up).
        max_output_chars: most bytes of stdout and of stderr kept (start and end).
        max_file_mb: largest file the code may write.
        max_code_chars: longest code accepted.
        user: run the child as this user (name or uid); needs the agent to run as root.
        env: extra environment variables for the child (nothing of the agent's environment is passed).
        requires_approval: pause the run for the user's approval before each execution (default True).
        name: the tool's name.
        python: the interpreter (default ``sys.executable``).

    Raises:
        UserError: on Windows (no ``resource`` module), or for invalid limits or an unknown user.
    """
    if resource is None or not hasattr(os, "killpg"):
        raise UserError("python_exec needs a POSIX system (the resource module and process groups).")
    if timeout <= 0 or memory_mb < 32 or max_output_chars < 100 or max_file_mb < 0 or max_code_chars < 1:
        raise UserError("python_exec: timeout must be > 0, memory_mb >= 32, max_output_chars >= 100, max_file_mb >= 0.")
    interpreter = python or sys.executable
    if not interpreter:
        raise UserError("python_exec: sys.executable is unknown; pass python='/path/to/python'.")
    uid, gid = _resolve_user(user)
    unbound = uid is None and os.geteuid() == 0  # RLIMIT_NPROC does not bind root
    if unbound:
        warnings.warn(
            "python_exec: the agent runs as root, so the code runs as root too and RLIMIT_NPROC does not stop it from "
            "starting processes; pass user='nobody' (an account that can run the interpreter) or run as another user.",
            RuntimeWarning,
            stacklevel=2,
        )
    limits = _Limits(
        timeout=float(timeout),
        cpu_seconds=max(1, math.ceil(cpu_seconds if cpu_seconds is not None else timeout)),
        memory_bytes=memory_mb * 1024 * 1024,
        file_bytes=max_file_mb * 1024 * 1024,
        max_output_chars=max_output_chars,
        uid=uid,
        gid=gid,
        python=interpreter,
        extra_env=tuple((env or {}).items()),
    )

    async def run(code: str) -> str:
        if not code.strip():
            raise ModelRetry("The code is empty. Send a Python program that print()s what you want to see.")
        if len(code) > max_code_chars:
            raise ModelRetry(f"The code is {len(code):,} characters long; the limit is {max_code_chars:,}.")
        if "\x00" in code:
            raise ModelRetry("The code contains a NUL character.")
        try:
            result = await _run(code, limits)
        except (OSError, subprocess.SubprocessError) as e:
            raise ModelRetry(f"The Python process could not be started: {e}.") from None
        return _render(result, limits)

    run.__doc__ = (
        "Run a Python 3 program in a fresh, sandboxed interpreter and return its stdout, stderr and exit code.\n\n"
        "Each call starts from scratch (no variables survive between calls): print() the results you need. "
        f"Limits: {limits.timeout:g} s wall clock, {limits.cpu_seconds} s CPU, {memory_mb} MB memory, "
        f"files up to {max_file_mb} MB in a temporary folder, {'' if unbound else 'no subprocesses or threads, '}no stdin, "
        f"output cut to {max_output_chars:,} characters.\n\n"
        "Args:\n"
        "    code: The complete Python program to run."
    )
    return Tool(run, name=name, requires_approval=requires_approval)
