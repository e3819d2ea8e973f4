"""Prompt cancellation: a cancelled run returns within a second even while a sync tool blocks in
its worker thread, and leaves no open sockets or tasks behind (counted before and after)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agentkit import Agent, tool
from agentkit.events import TextDelta, ToolExecutionStarted
from agentkit.models import OpenAICompatible
from tests.support.server import Reply, call, chat_completion
from tests.support.sse import chunk, sse

ROOT = Path(__file__).resolve().parents[2]


def client_sockets(port: int) -> int:
    """Sockets of this process connected to ``port`` on 127.0.0.1 (the client side only)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if remote_port == port and fields[9] in inodes:
                    count += 1
    return count


def _port(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _model(server):
    return OpenAICompatible("loopback-model", base_url=server.url + "/v1", api_key="sk-test")


def _blocking_tool(release: threading.Event, started: threading.Event):
    @tool
    def slow_report(topic: str) -> str:
        """Write a report (takes long).

        Args:
            topic: The topic.
        """
        started.set()
        release.wait(30)  # a sync tool the run cannot interrupt
        return "report"

    return slow_report


async def test_cancelling_the_task_returns_at_once_while_a_sync_tool_blocks(loopback):
    server = loopback([Reply(body=chat_completion(None, [call("slow_report", {"topic": "x"}, "c1")]))])
    release, started = threading.Event(), threading.Event()
    agent = Agent(_model(server), tools=[_blocking_tool(release, started)])
    tasks_before = len(asyncio.all_tasks())
    try:
        task = asyncio.create_task(agent.run("go"))
        assert await asyncio.to_thread(started.wait, 10)
        began = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 1.0)
        assert time.perf_counter() - began < 1.0
        assert len(asyncio.all_tasks()) == tasks_before  # the tool's task is gone too
        await agent.aclose()
        assert client_sockets(_port(server)) == 0
    finally:
        release.set()  # let the worker thread finish (it was left running in the background)


async def test_breaking_out_of_a_stream_during_a_blocked_tool_returns_at_once(loopback):
    server = loopback([Reply(body=chat_completion(None, [call("slow_report", {"topic": "x"}, "c1")]))])
    release, started = threading.Event(), threading.Event()
    agent = Agent(_model(server), tools=[_blocking_tool(release, started)])
    tasks_before = len(asyncio.all_tasks())
    try:
        began = 0.0
        async with agent.run_stream("go") as stream:
            async for event in stream:
                if isinstance(event, ToolExecutionStarted):
                    assert await asyncio.to_thread(started.wait, 10)
                    began = time.perf_counter()
                    break
        assert 0 < time.perf_counter() - began < 1.0
        assert len(asyncio.all_tasks()) == tasks_before
        await agent.aclose()
        assert client_sockets(_port(server)) == 0
    finally:
        release.set()


async def test_breaking_out_of_a_stream_mid_answer_closes_the_response(loopback):
    pieces = [sse([chunk({"content": f"w{i} "})], done=False) for i in range(500)]
    server = loopback([Reply(chunks=pieces, chunk_delay=0.01, content_type="text/event-stream")])
    agent = Agent(_model(server))
    async with agent.run_stream("talk") as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    for _ in range(100):  # the transport closes its socket on the loop's next turns
        if client_sockets(_port(server)) == 0:
            break
        await asyncio.sleep(0.01)
    assert client_sockets(_port(server)) == 0  # a half-read response cannot go back to the pool
    await agent.aclose()


_SCRIPT = """
import sys, time
from pathlib import Path
from agentkit import Agent, tool

MARK = Path(sys.argv[1])

@tool
def slow_report(topic: str) -> str:
    '''Write a report (takes 20 seconds).

    Args:
        topic: The topic.
    '''
    MARK.write_text("started")
    time.sleep(20)
    return "report"

agent = Agent("test", tools=[slow_report])
"""


def _interrupt(cmd: list[str], mark: Path) -> tuple[float, int, str]:
    """Start ``cmd``, wait until the tool started, send SIGINT: (seconds to exit, exit code, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while not mark.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the tool never started"
            time.sleep(0.02)
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=15)
        return time.monotonic() - began, proc.returncode, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("how", ["run_sync", "run_stream_sync"])
def test_ctrl_c_in_sync_code_returns_within_a_second(tmp_path: Path, how: str) -> None:
    mark = tmp_path / "started"
    body = "agent.run_sync('go')" if how == "run_sync" else "for _ in agent.run_stream_sync('go'):\n        pass"
    script = tmp_path / "main.py"
    script.write_text(
        _SCRIPT + f"\ntry:\n    {body}\nexcept KeyboardInterrupt:\n    print('interrupted', file=sys.stderr)\n    sys.exit(130)\n"
    )
    seconds, code, err = _interrupt([sys.executable, str(script), str(mark)], mark)
    assert code == 130 and "interrupted" in err
    assert seconds < 2.0, f"took {seconds:.1f}s to stop (the tool sleeps 20 s)"


def test_ctrl_c_under_agentkit_run_stops_at_once(tmp_path: Path) -> None:
    mark = tmp_path / "started"
    agent_file = tmp_path / "agent.py"
    agent_file.write_text(_SCRIPT.replace("Path(sys.argv[1])", f"Path({str(mark)!r})"))
    cmd = [sys.executable, "-m", "agentkit.cli", "run", str(agent_file), "write it"]
    seconds, code, err = _interrupt(cmd, mark)
    assert code == 130 and "Interrupted" in err
    assert seconds < 2.0, f"took {seconds:.1f}s to stop (the tool sleeps 20 s)"
