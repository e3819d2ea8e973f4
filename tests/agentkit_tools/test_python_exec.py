"""python_exec: code runs in a limited child process — secrets, forks, sleeps, allocations, huge files, output floods."""

from __future__ import annotations

import ast
import asyncio
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from agentkit_tools import python_exec

from agentkit import ModelRetry, Tool, UserError
from tests.agentkit_tools.conftest import run_calls

ROOT = os.geteuid() == 0
FAKE_KEY = "sk-should-not-leak"


def _make(**kwargs: Any) -> Tool[[str], Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "runs as root" (see test_root_is_warned_about)
        return python_exec(**kwargs)


@pytest.fixture
def run() -> Callable[..., str]:
    """Run code with short limits: ``run(code, **python_exec_kwargs)``."""

    def go(code: str, **kwargs: Any) -> str:
        kwargs.setdefault("timeout", 2.0)
        kwargs.setdefault("memory_mb", 256)
        tool = _make(**kwargs)
        return asyncio.run(tool.function(code))

    return go


@pytest.fixture(autouse=True)
def _fake_secret(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_KEY)
    monkeypatch.setenv("PYTHONSTARTUP", "/nonexistent/should-not-run.py")
    monkeypatch.setenv("PYTHONPATH", "/nonexistent/should-not-be-on-the-path")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_it_runs_code_and_reports_output_and_exit_codes(run) -> None:
    assert run("print(6 * 7)") == "Exit code: 0\n--- stdout ---\n42"
    out = run("import sys\nprint('to out')\nprint('to err', file=sys.stderr)\nsys.exit(3)")
    assert out == "Exit code: 3\n--- stdout ---\nto out\n--- stderr ---\nto err"
    out = run("def f():\n    raise ValueError('boom')\nf()")
    assert out.startswith("Exit code: 1\n--- stderr ---\nTraceback") and "ValueError: boom" in out and "line 2" in out
    assert "SyntaxError" in run("def (:")
    assert run("x = 1") == "Exit code: 0\n(no output: print() the values you want to see)"
    assert "EOFError" in run("input()")  # no stdin


def test_defaults_and_description() -> None:
    tool = _make()
    assert tool.requires_approval is True and tool.name == "python_exec"
    assert "10 s wall clock" in tool.description and "512 MB memory" in tool.description
    assert _make(requires_approval=False, name="py").requires_approval is False
    with pytest.raises(UserError):
        python_exec(timeout=0)
    with pytest.raises(UserError):
        python_exec(memory_mb=1)


def test_root_is_warned_about() -> None:
    if ROOT:
        with pytest.warns(RuntimeWarning, match="runs as root"):
            python_exec()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            python_exec()


@pytest.mark.parametrize("code", ["", "   \n", "print(1)\x00", "x = 1\n" * 20_000])
def test_bad_code_is_refused_before_running(code: str) -> None:
    tool = _make(max_code_chars=100_000)
    with pytest.raises(ModelRetry):
        asyncio.run(tool.function(code))


# -- secrets -----------------------------------------------------------------------------------------


def test_the_child_sees_none_of_the_agents_environment(run) -> None:
    assert os.environ["OPENAI_API_KEY"] == FAKE_KEY  # the parent has it...
    out = run(
        "import os, sys\n"
        "print(sorted(os.environ))\n"
        "print(os.environ.get('OPENAI_API_KEY'), os.environ.get('AWS_SECRET_ACCESS_KEY'))\n"
        "print(open('/proc/self/environ', 'rb').read())\n"
        "print(sys.path)\n"
        "print(sys.flags.isolated, sys.flags.ignore_environment)\n"
    )
    assert FAKE_KEY not in out  # ...the child does not
    assert "None None" in out and "should-not-be-on-the-path" not in out and "1 1" in out
    names = ast.literal_eval(out.split("--- stdout ---\n")[1].splitlines()[0])  # the child's variable names
    assert set(names) <= {
        "PATH",
        "LANG",
        "LC_ALL",
        "HOME",
        "TMPDIR",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "MPLBACKEND",
        "AGENTKIT_SANDBOX",  # a random marker that finds the run's processes at the end
    }


def test_extra_env_is_passed_on_purpose(run) -> None:
    assert "hello" in run("import os; print(os.environ['GREETING'])", env={"GREETING": "hello"})


def test_it_runs_in_a_temporary_folder_that_is_removed(run) -> None:
    out = run("import os; print(os.getcwd()); open('scratch.txt', 'w').write('x'); print(os.listdir('.'))")
    workdir = out.split("--- stdout ---\n")[1].splitlines()[0]
    assert "agentkit-python-" in workdir and workdir != os.getcwd()
    assert "['main.py', 'scratch.txt']" in out or "['scratch.txt', 'main.py']" in out
    assert not os.path.exists(workdir)


# -- resource bombs ----------------------------------------------------------------------------------


def test_sleeping_forever_is_killed_at_the_wall_clock_limit(run) -> None:
    started = time.perf_counter()
    out = run("import time\nprint('before', flush=True)\ntime.sleep(60)", timeout=0.5)
    assert time.perf_counter() - started < 3
    assert out.startswith("Stopped: the code ran longer than 0.5 s (wall clock) and was killed.")
    assert "before" in out  # what it printed before is kept


def test_the_cpu_limit_applies_even_within_the_wall_clock(run) -> None:
    started = time.perf_counter()  # the wall clock allows 10 s: the 1 s CPU limit must end it well before
    out = run("while True:\n    pass", timeout=10.0, cpu_seconds=1)
    assert time.perf_counter() - started < 8  # (a busy machine gives the child less than a whole core)
    assert "CPU time limit (1 s)" in out or "SIGKILL" in out


def test_allocating_too_much_memory_is_a_memory_error(run) -> None:
    for code in ("x = bytearray(4 * 1024**3)", "x = 'a' * 10**10", "x = [0] * 10**9", "x = b'x' * (1 << 40)"):
        out = run(code, memory_mb=128)
        assert out.startswith("Exit code: 1") and "MemoryError" in out and "The memory limit is 128 MB." in out


def test_writing_a_huge_file_fails_at_the_size_limit(run) -> None:
    out = run("with open('big.bin', 'wb') as f:\n    for _ in range(100):\n        f.write(b'x' * 1024 * 1024)", max_file_mb=2)
    assert "File too large" in out and "Files are limited to 2 MB." in out


def test_an_output_flood_is_cut(run) -> None:
    started = time.perf_counter()
    out = run("import sys\nwhile True:\n    sys.stdout.write('spam ' * 1000)", timeout=0.5, max_output_chars=2000)
    assert time.perf_counter() - started < 4
    assert out.startswith("Stopped:") and "bytes not shown" in out
    assert len(out) < 3000
    out = run("print('first'); print('x' * 100000); print('last')", max_output_chars=1000)
    assert "first" in out and "last" in out and len(out) < 1500  # start and end are kept


def test_forks_are_refused_or_contained(run) -> None:
    out = run(
        "import os, time\n"
        "pids = []\n"
        "for _ in range(40):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    pids.append(pid)\n"
        "print('children', *pids, flush=True)\n"
        "time.sleep(60)\n",
        timeout=1.0,
    )
    if "children" in out:  # forking was possible (root: RLIMIT_NPROC does not bind it)...
        pids = [int(p) for p in out.split("children", 1)[1].split("\n", 1)[0].split()]
        assert len(pids) == 40 and out.startswith("Stopped:")
        deadline = time.monotonic() + 3
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)  # ...and every child died with the run
    else:
        assert "BlockingIOError" in out and "Starting processes or threads is not allowed" in out


