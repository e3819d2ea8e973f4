"""The chaos soak: 100,000 agent runs against a server that misbehaves on purpose.

``chaos_server.py`` (its own process, 127.0.0.1) answers every request with a fault drawn from
its table: 429s with a short Retry-After, 5xx, connection resets, truncated bodies and streams,
byte-split SSE, malformed and wrongly shaped JSON, slow bodies, stalls below and beyond the
client's timeout, answers echoing the API key. This script runs a mix of agent runs against it
— tools (sync and async), ``run_stream``, structured output in native and tool mode, and
``agent.run_many`` — up to 1,000 in flight, in ten blocks; after each block it collects garbage
and samples RSS.

It passes when:

1. every run either succeeded with the right output or ended in an ``agentkit.errors.AgentkitError``
   (anything else is printed with its traceback, once per type and place; a run that succeeds
   with a wrong output, or hangs for more than ``--hang`` seconds, fails too);
2. nothing is unhandled: the loop's exception handler, ``sys.unraisablehook`` and
   ``threading.excepthook`` saw nothing;
3. nothing leaked once the agents are closed: sockets in ``/proc/self/fd``, ``asyncio.all_tasks()``,
   ``threading.enumerate()`` as before the first run (agentkit's sync-tool pool is process-wide
   and bounded: its threads are reported apart and must stay within its cap);
4. memory is flat: RSS after the last block within 5 % of RSS after the first (10,000 runs of
   100,000), both after ``gc.collect()``;
5. (extra) the API key appears in no error's message, ``repr`` or ``body``.

    python benchmarks/chaos.py            # 100,000 runs (~3 min on 2 idle cores)
    python benchmarks/chaos.py --quick    # 10,000 runs
    python benchmarks/chaos.py --runs 30000 --concurrency 500 --output /tmp/chaos.json

Prints a summary table and writes JSON (``results/chaos.json``; ``results/chaos-quick.json`` for
fewer than 100,000 runs); exits 1 when a criterion fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
import re
import subprocess
import sys
import threading
import time
import traceback
import tracemalloc
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import httpx
from contenders import Server
from pydantic import BaseModel
from run import _cpu_model

import agentkit
from agentkit import Agent, tool
from agentkit import errors as agentkit_errors
from agentkit._http.client import ClientOptions
from agentkit.errors import AgentkitError
from agentkit.events import TextDelta
from agentkit.models import OpenAICompatible

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import chaos_server  # noqa: E402  (the expected answers)

API_KEY = "sk-chaos-" + "".join(random.Random(7).choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
TIMEOUT = 1.0  # read/connect timeout and a stream's idle timeout; the server's short stalls are 0.2-0.5 s, long ones 2.5 s
MAX_RETRIES = 2
MAX_RETRY_WAIT = 0.25
REQUEST_DEADLINE = 3.0  # one request, retries and a whole stream included: a timed-out attempt and a slow retry can pass it
LATENCY_BOUNDS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0, float("inf"))
BATCH_CONCURRENCY_SHARE = 0.1  # of --concurrency, for the run_many part of each block (the rest: gather)
TOOL_POOL_PREFIX = "agentkit-tool-"
_DIGITS = re.compile(r"\d+")
TOOL_POOL_CAP = min(32, (os.cpu_count() or 1) + 4)  # agentkit/_threads.py


class Weather(BaseModel):
    city: str
    temp_c: int
    summary: str


EXPECTED_WEATHER = Weather.model_validate(chaos_server.WEATHER)


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city (a sync tool: agentkit runs it in a worker thread).

    Args:
        city: City name.
    """
    return f"Sunny, 22 C in {city}"


@tool
async def get_forecast(city: str, days: int) -> str:
    """Get the forecast for a city (an async tool).

    Args:
        city: City name.
        days: How many days.
    """
    await asyncio.sleep(random.random() * 0.005)
    return f"{days} sunny days in {city}"


# --- what is counted -----------------------------------------------------------------------------


