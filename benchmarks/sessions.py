"""The sessions benchmark: what a session adds to a turn, per store, and how it grows with the history.

    python benchmarks/sessions.py              # ~5 min on a quiet 2-core machine (~10 under load)
    python benchmarks/sessions.py --quick      # fewer runs and repetitions
    python benchmarks/sessions.py --only load  # only the 10,000-message load (get_messages alone)
    python benchmarks/sessions.py --plans h10000_c1,h10000_c50 --contenders redis --tag _hiredis
                                               # a partial run, stored as bench_hiredis / load_hiredis
                                               # beside the file's other results

One run = ``agent.run(PROMPT, session=s)`` against ``server.py`` in its own process: the tool round
trip of ``run.py`` (2 requests, one sync tool), after which the session holds 4 more messages (the
prompt, the tool call, the tool's result, the answer). Stores: ``InMemorySession``,
``SQLiteSession`` (a file under /tmp), ``PostgresSession`` and ``RedisSession`` (a PostgreSQL and a
redis-server started by this script on 127.0.0.1 and stopped at its end, as ``tests/sessions``
does). Every session is pre-filled once with 1, 100 or 10,000 messages (whole tool turns, as runs
store them); each run of a repetition gets a session of its own, and after the repetition its 4
messages are popped again, so that every measured run loads exactly that history and appends.

Contenders of each plan (history length x concurrency 1 or 50), interleaved within each repetition
(A B C ... | ... C B A): ``none`` (the same run without a session or history: **the baseline**),
``messages`` (no session, the same history passed as ``messages=``: what sending that history
costs whatever stores it), one per store, and at 10,000 messages ``redis-no-timeout`` (the same
Redis lists through a client without redis-py's default 5 s socket timeout). Client CPU per run = ``time.process_time()`` deltas
of this process (all its threads, so SQLite's, whose work runs in this process; the PostgreSQL
and Redis servers are other processes: their CPU per run is shown apart, from /proc), wall time
per run (the batch's time / its runs: the store's round trips count there), medians; ratios to
``none`` of the medians and paired (per repetition, measured back to back), and the store's own
cost: its turn minus the ``messages`` turn of the same repetition. A run that raises is counted
(``failed_runs``) and the benchmark goes on.

``load``: ``get_messages()`` alone on a 10,000-message session of each store, and what it is made
of (the query, the decoding), against the whole turn's time with that history.

Results: ``benchmarks/results/sessions.json``; tables on the terminal (and in benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import glob
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from contenders import EXPECTED, PROMPT, Server, get_weather

from agentkit import Agent
from agentkit.messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage, message_list_adapter
from agentkit.models import OpenAICompatible
from agentkit.sessions import InMemorySession, PostgresSession, RedisSession, Session, SQLiteSession
from agentkit.sessions._base import decode
from agentkit.sessions._redis import _decode as redis_decode

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "sessions.json"
STORES = ("memory", "sqlite", "postgres", "redis")
BASELINE = "none"
NO_TIMEOUT = "redis-no-timeout"  # RedisSession(client=Redis.from_url(url, socket_timeout=None))
NO_TIMEOUT_FROM = 10_000  # ... with histories of this length or more
CONTENDERS = (BASELINE, "messages", *STORES, NO_TIMEOUT)
STORED_PER_RUN = 4
SEED_RUNS = 5
KEY_PREFIX = "bench"


@dataclass(frozen=True)
class Plan:
    history: int
    concurrency: int
    runs: int  # per contender and repetition
    warmup: int

    @property
    def key(self) -> str:
        return f"h{self.history}_c{self.concurrency}"


FULL: dict[str, Any] = {
    "reps": 5,
    "plans": [
        Plan(1, 1, 100, 30),
        Plan(1, 50, 500, 100),
        Plan(100, 1, 100, 30),
        Plan(100, 50, 500, 100),
        Plan(10_000, 1, 10, 3),
        Plan(10_000, 50, 50, 50),
    ],
    "load_reps": 21,
}
QUICK: dict[str, Any] = {
    "reps": 3,
    "plans": [
        Plan(1, 1, 50, 20),
        Plan(1, 50, 200, 50),
        Plan(100, 1, 50, 20),
        Plan(100, 50, 200, 50),
        Plan(10_000, 1, 5, 2),
        Plan(10_000, 50, 50, 50),
    ],
    "load_reps": 11,
}


# --- the store servers (as tests/sessions/services.py, without pytest) ------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or max(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), default=None, key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise SystemExit(f"PostgreSQL ({name}) is not installed: apt-get install postgresql")
    return found


def _as_postgres(command: list[str]) -> list[str]:
    """The server refuses to run as root: as root, run ``command`` as the ``postgres`` user."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--", *command] if runuser else ["su", "postgres", "-c", shlex.join(command)]


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[str, int]]:
    """A PostgreSQL of our own in a temporary folder (fsync off, as in the tests): (DSN, postmaster pid)."""
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    folder = tempfile.mkdtemp(prefix="agentkit-bench-pg-", dir="/tmp" if os.geteuid() == 0 else None)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port = os.path.join(folder, "data"), _free_port()
    run: dict[str, Any] = dict(check=True, capture_output=True, text=True, timeout=120)
    try:
        subprocess.run(_as_postgres([initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]), **run)
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(_as_postgres([pg_ctl, "-D", data, "-o", options, "-l", os.path.join(folder, "log"), "-w", "start"]), **run)
        pid = int(Path(data, "postmaster.pid").read_text().split()[0])
    except (subprocess.CalledProcessError, OSError, ValueError) as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise SystemExit(f"PostgreSQL did not start: {getattr(e, 'stderr', e)}") from e
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", pid
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", data, "-m", "immediate", "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, int]]:
    """A redis-server of our own (no persistence): (URL, pid)."""
    binary = shutil.which("redis-server")
    if not binary:
        raise SystemExit("Redis (redis-server) is not installed: apt-get install redis-server")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- CPU of other processes (Linux /proc) --------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int | str) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def tree_pids(root: int) -> list[int]:
    """``root`` and its children (PostgreSQL: the postmaster and its backends)."""
    pids = [root]
    for entry in glob.glob("/proc/[0-9]*/stat"):
        fields = _stat(entry.split("/")[2])
        if fields and int(fields[1]) == root:
            pids.append(int(entry.split("/")[2]))
    return pids