def test_a_child_that_leaves_the_process_group_is_killed_too(run) -> None:
    out = run(
        "import os, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.setsid()  # a new session: out of the process group that gets killed\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print('escaped', pid, flush=True)\n"
        "time.sleep(60)\n",
        timeout=0.5,
    )
    if "escaped" in out:
        pid = int(out.split("escaped", 1)[1].split()[0])
        deadline = time.monotonic() + 3
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)
    else:
        assert "BlockingIOError" in out


def test_an_orphan_that_left_the_process_group_is_killed_when_the_run_ends(run) -> None:
    out = run(
        "import os, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.setsid()\n"
        "    if os.fork():\n"
        "        os._exit(0)  # double fork: the grandchild is orphaned, in its own session\n"
        "    os.close(1); os.close(2)  # and does not hold the output pipes\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('parent done', flush=True)\n",
        timeout=2.0,
    )
    assert "parent done" in out or "BlockingIOError" in out
    deadline = time.monotonic() + 3
    while any(_alive(p) for p in _marked_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)  # SIGKILL was sent; give the kernel a moment to tear the process down
    assert [p for p in _marked_processes() if _alive(p)] == []


def _marked_processes() -> list[int]:
    """Processes still carrying a sandbox marker in their environment."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if b"AGENTKIT_SANDBOX=" in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def test_subprocesses_and_threads(run) -> None:
    out = run("import subprocess; print(subprocess.run(['echo', 'hi'], capture_output=True).stdout)")
    assert ("b'hi\\n'" in out) if ROOT else ("BlockingIOError" in out or "Resource temporarily unavailable" in out)


def test_a_crash_is_reported(run) -> None:
    out = run("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    assert out.startswith("Crashed: killed by signal SIGSEGV.")


@pytest.mark.skipif(not ROOT, reason="switching users needs root")
def test_running_as_another_user() -> None:
    tool = python_exec(user="nobody", timeout=2, memory_mb=256)
    try:
        out = asyncio.run(tool.function("import os; print(os.getuid()); os.fork()"))
    except ModelRetry as e:  # the interpreter may not be readable by nobody (e.g. under /root)
        assert "could not be started" in e.message
    else:
        assert "65534" in out and "BlockingIOError" in out  # and RLIMIT_NPROC binds that user


def test_switching_users_needs_root_and_a_real_user() -> None:
    with pytest.raises(UserError, match="no such user"):
        python_exec(user="no-such-user-agentkit")
    if not ROOT:
        with pytest.raises(UserError, match="needs the agent to run as root"):
            python_exec(user="nobody")


# -- in an agent -----------------------------------------------------------------------------------------


def test_in_an_agent_hostile_code_becomes_tool_messages() -> None:
    tool = _make(timeout=1.0, memory_mb=128, requires_approval=False)
    started = time.perf_counter()
    result, messages = run_calls(
        [tool],
        [
            ("python_exec", {"code": "import os; print(os.environ.get('OPENAI_API_KEY'))"}),
            ("python_exec", {"code": "import time; time.sleep(30)"}),
            ("python_exec", {"code": "x = bytearray(10**10)"}),
            ("python_exec", {"code": ""}),
            ("python_exec", {"code": "print(sum(range(10)))"}),
        ],
    )
    assert time.perf_counter() - started < 6  # the calls ran concurrently, each within its limit
    assert result.output == "done"
    assert [m.is_error for m in messages] == [False, False, False, True, False]
    assert messages[0].content == "Exit code: 0\n--- stdout ---\nNone"
    assert messages[1].content.startswith("Stopped: the code ran longer than 1 s")
    assert "MemoryError" in messages[2].content
    assert "empty" in messages[3].content
    assert messages[4].content.endswith("45")
    assert all(FAKE_KEY not in m.content for m in messages)


def test_in_an_agent_it_waits_for_approval_by_default() -> None:
    from agentkit import Agent, ApprovalRequired
    from agentkit.testing import ScriptedModel, reply, tool_call

    agent = Agent(
        ScriptedModel([reply(None, tool_call("python_exec", {"code": "print('ran')"}, id="p")), "done"]), tools=[_make()]
    )
    with pytest.raises(ApprovalRequired) as paused:
        agent.run_sync("go")
    result = agent.run_sync(state=paused.value.state, approvals={"p": "not now"})
    answer = next(m for m in result.messages if getattr(m, "tool_call_id", None) == "p")
    assert answer.content.startswith("The user denied this call: not now")