@dataclass
class Tally:
    """Outcomes of runs, by kind."""

    runs: int = 0
    ok: int = 0
    typed: Counter[str] = field(default_factory=Counter)
    untyped: Counter[str] = field(default_factory=Counter)  # "Type @ file:line"
    wrong_output: int = 0
    hung: int = 0
    key_leaks: int = 0
    by_kind: dict[str, Counter[str]] = field(default_factory=dict)
    first_traceback: dict[str, str] = field(default_factory=dict)
    first_wrong: dict[str, str] = field(default_factory=dict)
    first_leak: dict[str, str] = field(default_factory=dict)
    latency: dict[str, list[int]] = field(default_factory=dict)  # kind → runs per LATENCY_BOUNDS bucket
    messages: Counter[str] = field(default_factory=Counter)  # "Type: the message's start", numbers as N

    def message(self, name: str, text: str) -> None:
        head = text.split(": ", 1)[-1]  # without "<provider> HTTP <status>: "
        head = head.split(": ", 1)[0] if not head.startswith(("HTTP", "Remote", "Read")) else head[:70]
        key = f"{name}: {_DIGITS.sub('N', head)[:70]}"
        if key in self.messages or len(self.messages) < 300:
            self.messages[key] += 1
        else:
            self.messages[f"{name}: (other messages)"] += 1

    def took(self, kind: str, seconds: float) -> None:
        buckets = self.latency.setdefault(kind, [0] * len(LATENCY_BOUNDS))
        for i, bound in enumerate(LATENCY_BOUNDS):
            if seconds <= bound:
                buckets[i] += 1
                return

    def kind(self, name: str) -> Counter[str]:
        return self.by_kind.setdefault(name, Counter())

    def success(self, kind: str, good: bool, what: str = "") -> None:
        self.runs += 1
        if good:
            self.ok += 1
            self.kind(kind)["ok"] += 1
        else:
            self.wrong_output += 1
            self.kind(kind)["wrong output"] += 1
            self.first_wrong.setdefault(kind, what[:500])

    def error(self, kind: str, error: BaseException) -> None:
        self.runs += 1
        if isinstance(error, AgentkitError):
            name = type(error).__name__
            self.typed[name] += 1
            self.kind(kind)[name] += 1
            self.message(name, str(error))
            self._check_leak(kind, name, error)
            return
        key = f"{type(error).__name__} @ {_where(error)}"
        self.untyped[key] += 1
        self.kind(kind)["untyped: " + type(error).__name__] += 1
        if key not in self.first_traceback:
            self.first_traceback[key] = f"[{kind}] " + "".join(traceback.format_exception(error))
            print(f"\nUNTYPED FAILURE ({kind}) {key}:\n{self.first_traceback[key]}", file=sys.stderr, flush=True)

    def batch_error(self, kind: str, text: str) -> None:
        """A ``run_many`` item's error: only its text (``"Type: message"``) is kept by the batch."""
        self.runs += 1
        name = text.split(":", 1)[0]
        cls = getattr(agentkit_errors, name, None)
        if isinstance(cls, type) and issubclass(cls, AgentkitError):
            self.typed[name] += 1
            self.kind(kind)[name] += 1
            self.message(name, text.split(":", 1)[1].strip() if ":" in text else "")
            if API_KEY in text or _key_core() in text:
                self._leak(kind, name, "BatchItem.error", text)
            return
        key = f"{name} @ run_many (BatchItem.error)"
        self.untyped[key] += 1
        self.kind(kind)["untyped: " + name] += 1
        if key not in self.first_traceback:
            self.first_traceback[key] = f"[{kind}] {text[:2000]}"
            print(f"\nUNTYPED FAILURE ({kind}) {key}:\n{text[:2000]}", file=sys.stderr, flush=True)

    def hang(self, kind: str) -> None:
        self.runs += 1
        self.hung += 1
        self.kind(kind)["hung"] += 1

    def _check_leak(self, kind: str, name: str, error: BaseException) -> None:
        core, escaped = _key_core(), "".join(f"\\u{ord(c):04x}" for c in _key_core())
        for where, text in (("str", str(error)), ("repr", repr(error)), ("body", repr(getattr(error, "body", None)))):
            if core in text or escaped in text:
                self._leak(kind, name, where, text)
                return

    def _leak(self, kind: str, name: str, where: str, text: str) -> None:
        self.key_leaks += 1
        self.first_leak.setdefault(f"{name}.{where}", f"[{kind}] {text[:400]}")


def upper_percentile(buckets: list[int], q: float) -> float:
    """The bucket bound below which at least ``q`` of the runs ended (an upper bound on that percentile)."""
    target, seen = q * sum(buckets), 0
    for bound, n in zip(LATENCY_BOUNDS, buckets, strict=True):
        seen += n
        if n and seen >= target:
            return bound
    return float("nan")


def _key_core() -> str:
    return API_KEY[len("sk-chaos-") :]


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    frame = frames[-1]
    path = frame.filename
    for root in (str(Path(agentkit.__file__).resolve().parent.parent) + os.sep, sys.prefix + os.sep):
        path = path.replace(root, "")
    return f"{path}:{frame.lineno} ({frame.name})"