def tree_cpu(root: int | None) -> float | None:
    """CPU seconds used so far by ``root`` and its children (those alive now)."""
    if root is None:
        return None
    total = 0.0
    for pid in tree_pids(root):
        fields = _stat(pid)
        if fields:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def machine_busy() -> float | None:
    """CPU seconds the whole machine has been busy (all but idle and iowait)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    return sum(int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4)) / TICKS


def pin(client_cpus: set[int], server_cpu: int, pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {server_cpu})
    os.sched_setaffinity(0, client_cpus)


# --- histories and sessions ---------------------------------------------------------------------------


def history(n: int) -> list[Message]:
    """``n`` messages of earlier turns, as runs store them: user, tool call, tool result, answer (repeated)."""
    out: list[Message] = []
    turn = 0
    while len(out) < n:
        turn += 1
        call = f"call_h{turn:011d}"
        out += [
            UserMessage(content=PROMPT),
            AssistantMessage(tool_calls=[ToolCall(id=call, name="get_weather", arguments='{"city": "Paris"}')]),
            ToolMessage(tool_call_id=call, content="Sunny, 22 C in Paris", name="get_weather"),
            AssistantMessage(content=EXPECTED),
        ]
    return out[:n]


@dataclass
class Stores:
    sqlite_path: str
    dsn: str
    redis_url: str
    postgres_pid: int
    redis_pid: int

    def open(self, kind: str, session_id: str, messages: list[Message]) -> Session:
        if kind == "memory":
            return InMemorySession(messages)
        if kind == "sqlite":
            return SQLiteSession(self.sqlite_path, session_id)
        if kind == "postgres":
            return PostgresSession(self.dsn, session_id)
        assert kind == "redis"
        return RedisSession(self.redis_url, session_id, key_prefix=KEY_PREFIX)

    def server_pid(self, kind: str) -> int | None:
        return {"postgres": self.postgres_pid, "redis": self.redis_pid, NO_TIMEOUT: self.redis_pid}.get(kind)


async def prefill(session: Session, messages: list[Message]) -> None:
    for i in range(0, len(messages), 2000):
        await session.add_messages(messages[i : i + 2000])


async def sessions_for(stores: Stores, kind: str, name: str, count: int, messages: list[Message]) -> list[Session]:
    """``count`` sessions of ``kind`` named ``<name>-<i>``, holding ``messages`` (filled once; 8 at a time)."""
    out = [stores.open(kind, f"{name}-{i}", messages) for i in range(count)]
    if kind != "memory":
        for i in range(0, count, 8):
            await asyncio.gather(*(prefill(s, messages) for s in out[i : i + 8]))
    return out


# --- contenders ----------------------------------------------------------------------------------------


class WrongOutput(Exception):
    pass


class Contender:
    """One way of running the turn: no history, the history as ``messages=``, or a session of one store.

    A run that raises is counted (``failures``) and the benchmark goes on; a wrong output stops it.
    """

    def __init__(self, name: str, url: str, history: list[Message], sessions: list[Session] | None) -> None:
        self.name = name
        self.agent = Agent(OpenAICompatible("bench", base_url=url + "/v1", api_key="k"), tools=[get_weather])
        self.n = len(history)
        self.history = history if name == "messages" else None
        self.sessions = sessions
        self.next = 0
        self.used: Counter[int] = Counter()
        self.dirty: set[int] = set()  # sessions of a failed run: what it stored is counted again
        self.failures: Counter[str] = Counter()

    async def run(self) -> None:
        i = None
        try:
            if self.sessions is not None:
                i = self.next % len(self.sessions)
                self.next += 1
                self.used[i] += 1
                result = await self.agent.run(PROMPT, session=self.sessions[i])
            elif self.history is not None:
                result = await self.agent.run(PROMPT, messages=self.history)
            else:
                result = await self.agent.run(PROMPT)
        except Exception as e:
            self.failures[f"{type(e).__module__}.{type(e).__name__}: {e}"[:200]] += 1
            if i is not None:
                self.dirty.add(i)
            return
        if result.output != EXPECTED or result.usage.requests != 2:
            raise WrongOutput(f"{self.name}: output {result.output!r} after {result.usage.requests} requests")

    async def restore(self) -> None:
        """Pop what the runs since the last restore stored: every session holds its history again."""
        if self.sessions is None:
            return
        sessions = self.sessions

        async def pop(i: int, k: int) -> None:
            if i in self.dirty:
                k = len(await sessions[i].get_messages()) - self.n
            for _ in range(k):
                if await sessions[i].pop_message() is None:
                    raise RuntimeError(f"{self.name}: session {i} is shorter than it should be")

        used = [(i, k * STORED_PER_RUN) for i, k in self.used.items()]
        for j in range(0, len(used), 20):
            await asyncio.gather(*(pop(i, k) for i, k in used[j : j + 20]))
        self.used.clear()
        self.dirty.clear()
        self.next = 0

    async def batch(self, runs: int, concurrency: int) -> None:
        workers = min(concurrency, runs)
        share, extra = divmod(runs, workers)

        async def worker(n: int) -> None:
            for _ in range(n):
                await self.run()

        if workers == 1:
            await worker(runs)
        else:
            await asyncio.gather(*(worker(share + (i < extra)) for i in range(workers)))


@dataclass
class Sample:
    cpu: float  # client CPU seconds per run
    wall: float  # seconds per run (the batch's wall time / its runs)
    store_cpu: float | None  # the store server's CPU seconds per run (PostgreSQL, Redis)
    other_cores: float | None  # cores used by every other process of the machine meanwhile
    failed: int  # runs that raised


async def measure(c: Contender, plan: Plan, stores: Stores, own_pids: list[int]) -> Sample:
    """One repetition of one contender: fresh HTTP connections, a few sequential runs, then the batch."""
    await c.agent.aclose()
    await c.batch(SEED_RUNS, 1)
    await c.restore()
    gc.collect()
    store_pid = stores.server_pid(c.name)
    s0, m0, o0 = tree_cpu(store_pid), machine_busy(), sum(tree_cpu(p) or 0.0 for p in own_pids)
    failed = sum(c.failures.values())
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await c.batch(plan.runs, plan.concurrency)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    failed = sum(c.failures.values()) - failed
    s1, m1, o1 = tree_cpu(store_pid), machine_busy(), sum(tree_cpu(p) or 0.0 for p in own_pids)
    await c.restore()
    other = None
    if m0 is not None and m1 is not None:
        ours = (cpu1 - cpu0) + (o1 - o0) + ((s1 - s0) if s0 is not None and s1 is not None else 0.0)
        other = max(0.0, (m1 - m0) - ours) / (wall1 - wall0)
    return Sample(
        (cpu1 - cpu0) / plan.runs,
        (wall1 - wall0) / plan.runs,
        (s1 - s0) / plan.runs if s0 is not None and s1 is not None else None,
        other,
        failed,
    )


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def summarize(samples: dict[str, list[Sample]]) -> dict[str, Any]:
    base, msgs = samples[BASELINE], samples["messages"]
    out: dict[str, Any] = {}
    for name, ss in samples.items():
        cpu, wall = _median([s.cpu for s in ss]), _median([s.wall for s in ss])
        store = [s.store_cpu for s in ss if s.store_cpu is not None]
        out[name] = {
            "cpu_us_per_run": cpu * 1e6,
            "wall_us_per_run": wall * 1e6,
            "cpu_ratio": cpu / _median([s.cpu for s in base]),
            "cpu_ratio_paired": _median([a.cpu / b.cpu for a, b in zip(ss, base, strict=True)]),
            "wall_ratio": wall / _median([s.wall for s in base]),
            "wall_ratio_paired": _median([a.wall / b.wall for a, b in zip(ss, base, strict=True)]),
            # what the store adds over the same history passed in memory (paired, µs per run)
            "cpu_over_messages_us_paired": _median([(a.cpu - b.cpu) * 1e6 for a, b in zip(ss, msgs, strict=True)]),
            "wall_over_messages_us_paired": _median([(a.wall - b.wall) * 1e6 for a, b in zip(ss, msgs, strict=True)]),
            "store_server_cpu_us_per_run": _median(store) * 1e6 if store else None,
            "cpu_us_per_run_samples": [round(s.cpu * 1e6, 1) for s in ss],
            "wall_us_per_run_samples": [round(s.wall * 1e6, 1) for s in ss],
            "other_processes_cores_samples": [None if s.other_cores is None else round(s.other_cores, 2) for s in ss],
            "failed_runs": sum(s.failed for s in ss),
        }
    return out


async def bench(url: str, stores: Stores, mode: dict[str, Any], own_pids: list[int], names: list[str]) -> dict[str, Any]:
    plans: list[Plan] = mode["plans"]
    results: dict[str, Any] = {}
    for n in sorted({p.history for p in plans}):
        mine = [p for p in plans if p.history == n]
        count = max(max(p.runs, p.warmup) for p in mine)
        messages = history(n)
        started = time.perf_counter()
        kinds = [k for k in STORES if k in names or (k == "redis" and NO_TIMEOUT in names)]
        pools = {kind: await sessions_for(stores, kind, f"h{n}", count, messages) for kind in kinds}
        print(f"history {n:,}: {count} sessions per store filled in {time.perf_counter() - started:.1f} s")
        no_timeout = None
        if NO_TIMEOUT in names and n >= NO_TIMEOUT_FROM:
            # the same Redis lists, through a client without redis-py's default 5 s socket timeout
            from redis.asyncio import Redis

            no_timeout = Redis.from_url(stores.redis_url, socket_timeout=None)
            pools[NO_TIMEOUT] = [
                RedisSession(stores.redis_url, f"h{n}-{i}", key_prefix=KEY_PREFIX, client=no_timeout) for i in range(count)
            ]
        contenders = [
            Contender(name, url, messages, pools.get(name))
            for name in CONTENDERS
            if name in names and (name in pools or name in (BASELINE, "messages"))
        ]
        try:
            for plan in mine:
                results[plan.key] = await bench_plan(plan, contenders, stores, mode["reps"], own_pids)
                results[plan.key]["sessions_per_store"] = count
            await check_stored(contenders, n)
        finally:
            for c in contenders:
                await c.agent.aclose()
            for pool in pools.values():
                for s in pool:
                    await s.close()  # type: ignore[attr-defined]
            if no_timeout is not None:
                await no_timeout.aclose()
        del pools, contenders
        gc.collect()
    return results


async def bench_plan(plan: Plan, contenders: list[Contender], stores: Stores, reps: int, own_pids: list[int]) -> dict[str, Any]:
    """One plan: warm-up, then ``reps`` interleaved repetitions (A B C ... | ... C B A)."""
    for c in contenders:
        await c.batch(plan.warmup, plan.concurrency)
        await c.restore()
        c.failures.clear()
    samples: dict[str, list[Sample]] = {c.name: [] for c in contenders}
    for rep in range(reps):
        for c in contenders if rep % 2 == 0 else contenders[::-1]:
            s = await measure(c, plan, stores, own_pids)
            samples[c.name].append(s)
            store = f"  store server {s.store_cpu * 1e6:8.0f} µs/run" if s.store_cpu is not None else ""
            failed = f"  {s.failed} FAILED" if s.failed else ""
            print(
                f"  {plan.key:<11} rep {rep + 1}/{reps}  {c.name:<16}"
                f" {s.cpu * 1e6:9.0f} µs CPU/run {s.wall * 1e6:9.0f} µs/run{store}{failed}"
            )
    out = {
        "history": plan.history,
        "concurrency": plan.concurrency,
        "runs_per_rep": plan.runs,
        "warmup_runs": plan.warmup,
        "reps": reps,
        "load_average_after": os.getloadavg(),
        "contenders": summarize(samples),
    }
    for c in contenders:
        if c.failures:
            out["contenders"][c.name]["failures"] = dict(c.failures.most_common(5))
    return out


async def check_stored(contenders: list[Contender], n: int) -> None:
    """The sessions are back to their ``n`` messages, and a run stores its turn's 4 messages after them."""
    for c in contenders:
        if c.sessions is None:
            continue
        for s in (c.sessions[0], c.sessions[-1]):
            if len(await s.get_messages()) != n:
                raise RuntimeError(f"{c.name}: a session does not hold its {n} messages")
        await c.run()
        got = await c.sessions[0].get_messages()
        roles = [m.role for m in got[n:]]
        await c.restore()
        if (
            len(got) != n + STORED_PER_RUN
            or roles != ["user", "assistant", "tool", "assistant"]
            or got[n - 1].role != ("user" if n == 1 else "assistant")
        ):
            raise RuntimeError(f"{c.name}: the run stored {roles} after {len(got) - len(roles)} messages")


