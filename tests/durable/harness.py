"""What the durable-run tests share: a loopback model server that scripts the shop conversation
and counts requests, and the worker processes (tests/durable/worker.py) they start and kill."""

from __future__ import annotations

import json
import multiprocessing
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tests.durable import worker
from tests.support.server import LoopbackServer, Reply, Request, call, chat_completion


def turn_key(body: dict[str, Any]) -> str:
    """Which request of the conversation this is: the number of messages it carries."""
    return f"{len(body['messages'])} messages"


@dataclass
class ShopServer:
    """The model: a first turn of tool calls, then a final answer that quotes every tool result.

    Stateless (a request sent again gets the same answer). ``stall`` names a request (see
    :func:`turn_key`) whose first arrival is never answered: the worker is killed while it waits.
    ``received`` counts requests by key, ``answered`` the answers sent."""

    stall: str | None = None
    received: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    stalled: threading.Event = field(default_factory=threading.Event)

    def __call__(self, request: Request) -> Reply:
        body = request.json
        key = turn_key(body)
        self.received[key] += 1
        if key == self.stall and not self.stalled.is_set():
            self.stalled.set()
            return Reply(stall=True)
        self.answered[key] += 1
        messages = body["messages"]
        results = [m["content"] for m in messages if m["role"] == "tool"]
        if results:
            return Reply(body=chat_completion("done: " + " | ".join(results)))
        if "refund" in messages[-1]["content"]:
            return Reply(body=chat_completion(tool_calls=[call("refund", {"amount": 3}, "call_r")]))
        calls = [call("lookup", {"item": "book"}, "call_1"), call("charge", {"amount": 5}, "call_2")]
        return Reply(body=chat_completion(tool_calls=calls))


_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["tests.durable.worker"])  # each worker skips importing agentkit and DBOS


class Worker:
    """One worker process (tests/durable/worker.py's ``entry``, forked from a server that imported
    it already), its lines read as they come."""

    def __init__(self, db: str, base_url: str, workflow: str, effects: Path, prompt: str, kill: str = "") -> None:
        reading, writing = _FORKS.Pipe(duplex=False)
        args = (db, base_url, workflow, str(effects), prompt, kill, writing)
        self.process = _FORKS.Process(target=worker.entry, args=args, daemon=True)
        self.process.start()
        writing.close()
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(reading,), daemon=True)
        self._reader.start()

    def _read(self, reading: Connection) -> None:
        with reading:
            while True:
                try:
                    self.lines.append(reading.recv())
                except (EOFError, OSError):
                    return

    def wait_for_line(self, prefix: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            if not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no line {prefix!r} from the worker; {self._failure()}")

    def kill(self) -> None:
        self.process.kill()  # SIGKILL
        self.process.join(timeout=10)

    def killed_itself(self, timeout: float = 30.0) -> None:
        """The worker SIGKILLed itself (its ``KILL`` point): wait for that."""
        self.process.join(timeout=timeout)
        code = self.process.exitcode
        assert code == -signal.SIGKILL, f"the worker ended with {code}, not SIGKILL; {self._failure()}"

    def result(self, timeout: float = 30.0) -> dict[str, Any]:
        self.process.join(timeout=timeout)
        self._reader.join(timeout=5)
        code = self.process.exitcode
        assert code == 0 and self.lines, f"the worker failed ({code}); {self._failure()}"
        return dict(json.loads(self.lines[-1]))

    def _failure(self) -> str:
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(timeout=10)
        return f"its lines: {self.lines[-5:]}"


def effects(path: Path) -> Counter[str]:
    """What the tools did: ``Counter({"start charge": 1, "end charge": 1, ...})``."""
    if not path.exists():
        return Counter()
    return Counter(" ".join(line.split()[:2]) for line in path.read_text().splitlines())


def run_server(handler: ShopServer) -> LoopbackServer:
    return LoopbackServer(handler).start()