@dataclass
class Unhandled:
    """What reached the loop's exception handler, ``sys.unraisablehook``, ``threading.excepthook`` or a ResourceWarning."""

    loop: int = 0
    unraisable: int = 0
    thread: int = 0
    resource_warnings: int = 0
    examples: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.loop + self.unraisable + self.thread

    def note(self, where: str, text: str) -> None:
        key = f"{where}: {text.splitlines()[0][:120] if text else ''}"
        if key not in self.examples and len(self.examples) < 50:
            self.examples[key] = text[:3000]
            print(f"\nUNHANDLED ({where}): {text[:3000]}", file=sys.stderr, flush=True)

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        def on_loop(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            self.loop += 1
            error = context.get("exception")
            text = context.get("message", "")
            if error is not None:
                text += "\n" + "".join(traceback.format_exception(error))
            text += "\n" + ", ".join(f"{k}={v!r:.200}" for k, v in context.items() if k not in ("message", "exception"))
            self.note("loop", text)

        def on_unraisable(info: Any) -> None:
            self.unraisable += 1
            text = f"{info.err_msg or 'Exception ignored in'}: {info.object!r:.200}\n"
            if info.exc_value is not None:
                text += "".join(traceback.format_exception(info.exc_type, info.exc_value, info.exc_traceback))
            self.note("unraisable", text)

        def on_thread(args: Any) -> None:
            self.thread += 1
            text = f"in {args.thread!r}: " + "".join(
                traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
            )
            self.note("thread", text)

        show = warnings.showwarning

        def on_warning(
            message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
        ) -> None:
            if issubclass(category, ResourceWarning):
                self.resource_warnings += 1
                self.note("ResourceWarning", f"{message} ({filename}:{lineno})")
                return
            show(message, category, filename, lineno, file, line)

        loop.set_exception_handler(on_loop)
        sys.unraisablehook = on_unraisable
        threading.excepthook = on_thread
        warnings.simplefilter("always", ResourceWarning)
        warnings.showwarning = on_warning


# --- resources -------------------------------------------------------------------------------


def count_sockets() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def rss_mb(field_name: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def heap_stats() -> dict[str, float]:
    """pymalloc's arenas and glibc's heap, in MB: where RSS goes that no Python object holds."""
    import ctypes
    import tempfile

    out: dict[str, float] = {}
    with tempfile.TemporaryFile("w+") as f:  # sys._debugmallocstats() writes to the C stderr
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(f.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        for line in f:
            if line.startswith("Total"):  # the first Total: every byte of pymalloc's arenas
                out.setdefault("pymalloc arenas", int(line.split("=")[1].replace(",", "")) / 2**20)
            elif line.startswith("# bytes in allocated blocks"):
                out["pymalloc used"] = int(line.split("=")[1].replace(",", "")) / 2**20
    try:

        class MallInfo2(ctypes.Structure):
            _fields_ = [
                (name, ctypes.c_size_t)
                for name in (
                    "arena",
                    "ordblks",
                    "smblks",
                    "hblks",
                    "hblkhd",
                    "usmblks",
                    "fsmblks",
                    "uordblks",
                    "fordblks",
                    "keepcost",
                )
            ]

        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
        out["malloc heap"] = info.arena / 2**20
        out["malloc in use"] = info.uordblks / 2**20
        out["malloc free"] = info.fordblks / 2**20
        out["malloc mmapped"] = info.hblkhd / 2**20
    except (OSError, AttributeError):
        pass
    return out


def malloc_trim() -> None:
    """glibc's ``malloc_trim(0)``: give the heap's free pages back to the OS (--trim)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def threads() -> tuple[list[str], list[str]]:
    """(agentkit's sync-tool pool threads, every other thread) by name."""
    names = [t.name for t in threading.enumerate()]
    pool = [n for n in names if n.startswith(TOOL_POOL_PREFIX)]
    return pool, [n for n in names if not n.startswith(TOOL_POOL_PREFIX)]


def other_tasks() -> list[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current]


# --- the runs ---------------------------------------------------------------------------------


class Hung(Exception):
    """A run (or a run_many call) outlived its :class:`Deadline`."""


class Deadline:
    """``async with Deadline(seconds):`` cancels the block after ``seconds`` and raises :class:`Hung`
    instead (like ``asyncio.timeout``, which Python 3.10 lacks; any other exception passes through)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._handle: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handle = asyncio.get_running_loop().call_later(self.seconds, self._expire, task)

    def _expire(self, task: asyncio.Task[Any]) -> None:
        self.expired = True
        task.cancel()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        assert self._handle is not None
        self._handle.cancel()
        if self.expired and kind is asyncio.CancelledError:
            uncancel = getattr(asyncio.current_task(), "uncancel", None)  # Python 3.11+: this cancel is handled
            if uncancel is not None:
                uncancel()
            raise Hung(f"still running after {self.seconds:g} s") from error


class Soak:
    """The agents, the mix of runs and the counters."""

    # kind → weight (percent of the gather part of each block); run_many gets --batch-share on top
    MIX: ClassVar[dict[str, float]] = {
        "run/sync-tool": 18,
        "run/async-tool": 14,
        "stream/sync-tool": 14,
        "stream/async-tool": 10,
        "stream/text": 6,
        "run/native": 8,
        "run/tool-mode": 10,
        "stream/native": 10,
        "stream/tool-mode": 10,
    }

    def __init__(self, url: str, hang: float) -> None:
        options: dict[str, Any] = {}
        if "request_deadline" in ClientOptions.__annotations__:  # agentkit since c63f363
            options["request_deadline"] = REQUEST_DEADLINE
        self.model = OpenAICompatible(
            "chaos",
            base_url=url + "/v1",
            api_key=API_KEY,
            timeout=httpx.Timeout(TIMEOUT, connect=TIMEOUT),
            idle_timeout=TIMEOUT,
            max_retries=MAX_RETRIES,
            max_retry_wait=MAX_RETRY_WAIT,
            **options,
        )
        model = self.model
        self.sync_agent = Agent(model, tools=[get_weather], name="sync-tool")
        self.async_agent = Agent(model, tools=[get_forecast], name="async-tool")
        self.text_agent = Agent(model, name="text")
        self.native_agent = Agent(model, output_type=Weather, output_mode="native", name="native")
        self.tool_mode_agent = Agent(model, tools=[get_weather], output_type=Weather, output_mode="tool", name="tool-mode")
        self.agents: list[Agent[Any, Any]] = [
            self.sync_agent,
            self.async_agent,
            self.text_agent,
            self.native_agent,
            self.tool_mode_agent,
        ]
        self.runners: dict[str, Callable[[], Awaitable[tuple[bool, str]]]] = {
            "run/sync-tool": lambda: self._run(self.sync_agent, chaos_server.TEXT),
            "run/async-tool": lambda: self._run(self.async_agent, chaos_server.TEXT),
            "stream/sync-tool": lambda: self._stream(self.sync_agent, chaos_server.TEXT),
            "stream/async-tool": lambda: self._stream(self.async_agent, chaos_server.TEXT),
            "stream/text": lambda: self._stream(self.text_agent, chaos_server.TEXT),
            "run/native": lambda: self._run(self.native_agent, EXPECTED_WEATHER),
            "run/tool-mode": lambda: self._run(self.tool_mode_agent, EXPECTED_WEATHER),
            "stream/native": lambda: self._stream(self.native_agent, EXPECTED_WEATHER),
            "stream/tool-mode": lambda: self._stream(self.tool_mode_agent, EXPECTED_WEATHER),
        }
        self.hang = hang
        self.tally = Tally()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.batch_seconds = 0.0  # time spent in run_many calls, and their runs
        self.batch_runs = 0

    async def _run(self, agent: Agent[Any, Any], expected: Any) -> tuple[bool, str]:
        result = await agent.run("Weather in Paris?")
        return result.output == expected, f"output={result.output!r}"

    async def _stream(self, agent: Agent[Any, Any], expected: Any) -> tuple[bool, str]:
        pieces: list[str] = []
        async with agent.run_stream("Weather in Paris?") as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    pieces.append(event.text)
            output = stream.result.output
        text = "".join(pieces)
        want_text = chaos_server.TEXT if expected == chaos_server.TEXT else json.dumps(chaos_server.WEATHER, ensure_ascii=False)
        text_ok = text == want_text or (isinstance(expected, Weather) and text == "")  # tool mode: no text
        return output == expected and text_ok, f"output={output!r} text={text!r}"

    async def one(self, kind: str) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        started = time.perf_counter()
        try:
            async with Deadline(self.hang):
                good, what = await self.runners[kind]()
        except Hung:
            self.tally.hang(kind)
        except asyncio.CancelledError as e:
            cancelling = getattr(asyncio.current_task(), "cancelling", None)  # Python 3.11+
            if cancelling is not None and cancelling():
                raise  # we are being stopped (Ctrl-C)
            self.tally.error(kind, e)  # a run that raised CancelledError without being cancelled
        except Exception as e:
            self.tally.error(kind, e)
        else:
            self.tally.success(kind, good, what)
        finally:
            self.in_flight -= 1
            self.tally.took(kind, time.perf_counter() - started)

    async def block(self, runs: int, concurrency: int, batch_share: float, rng: random.Random) -> None:
        """``runs`` runs, at most ``concurrency`` in flight: ``batch_share`` of them (and of the
        concurrency) through ``agent.run_many``, the rest at the same time through gather + a semaphore."""
        batch = round(runs * batch_share)
        batch_concurrency = max(1, round(concurrency * BATCH_CONCURRENCY_SHARE)) if batch else 0
        kinds = rng.choices(list(self.MIX), weights=list(self.MIX.values()), k=runs - batch)
        gate = asyncio.Semaphore(max(1, concurrency - batch_concurrency))

        async def gated(kind: str) -> None:
            async with gate:
                await self.one(kind)

        jobs = [gated(kind) for kind in kinds]
        if batch:
            jobs.append(self.batch(batch, batch_concurrency))
        await asyncio.gather(*jobs)

    async def batch(self, runs: int, concurrency: int) -> None:
        self.in_flight += min(runs, concurrency)
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        started = time.perf_counter()
        try:
            async with Deadline(self.hang + runs / 2):  # hung: below 2 runs/s
                items = await self.sync_agent.run_many(
                    [f"Weather in Paris? #{i}" for i in range(runs)], concurrency=concurrency, progress=False
                )
        except Hung:
            for _ in range(runs):
                self.tally.hang("run_many/sync-tool")
            return
        finally:
            self.in_flight -= min(runs, concurrency)
            self.batch_seconds += time.perf_counter() - started
            self.batch_runs += runs
        for item in items:
            if item.error is None:
                self.tally.success("run_many/sync-tool", item.output == chaos_server.TEXT, f"output={item.output!r}")
            else:
                self.tally.batch_error("run_many/sync-tool", item.error)

    async def aclose(self) -> None:
        for agent in self.agents:
            await agent.aclose()


# --- the server process -----------------------------------------------------------------------


class ChaosServer(Server):
    """``chaos_server.py`` in its own process (launched like the benchmark's server)."""

    script = "chaos_server.py"

    def __init__(self, seed: int, faults: str | None = None) -> None:
        super().__init__("--seed", str(seed), *(["--faults", faults] if faults else []))

    async def stats(self) -> dict[str, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(b"GET /stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
            await writer.wait_closed()
        return json.loads(data.split(b"\r\n\r\n", 1)[1])  # type: ignore[no-any-return]

    def cpu_seconds(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None


# --- main ---------------------------------------------------------------------------------------


def _git_commit() -> str | None:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(  # from the repository's root: "agentkit" from benchmarks/ matched nothing
            ["git", "status", "--porcelain", "--", "agentkit"], cwd=HERE.parent, capture_output=True, text=True
        ).stdout.strip()
        return commit + (" (+ uncommitted changes in agentkit/)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("httpx", "aiohttp", "httpx-aiohttp", "httpx-sse", "pydantic"):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


async def soak(args: argparse.Namespace, server: ChaosServer) -> dict[str, Any]:
    unhandled = Unhandled()
    unhandled.install(asyncio.get_running_loop())
    gc.collect()
    before: dict[str, Any] = {"sockets": count_sockets(), "tasks": len(other_tasks()), "threads": threads()[1]}
    soak = Soak(server.url, args.hang)
    rng = random.Random(args.seed)
    blocks = 10
    sizes = [args.runs // blocks + (1 if i < args.runs % blocks else 0) for i in range(blocks)]
    checkpoints: list[dict[str, Any]] = []
    previous_types: Counter[str] | None = None
    first_snapshot: tracemalloc.Snapshot | None = None
    started = time.perf_counter()
    cpu_started = time.process_time()
    columns: tuple[tuple[str, int], ...] = (("runs", 8), ("ok", 8), ("typed", 7), ("untyped", 7), ("hung", 5), ("unhandled", 9))
    columns += (("RSS MB", 7), ("sockets", 7), ("runs/s", 7), ("elapsed", 8))
    print(" ".join(f"{name:>{width}}" for name, width in columns))
    try:
        for size in sizes:
            t0 = time.perf_counter()
            await soak.block(size, args.concurrency, args.batch_share, rng)
            gc.collect()
            if args.trim:
                malloc_trim()
            t = soak.tally
            point = {
                "runs": t.runs,
                "rss_mb": round(rss_mb(), 1),
                "sockets_open": count_sockets(),
                "tasks": len(other_tasks()),
                "elapsed_s": round(time.perf_counter() - started, 1),
                "block_runs_per_s": round(size / (time.perf_counter() - t0), 1),
                "heap_mb": {k: round(v, 2) for k, v in heap_stats().items()},
            }
            checkpoints.append(point)
            if args.debug_growth:
                types = Counter(type(o).__qualname__ for o in gc.get_objects())
                if previous_types is not None:
                    grown = (types - previous_types).most_common(12)
                    print("   objects grown since the last checkpoint:", ", ".join(f"{k} +{v}" for k, v in grown), flush=True)
                previous_types = types
                print("   memory:", ", ".join(f"{k} {v:.1f} MB" for k, v in point["heap_mb"].items()), flush=True)
                if tracemalloc.is_tracing():  # python -X tracemalloc=5 benchmarks/chaos.py --debug-growth
                    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
                    if first_snapshot is not None:  # growth since the first checkpoint
                        for stat in snapshot.compare_to(first_snapshot, "lineno")[:10]:
                            print("   ", stat, flush=True)
                    else:
                        first_snapshot = snapshot
            print(
                f"{t.runs:>8,} {t.ok:>8,} {sum(t.typed.values()):>7,} {sum(t.untyped.values()) + t.wrong_output:>7,} {t.hung:>5}"
                f" {unhandled.total:>9} {point['rss_mb']:>7.1f} {point['sockets_open']:>7} {point['block_runs_per_s']:>7.0f}"
                f" {point['elapsed_s']:>7.0f}s",
                flush=True,
            )
    finally:
        await soak.aclose()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    # closed transports finish on the next loop iterations: give them (and the pool's threads) a moment
    settle_started = time.perf_counter()
    for _ in range(100):
        await asyncio.sleep(0.05)
        gc.collect()
        if count_sockets() <= before["sockets"] and len(other_tasks()) <= before["tasks"]:
            break
    settle = time.perf_counter() - settle_started
    pool, others = threads()
    after: dict[str, Any] = {"sockets": count_sockets(), "tasks": len(other_tasks()), "threads": others}
    leftover_tasks = [repr(t)[:300] for t in other_tasks()][:10]
    stats = await server.stats()
    t = soak.tally
    return {
        "runs": t.runs,
        "ok": t.ok,
        "typed_errors": dict(t.typed.most_common()),
        "typed_error_messages": dict(t.messages.most_common()),
        "untyped_failures": dict(t.untyped.most_common()),
        "untyped_tracebacks": t.first_traceback,
        "wrong_output": t.wrong_output,
        "wrong_output_examples": t.first_wrong,
        "hung": t.hung,
        "key_leaks": t.key_leaks,
        "key_leak_examples": t.first_leak,
        "by_kind": {kind: dict(c.most_common()) for kind, c in sorted(t.by_kind.items())},
        "latency_s": {
            kind: {
                "p50_at_most": upper_percentile(b, 0.5),
                "p90_at_most": upper_percentile(b, 0.9),
                "p99_at_most": upper_percentile(b, 0.99),
                "buckets": {str(bound): n for bound, n in zip(LATENCY_BOUNDS, b, strict=True)},
            }
            for kind, b in sorted(t.latency.items())
        },
        "unhandled": {
            "loop_exception_handler": unhandled.loop,
            "unraisablehook": unhandled.unraisable,
            "threading_excepthook": unhandled.thread,
            "resource_warnings": unhandled.resource_warnings,
            "examples": unhandled.examples,
        },
        "resources": {
            "before": {"sockets": before["sockets"], "tasks": before["tasks"], "threads": len(before["threads"])},
            "after": {"sockets": after["sockets"], "tasks": after["tasks"], "threads": len(after["threads"])},
            "leaked_sockets": after["sockets"] - before["sockets"],
            "leaked_tasks": after["tasks"] - before["tasks"],
            "leaked_threads": sorted((Counter(after["threads"]) - Counter(before["threads"])).elements()),
            "leftover_tasks": leftover_tasks,
            "tool_pool_threads": len(pool),
            "tool_pool_cap": TOOL_POOL_CAP,
            "settle_s": round(settle, 2),
        },
        "checkpoints": checkpoints,
        "peak_rss_mb": round(rss_mb("VmHWM"), 1),
        "peak_in_flight": soak.peak_in_flight,
        "run_many": {"runs": soak.batch_runs, "seconds": round(soak.batch_seconds, 1), "calls": blocks},
        "wall_s": round(wall, 1),
        "client_cpu_s": round(cpu, 1),
        "server_cpu_s": server.cpu_seconds(),
        "runs_per_s": round(t.runs / wall, 1),
        "server_faults": dict(sorted(stats.items())),
    }


def criteria(r: dict[str, Any], expected_runs: int) -> list[dict[str, Any]]:
    res = r["resources"]
    first, last = r["checkpoints"][0], r["checkpoints"][-1]
    growth = (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"] * 100
    failed = sum(r["untyped_failures"].values()) + r["wrong_output"] + r["hung"]
    unhandled = r["unhandled"]
    rows = [
        ("every run accounted for", f"{r['runs']:,} of {expected_runs:,}", r["runs"] == expected_runs),
        ("untyped failures + wrong outputs + hung runs", f"{failed:,}", failed == 0),
        (
            "unhandled (loop handler / unraisable / thread)",
            f"{unhandled['loop_exception_handler']} / {unhandled['unraisablehook']} / {unhandled['threading_excepthook']}",
            unhandled["loop_exception_handler"] + unhandled["unraisablehook"] + unhandled["threading_excepthook"] == 0,
        ),
        (
            "leaked sockets",
            f"{res['leaked_sockets']} ({res['before']['sockets']} before, {res['after']['sockets']} after)",
            res["leaked_sockets"] <= 0,
        ),
        ("leaked tasks", f"{res['leaked_tasks']}", res["leaked_tasks"] <= 0),
        ("leaked threads", f"{len(res['leaked_threads'])} {res['leaked_threads'] or ''}".strip(), not res["leaked_threads"]),
        (
            "sync-tool pool threads",
            f"{res['tool_pool_threads']} (cap {res['tool_pool_cap']})",
            res["tool_pool_threads"] <= res["tool_pool_cap"],
        ),
        ("ResourceWarnings", f"{unhandled['resource_warnings']}", unhandled["resource_warnings"] == 0),
        (
            f"RSS after {last['runs']:,} vs after {first['runs']:,} runs",
            f"{last['rss_mb']:.1f} vs {first['rss_mb']:.1f} MB ({growth:+.1f} %)",
            growth <= 5.0,
        ),
        ("(extra) API key in an error's text", f"{r['key_leaks']}", r["key_leaks"] == 0),
    ]
    return [{"criterion": c, "measured": m, "pass": p} for c, m, p in rows]


def summary(r: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = ["", "## Chaos soak", ""]
    typed = sum(r["typed_errors"].values())
    untyped = sum(r["untyped_failures"].values())
    lines.append(
        f"runs {r['runs']:,}  ok {r['ok']:,} ({r['ok'] / max(r['runs'], 1):.1%})  typed errors {typed:,}  untyped {untyped:,}"
        f"  wrong output {r['wrong_output']:,}  hung {r['hung']:,}"
    )
    server_cpu = r["server_cpu_s"] if r["server_cpu_s"] is not None else float("nan")
    lines.append(
        f"wall {r['wall_s']:.0f} s, {r['runs_per_s']:.0f} runs/s, client CPU {r['client_cpu_s']:.0f} s,"
        f" server CPU {server_cpu:.0f} s, peak in flight {r['peak_in_flight']:,}, peak RSS {r['peak_rss_mb']:.1f} MB"
    )
    lines += ["", "| typed error | runs |", "| --- | ---: |"]
    lines += [f"| {name} | {n:,} |" for name, n in r["typed_errors"].items()]
    if r["untyped_failures"]:
        lines += ["", "| untyped failure (type @ where) | runs |", "| --- | ---: |"]
        lines += [f"| {name} | {n:,} |" for name, n in r["untyped_failures"].items()]
    lines += ["", "| kind | runs | ok | latency p50 / p90 / p99 ≤ s | errors (top 3) |", "| --- | ---: | ---: | --- | --- |"]
    for kind, c in r["by_kind"].items():
        total = sum(c.values())
        errors = sorted(((v, k) for k, v in c.items() if k != "ok"), reverse=True)[:3]
        top = ", ".join(f"{k} {v:,}" for v, k in errors)
        lat = r["latency_s"].get(kind)
        when = f"{lat['p50_at_most']:g} / {lat['p90_at_most']:g} / {lat['p99_at_most']:g}" if lat else "-"
        lines.append(f"| {kind} | {total:,} | {c.get('ok', 0):,} | {when} | {top} |")
    lines += [
        "",
        "| checkpoint runs | RSS MB | sockets open | elapsed s | runs/s in block |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {p['runs']:,} | {p['rss_mb']:.1f} | {p['sockets_open']} | {p['elapsed_s']:.0f} | {p['block_runs_per_s']:.0f} |"
        for p in r["checkpoints"]
    ]
    lines += ["", "| criterion | measured | verdict |", "| --- | --- | --- |"]
    lines += [f"| {row['criterion']} | {row['measured']} | {'PASS' if row['pass'] else '**FAIL**'} |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000, help="agent runs in all (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="10,000 runs")
    parser.add_argument("--concurrency", type=int, default=1000, help="runs in flight at most (default 1,000)")
    parser.add_argument(
        "--batch-share",
        type=float,
        default=0.02,
        help="share of each block's runs made through agent.run_many, at 10%% of --concurrency, beside the rest (default 0.02)",
    )
    parser.add_argument(
        "--hang", type=float, default=60.0, help="a run still going after this many seconds counts as hung (default 60)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the run mix and of the server's faults")
    parser.add_argument(
        "--faults", default=None, help="the server's fault weights instead of its table, e.g. ok=100 (for a baseline)"
    )
    parser.add_argument(
        "--debug-growth", action="store_true", help="at each checkpoint, print the object types that grew (gc.get_objects())"
    )
    parser.add_argument(
        "--trim",
        action="store_true",
        help="call glibc's malloc_trim(0) before each RSS sample (to tell heap fragmentation from growth)",
    )
    parser.add_argument("--pin", action="store_true", help="client on CPU 0, server on CPU 1 (as run.py does)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON results (default results/chaos.json, results/chaos-quick.json below 100,000 runs)",
    )
    args = parser.parse_args()
    if args.quick:
        args.runs = 10_000
    if args.runs < 10:
        parser.error("--runs must be at least 10 (ten blocks)")
    output = args.output or HERE / "results" / ("chaos.json" if args.runs >= 100_000 else "chaos-quick.json")
    server = ChaosServer(args.seed, args.faults)
    pinned = "not pinned"
    if args.pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(server.proc.pid, {cpus[-1]})
        os.sched_setaffinity(0, set(cpus[:-1]))
        pinned = f"client on CPU {','.join(map(str, cpus[:-1]))}, server on CPU {cpus[-1]}"
    load_start = os.getloadavg()
    print(
        f"chaos soak: {args.runs:,} runs, up to {args.concurrency:,} in flight, server {server.url} ({pinned}),"
        f" git {_git_commit()}",
        flush=True,
    )
    try:
        result = asyncio.run(soak(args, server))
    finally:
        server.close()
    rows = criteria(result, args.runs)
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "versions": _versions(),
        "transport": OpenAICompatible("x", base_url="http://127.0.0.1:1/v1")._http.transport,
        "pinned": pinned,
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "options": {
            "runs": args.runs,
            "concurrency": args.concurrency,
            "batch_share": args.batch_share,
            "seed": args.seed,
            "hang_s": args.hang,
            "malloc_trim_before_rss": args.trim,
            "timeout_s": TIMEOUT,
            "idle_timeout_s": TIMEOUT,
            "max_retries": MAX_RETRIES,
            "max_retry_wait_s": MAX_RETRY_WAIT,
            "request_deadline_s": REQUEST_DEADLINE if "request_deadline" in ClientOptions.__annotations__ else None,
            "mix_percent": Soak.MIX,
            "server_fault_weights_percent": chaos_server.FAULTS,
        },
        **result,
        "criteria": rows,
        "passed": all(row["pass"] for row in rows),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    print(summary(result, rows))
    if result["untyped_tracebacks"]:
        print("\nFirst traceback of each untyped failure:", file=sys.stderr)
        for key, text in result["untyped_tracebacks"].items():
            print(f"\n--- {key} ---\n{text}", file=sys.stderr)
    if result["wrong_output_examples"]:
        print(
            "\nFirst wrong output of each kind:", *(f"  {k}: {v}" for k, v in result["wrong_output_examples"].items()), sep="\n"
        )
    if result["key_leak_examples"]:
        print("\nFirst key leak of each place:", *(f"  {k}: {v}" for k, v in result["key_leak_examples"].items()), sep="\n")
    print(f"\nresults: {output}")
    print("PASS" if payload["passed"] else "FAIL")
    sys.exit(0 if payload["passed"] else 1)


if __name__ == "__main__":
    main()