# --- the 10,000-message load, alone ---------------------------------------------------------------------


async def _timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await fn()
    return time.process_time() - cpu0, time.perf_counter() - wall0


async def load(stores: Stores, reps: int, n: int = 10_000) -> dict[str, Any]:
    """``get_messages()`` of an ``n``-message session per store (interleaved), and its parts."""
    from agentkit.sessions._postgres import _GET

    messages = history(n)
    name = f"load{n}"
    sid = f"{name}-0"
    sessions = {kind: (await sessions_for(stores, kind, name, 1, messages))[0] for kind in STORES}
    for s in sessions.values():
        assert len(await s.get_messages()) == n
    sqlite_db = sqlite3.connect(stores.sqlite_path, check_same_thread=False)
    redis = await sessions["redis"]._client()  # type: ignore[attr-defined]
    redis_key = sessions["redis"].key  # type: ignore[attr-defined]
    concat = redis.register_script("return table.concat(redis.call('LRANGE', KEYS[1], 0, -1), ',')")
    rows: dict[str, Any] = {
        "sqlite": [
            r[0] for r in sqlite_db.execute("SELECT data FROM agentkit_messages WHERE session_id = ? ORDER BY seq", (sid,))
        ],
    }

    async def sqlite_rows() -> None:
        sqlite_db.execute("SELECT data FROM agentkit_messages WHERE session_id = ? ORDER BY seq", (sid,)).fetchall()

    async def sqlite_concat() -> None:
        sqlite_db.execute(
            "SELECT group_concat(data, ',') FROM (SELECT data FROM agentkit_messages WHERE session_id = ? ORDER BY seq)",
            (sid,),
        ).fetchone()

    async def pg_query() -> None:
        await sessions["postgres"]._execute(_GET, (sid, None))  # type: ignore[attr-defined]

    async def redis_lrange() -> None:
        await redis.lrange(redis_key, 0, -1)

    async def redis_concat() -> None:
        await concat(keys=[redis_key])

    text = "[" + ",".join(rows["sqlite"]) + "]"
    redis_rows = [r.encode() for r in rows["sqlite"]]

    async def validate() -> None:
        message_list_adapter().validate_json(text)

    async def validate_nogc() -> None:
        gc.disable()
        try:
            message_list_adapter().validate_json(text)
        finally:
            gc.enable()

    async def decode_rows() -> None:
        decode(rows["sqlite"])

    async def redis_decode_rows() -> None:
        redis_decode(redis_rows)

    parts: dict[str, Callable[[], Awaitable[Any]]] = {
        **{f"get_messages {kind}": sessions[kind].get_messages for kind in STORES},
        "validate_json of the 10,000 rows joined (the garbage collector on)": validate,
        "the same with the garbage collector paused": validate_nogc,
        "decode(): the codec of SQLite and PostgreSQL": decode_rows,
        "_decode(): the codec of Redis": redis_decode_rows,
        "sqlite: the query alone (10,000 rows)": sqlite_rows,
        "sqlite: the query with group_concat (one row)": sqlite_concat,
        "postgres: the query alone (string_agg: one row)": pg_query,
        "redis: LRANGE alone (10,000 replies)": redis_lrange,
        "redis: LRANGE joined by a Lua script (one reply)": redis_concat,
    }
    for fn in parts.values():  # warm: the first call of each opens connections or builds the codec
        await fn()
    samples: dict[str, list[tuple[float, float]]] = {part: [] for part in parts}
    for rep in range(reps):
        order = list(parts) if rep % 2 == 0 else list(parts)[::-1]
        for part in order:
            gc.collect()
            samples[part].append(await _timed(parts[part]))
    sqlite_db.close()
    for s in sessions.values():
        await s.close()  # type: ignore[attr-defined]
    try:
        import redis.utils

        parser = "hiredis" if redis.utils.HIREDIS_AVAILABLE else "python"
    except ImportError:
        parser = "?"
    return {
        "history": n,
        "reps": reps,
        "stored_bytes": sum(len(r) for r in rows["sqlite"]),
        "redis_parser": parser,
        "parts": {
            part: {
                "cpu_ms": _median([s[0] for s in ss]) * 1e3,
                "wall_ms": _median([s[1] for s in ss]) * 1e3,
                "cpu_ms_samples": [round(s[0] * 1e3, 2) for s in ss],
                "wall_ms_samples": [round(s[1] * 1e3, 2) for s in ss],
            }
            for part, ss in samples.items()
        },
    }


# --- output --------------------------------------------------------------------------------------------


def tables(payload: dict[str, Any]) -> str:
    lines: list[str] = []
    bench_results = payload.get("bench") or {}
    if bench_results:
        lines += [
            "| history | c | contender | client CPU µs/run | x none | paired | over `messages`, µs"
            " | wall µs/run | x none | paired | store server CPU µs/run |",
            "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in bench_results.values():
            for name, c in r["contenders"].items():
                over = "" if name in (BASELINE, "messages") else f"{c['cpu_over_messages_us_paired']:+,.0f}"
                store = "" if c["store_server_cpu_us_per_run"] is None else f"{c['store_server_cpu_us_per_run']:,.0f}"
                lines.append(
                    f"| {r['history']:,} | {r['concurrency']} | {name} | {c['cpu_us_per_run']:,.0f} | {c['cpu_ratio']:.2f}x"
                    f" | {c['cpu_ratio_paired']:.2f}x | {over} | {c['wall_us_per_run']:,.0f} | {c['wall_ratio']:.2f}x"
                    f" | {c['wall_ratio_paired']:.2f}x | {store} |"
                )
    ld = payload.get("load")
    if ld:
        turn = (bench_results.get("h10000_c1") or {}).get("contenders", {})
        lines += [
            "",
            f"| {ld['history']:,} messages | CPU ms | wall ms | share of the turn's CPU (c=1) |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, p in ld["parts"].items():
            kind = name.split()[-1] if name.startswith("get_messages") else None
            share = f"{p['cpu_ms'] * 1e3 / turn[kind]['cpu_us_per_run']:.0%}" if kind and kind in turn else ""
            lines.append(f"| {name} | {p['cpu_ms']:.1f} | {p['wall_ms']:.1f} | {share} |")
    return "\n".join(lines)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE, timeout=10)
        return out.stdout.strip() or None
    return None


def _versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for dist in ("agentkit-loop", "aiohttp", "pydantic", "pydantic-core", "psycopg", "psycopg-pool", "redis", "hiredis"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    for name, command in (
        ("postgresql", [_postgres_bin("postgres"), "--version"]),
        ("redis-server", ["redis-server", "--version"]),
    ):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            versions[name] = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip()
    versions["sqlite"] = sqlite3.sqlite_version
    return versions


async def _main(args: argparse.Namespace, payload: dict[str, Any], server: Server, stores: Stores) -> None:
    mode = dict(QUICK if args.quick else FULL)
    if args.plans:
        mode["plans"] = [p for p in mode["plans"] if p.key in args.plans.split(",")]
    names = list(CONTENDERS) if not args.contenders else [BASELINE, "messages", *args.contenders.split(",")]
    if args.only in (None, "runs"):
        payload["bench" + args.tag] = await bench(server.url, stores, mode, [server.proc.pid], names)
    if args.only in (None, "load"):
        payload["load" + args.tag] = await load(stores, mode["load_reps"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs and repetitions")
    parser.add_argument("--only", choices=("runs", "load"), help="only the runs, or only the 10,000-message load")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results file (default: {RESULTS})")
    parser.add_argument("--no-pin", action="store_true", help="do not pin this process and the servers to CPUs")
    parser.add_argument("--plans", help="only these plans, e.g. h10000_c1,h10000_c50")
    parser.add_argument("--contenders", help=f"only these (none and messages always run): {','.join(CONTENDERS[2:])}")
    parser.add_argument("--tag", default="", help="store the results as bench<TAG> / load<TAG>, keeping the file's others")
    args = parser.parse_args()
    partial = bool(args.only or args.plans or args.contenders or args.tag)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    started = time.perf_counter()
    payload: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "git_commit": _git_commit(),
        "versions": _versions(),
        "load_average": {"start": os.getloadavg()},
    }
    with (
        Server() as server,
        postgres_server() as (dsn, pg_pid),
        redis_server() as (redis_url, redis_pid),
        tempfile.TemporaryDirectory(prefix="agentkit-bench-sqlite-") as folder,
    ):
        stores = Stores(os.path.join(folder, "sessions.db"), dsn, redis_url, pg_pid, redis_pid)
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if args.no_pin or len(cpus) < 2:
            payload["pinning"] = "not pinned"
        else:
            pin(set(cpus[:-1]), cpus[-1], [server.proc.pid, *tree_pids(pg_pid), redis_pid])
            payload["pinning"] = f"client on CPU {','.join(map(str, cpus[:-1]))}; server.py, PostgreSQL, Redis on CPU {cpus[-1]}"
        print(f"server {server.url}; {dsn}; {redis_url}; {stores.sqlite_path}; {payload['pinning']}")
        asyncio.run(_main(args, payload, server, stores))
    payload["load_average"]["end"] = load_average = os.getloadavg()
    payload["elapsed_s"] = elapsed = round(time.perf_counter() - started, 1)
    if partial:  # merged into the previous file, which keeps its own description of the full run
        results = {k: v for k, v in payload.items() if k.startswith(("bench", "load")) and k != "load_average"}
        meta = {k: v for k, v in payload.items() if k not in results}
        payload = {**previous, **results}
        payload.setdefault("partial_runs", []).append({"argv": sys.argv[1:], **meta})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print()
    print(tables(payload))
    print(f"load average {load_average}; wrote {args.output} in {elapsed} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
