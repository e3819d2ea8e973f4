"""The agentkit benchmark suite: one command, six workloads (see benchmarks/README.md).

    python benchmarks/run.py                     # full run (~12 min on 2 cores)
    python benchmarks/run.py --quick             # fewer runs and repetitions (~5-6 min)
    python benchmarks/run.py --only roundtrip    # roundtrip, streaming, import, tools, memory, batch (repeatable)

Tool round trip (this file): agentkit, agentkit on aiohttp, hand-written httpx and aiohttp loops,
PydanticAI and the OpenAI Agents SDK when installed, at concurrency 1, 200 and 1,000, against
``server.py`` in its own process: client CPU per run (``time.process_time()`` deltas: this
process only, all its threads, never the server) and runs per second, medians of interleaved
repetitions, ratios to the httpx loop (of the medians and paired). The other workloads are in
``workloads.py``. Results go to the terminal, ``benchmarks/results/latest.json`` (written after
every workload) and ``benchmarks/results/latest.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import chart
import workloads
from contenders import ALL_CONTENDERS, CONTENDERS, EXPECTED, Server, mock_client

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"


@dataclass(frozen=True)
class Plan:
    concurrency: int
    runs: int
    warmup: int
    inprocess: bool = False  # answered by httpx.MockTransport in this process: no sockets, no httpcore
    reps: int | None = None  # None: the mode's default

    @property
    def key(self) -> str:
        return f"c{self.concurrency}" + ("_inprocess" if self.inprocess else "")


# Heavy contenders (the peers, ~5x slower per run) make HEAVY_SHARE of the runs, but never fewer than
# the concurrency: at c=1,000 every contender has 1,000 runs in flight.
HEAVY_SHARE = 0.25
FULL: dict[str, Any] = {
    "reps": 5,
    # c=1,000: one burst of 1,000 runs per repetition, no warm-up burst: a second burst on a pool that
    # still holds ~1,000 idle connections is pathological in httpcore (README, "c=200 and 1,000")
    "plans": [Plan(1, 300, 50), Plan(200, 600, 200, reps=3), Plan(1000, 1000, 0, reps=2), Plan(1, 1000, 200, inprocess=True)],
    "import_reps": 15,
    "streams": 10,
    "ttfe_reps": 10,
    "tools_reps": 5,
    "memory_inflight": 1000,
    "memory_reps": 1,
    "batch_limit": 500,
    "batch_runs": 10_000,
    "batch_runs_429": 5_000,
    "batch_concurrency": 100,
}
QUICK: dict[str, Any] = {
    "reps": 3,
    "plans": [Plan(1, 100, 20), Plan(200, 400, 200), Plan(1000, 1000, 0, reps=1), Plan(1, 300, 50, inprocess=True)],
    "import_reps": 7,
    "streams": 4,
    "ttfe_reps": 5,
    "tools_reps": 3,
    "memory_inflight": 1000,
    "memory_reps": 1,
    "batch_limit": 500,
    "batch_runs": 2_000,
    "batch_runs_429": 1_000,
    "batch_concurrency": 100,
}
WORKLOADS = ("roundtrip", "streaming", "import", "tools", "memory", "batch")


def _runs(contender: Any, plan: Plan) -> int:
    if getattr(contender, "heavy", False):
        return max(plan.concurrency, int(plan.runs * HEAVY_SHARE))
    return plan.runs


async def _batch(contender: Any, plan: Plan, runs: int) -> None:
    """``runs`` runs, ``plan.concurrency`` at a time (that many workers, each run after run)."""
    workers = min(plan.concurrency, runs)
    share, extra = divmod(runs, workers)

    async def worker(n: int) -> None:
        for _ in range(n):
            output = await contender.run()
            if output != EXPECTED:
                raise RuntimeError(f"{contender.name}: unexpected output {output!r}")

    if workers == 1:
        await worker(runs)
    else:
        await asyncio.gather(*(worker(share + (i < extra)) for i in range(workers)))


SEED_RUNS = 10


async def _measure(contender: Any, plan: Plan) -> tuple[float, float]:
    """One repetition: (client CPU seconds per run, runs per second).

    Every repetition starts from the same state: the contender's connections are closed, then
    ``SEED_RUNS`` sequential runs (not measured) open one warm keep-alive connection. Without
    this, each repetition inherits whatever connection pool the previous one left, and at
    concurrency 200 that makes the figures jump between two regimes (see README, "c=200").
    """
    runs = _runs(contender, plan)
    await contender.reset()
    await _batch(contender, Plan(1, SEED_RUNS, 0), SEED_RUNS)
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await _batch(contender, plan, runs)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    return (cpu1 - cpu0) / runs, runs / (wall1 - wall0)


BASELINE = "httpx-loop"


async def bench(url: str, plans: list[Plan], reps: int) -> dict[str, dict[str, Any]]:
    """The tool round trip: every contender, every plan, interleaved repetitions (A B C | C B A | ...)."""
    over_http = [cls(url) for cls in ALL_CONTENDERS]
    inprocess = [cls(url, mock_client()) for cls in CONTENDERS]  # the peers build their own clients: over HTTP only
    results: dict[str, dict[str, Any]] = {}
    try:
        for plan in plans:
            plan_reps = plan.reps or reps
            contenders = inprocess if plan.inprocess else over_http
            for c in contenders:
                await c.reset()
                warmup = plan.warmup // 4 if getattr(c, "heavy", False) else plan.warmup
                if warmup:
                    await _batch(c, plan, warmup)
            samples: dict[str, list[tuple[float, float]]] = {c.name: [] for c in contenders}
            for rep in range(plan_reps):
                order = contenders if rep % 2 == 0 else contenders[::-1]
                for c in order:
                    samples[c.name].append(await _measure(c, plan))
                    cpu, rps = samples[c.name][-1]
                    print(f"  {plan.key:<12} rep {rep + 1}/{plan_reps}  {c.name:<14} {cpu * 1e6:8.0f} µs/run {rps:7.0f} runs/s")
            base = samples[BASELINE]
            results[plan.key] = {
                "concurrency": plan.concurrency,
                "inprocess": plan.inprocess,
                "runs_per_rep": {c.name: _runs(c, plan) for c in contenders},
                "warmup_runs": plan.warmup,
                "reps": plan_reps,
                "load_average_after": os.getloadavg(),
                "contenders": {
                    name: {
                        "cpu_us_per_run": statistics.median(s[0] for s in ss) * 1e6,
                        "runs_per_s": statistics.median(s[1] for s in ss),
                        "cpu_ratio": statistics.median(s[0] for s in ss) / statistics.median(s[0] for s in base),
                        # the ratio within each repetition (measured back to back), then the median:
                        # less sensitive to the machine's drift than the ratio of the medians
                        "cpu_ratio_paired": statistics.median(a[0] / b[0] for a, b in zip(ss, base, strict=True)),
                        "runs_per_s_ratio": statistics.median(s[1] for s in ss) / statistics.median(s[1] for s in base),
                        "cpu_us_per_run_samples": [round(s[0] * 1e6, 1) for s in ss],
                        "runs_per_s_samples": [round(s[1], 1) for s in ss],
                    }
                    for name, ss in samples.items()
                },
            }
    finally:
        for c in over_http + inprocess:
            await c.aclose()
    return results


def _tables(payload: dict[str, Any]) -> str:
    lines: list[str] = []
    rt = payload.get("roundtrip")
    if rt:
        lines += [
            "Tool round trip (client CPU per run; ratios to the httpx loop: of the medians, and paired per repetition)",
            f"{'concurrency':<14} | {'contender':<14} | {'CPU µs/run':>10} | {'ratio':>6} | {'paired':>6}"
            f" | {'runs/s':>7} | {'ratio':>6}",
            f"{'-' * 14}-+-{'-' * 14}-+-{'-' * 10}-+-{'-' * 6}-+-{'-' * 6}-+-{'-' * 7}-+-{'-' * 6}",
        ]
        for res in rt.values():
            label = f"{res['concurrency']}" + (" in-process" if res["inprocess"] else "")
            for name, r in res["contenders"].items():
                lines.append(
                    f"{label:<14} | {name:<14} | {r['cpu_us_per_run']:>10,.0f} | {r['cpu_ratio']:>5.2f}x"
                    f" | {r['cpu_ratio_paired']:>5.2f}x"
                    f" | {r['runs_per_s']:>7,.0f} | {r['runs_per_s_ratio']:>5.2f}x"
                )
        lines.append("")
    st = payload.get("streaming")
    if st:
        lines.append(
            f"Streaming ({st['chunks_per_stream']} chunks; first event with the server pausing {st['pause_ms']} ms after it)"
        )
        for name, r in st["contenders"].items():
            lines.append(
                f"  {name:<22} {r['cpu_us_per_chunk']:6.2f} µs CPU/chunk"
                f"  ({r['ratio_to_hand_loop']:.2f}x, paired {r['paired_ratio']:.2f}x)"
                f"  first event {r['first_event_ms']:6.1f} ms  whole stream {r['whole_stream_ms']:6.0f} ms"
            )
        lines.append("")
    imp = payload.get("import")
    if imp:
        lines.append(
            "Import time (fresh interpreter, median): "
            + ", ".join(
                f"{m} {r['median_s'] * 1000:.0f} ms" if r["median_s"] is not None else f"{m} failed" for m, r in imp.items()
            )
        )
    tl = payload.get("tools")
    if tl:
        lines.append(
            f"@tool x200: {tl['decorate_200_cold_ms']:.0f} ms cold, {tl['decorate_200_warm_ms']:.0f} ms warm "
            f"({tl['decorate_us_per_tool_warm']:.0f} µs/tool); build_body(50 tools): "
            f"first {tl['build_body_50_first_us']:.0f} µs, "
            f"cached {tl['build_body_50_cached_us']:.1f} µs"
        )
        for name, r in (tl.get("contenders") or {}).items():
            if "error" in r:
                lines.append(f"  decorate x200  {name:<14} failed: {r['error']}")
            else:
                lines.append(
                    f"  decorate x200  {name:<14} {r['decorate_us_per_tool_warm']:7.0f} µs/tool warm"
                    f" {r['decorate_us_per_tool_cold']:7.0f} cold  ({r['ratio_to_agentkit_warm']:.2f}x agentkit)"
                )
    mem = payload.get("memory")
    if mem:
        lines.append(f"Memory, {mem['inflight']} runs in flight (RSS growth / peak):")
        for name, r in mem["contenders"].items():
            lines.append(f"  {name:<14} {r['growth_mb']:6.1f} MB growth  {r['peak_mb']:6.1f} MB peak")
    bt = payload.get("batch")
    if bt:
        for key, r in bt.items():
            lines.append(
                f"Batch ({key}): {r['runs']} runs at <= {r['limit_rps']} req/s: {r['elapsed_s']:.1f} s"
                f" vs ideal {r['ideal_s']:.1f} s"
                f" ({r['over_ideal_pct']:+.1f} %), {r['failed']} failed"
            )
    return "\n".join(lines)


def _targets(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The issues' targets, each with the measured value and PASS/FAIL (None when not measured)."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, better: str = "<=", unit: str = "x") -> None:
        ok = None if value is None else (value <= limit if better == "<=" else value >= limit)
        out.append({"target": name, "value": value, "limit": f"{better} {limit}{unit}", "pass": ok})

    rt = payload.get("roundtrip") or {}
    for key, limit in (("c1", 1.3), ("c200", 1.0), ("c1000", 1.0)):
        r = rt.get(key, {}).get("contenders", {}).get("agentkit")
        add(f"agentkit CPU/run vs httpx loop, {key}", r and r["cpu_ratio"], limit)
    for peer in ("pydantic-ai", "openai-agents"):
        for key in ("c1", "c200", "c1000"):
            res = rt.get(key, {}).get("contenders", {})
            if peer in res and "agentkit" in res:
                add(
                    f"{peer} CPU/run / agentkit CPU/run, {key}",
                    res[peer]["cpu_us_per_run"] / res["agentkit"]["cpu_us_per_run"],
                    5,
                    ">=",
                )
    imp = (payload.get("import") or {}).get("agentkit")
    add("import agentkit (s)", imp and imp["median_s"], 0.3, unit=" s")
    mem = (payload.get("memory") or {}).get("contenders", {})
    if "agentkit" in mem and BASELINE in mem:
        add("RSS growth, 1,000 in flight, vs httpx loop", mem["agentkit"]["growth_mb"] / mem[BASELINE]["growth_mb"], 1.5)
        add("peak RSS, 1,000 in flight, vs httpx loop", mem["agentkit"]["peak_mb"] / mem[BASELINE]["peak_mb"], 1.5)
    st = (payload.get("streaming") or {}).get("contenders", {})
    for name in ("agentkit run_stream", "agentkit model.stream"):
        if name in st:
            add(f"streaming CPU/chunk vs hand loop, {name}", st[name]["ratio_to_hand_loop"], 1.5)
    bt = (payload.get("batch") or {}).get("rpm_at_limit")
    if bt:
        add("batch over ideal (%), requests_per_minute at the limit", bt["over_ideal_pct"], 10, unit=" %")
        if bt.get("timed_out"):  # unfinished after 3x the ideal time: neither target is met
            out[-1]["pass"] = False
            out.append({"target": "batch failed runs", "value": None, "limit": "<= 0 (did not finish)", "pass": False})
        else:
            add("batch failed runs", bt["failed"], 0, unit="")
    return out


def _git_commit() -> str | None:
    try:  # read-only
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


class OtherLoad:
    """CPU used by processes other than this one and the server, between start and ``stop()``,
    in cores (Linux ``/proc``; None elsewhere). Other work on a 2-core machine skews everything."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float] | None:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
            busy = sum(int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4))  # all but idle, iowait
            server = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks = os.sysconf("SC_CLK_TCK")
            ours = time.process_time() + (int(server[11]) + int(server[12])) / ticks
            return busy / ticks, ours, time.perf_counter()
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None:
            return None
        busy, ours, wall = (b - a for a, b in zip(self.start, end, strict=True))
        return max(busy - ours, 0.0) / wall


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _default_transport() -> str:
    """The transport the ``agentkit`` contender sends with (aiohttp, a dependency, when installed)."""
    from agentkit.models import OpenAICompatible

    transport: str = OpenAICompatible("bench", base_url="http://127.0.0.1:1/v1")._http.transport
    if transport != "aiohttp":
        print(f"note: agentkit's default transport here is {transport!r}: pip install -e . to benchmark it as shipped")
    return transport


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs and repetitions (~5-6 minutes)")
    parser.add_argument("--only", action="append", choices=WORKLOADS, help="run only this workload (repeatable)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results file (default: {RESULTS})")
    parser.add_argument("--no-pin", action="store_true", help="do not pin client and server to CPUs of their own")
    args = parser.parse_args()
    config = QUICK if args.quick else FULL
    only = args.only or list(WORKLOADS)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines show up at once, even in a pipe
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM → KeyboardInterrupt: `with Server()` cleans up
    pin = not args.no_pin

    import aiohttp
    import httpx
    import pydantic

    versions = {"httpx": httpx.__version__, "pydantic": pydantic.VERSION, "aiohttp": aiohttp.__version__}
    for dist in ("pydantic-ai-slim", "openai-agents", "openai", "httpcore", "anyio"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    payload: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "workloads": only,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "git_commit": _git_commit(),
        "versions": versions,
        "contenders": [c.name for c in ALL_CONTENDERS],
        "agentkit_default_transport": _default_transport(),
        "load_average": {"start": os.getloadavg()},
        "other_processes_cores": {},
    }

    def save() -> None:  # after every workload, so that a crash or Ctrl-C keeps what was measured
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(payload, indent=2) + "\n")

    if "roundtrip" in only:
        print("tool round trip ...")
        with Server() as server:
            pinning = server.pin() if pin else "not pinned (--no-pin)"
            payload["pinning"] = pinning
            print(f"server {server.url} (pid {server.proc.pid}); client pid {os.getpid()}; {pinning}")
            load = OtherLoad(server.proc.pid)
            payload["roundtrip"] = asyncio.run(bench(server.url, config["plans"], config["reps"]))
            other = load.stop()
        payload["other_processes_cores"]["roundtrip"] = None if other is None else round(other, 3)
        if other is not None:
            print(f"other processes used {other:.2f} cores on average during the round trips")
    save()
    if "streaming" in only:
        print("streaming ...")
        payload["streaming"] = workloads.streaming_workload(config, pin)
    save()
    if "import" in only:
        print("import time ...")
        payload["import"] = workloads.import_workload(config)
    save()
    if "tools" in only:
        print("tool decoration and request body ...")
        payload["tools"] = workloads.tools_workload(config)
    save()
    if "memory" in only:
        print("peak memory ...")
        payload["memory"] = workloads.memory_workload(config, pin)
    save()
    if "batch" in only:
        print("batch under a rate limit ...")
        payload["batch"] = workloads.batch_workload(config, pin)

    payload["load_average"]["end"] = os.getloadavg()
    payload["targets"] = _targets(payload)
    payload["elapsed_s"] = round(time.perf_counter() - started, 1)
    print()
    print(_tables(payload))
    print()
    for t in payload["targets"]:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[t["pass"]]
        value = "-" if t["value"] is None else f"{t['value']:.3g}"
        print(f"  {verdict}  {t['target']:<58} {value:>8}  (target {t['limit']})")
    print(f"load average: start {payload['load_average']['start']}, end {payload['load_average']['end']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    try:
        png = chart.draw(payload, args.output.with_suffix(".png"))
        print(f"wrote {png}")
    except ImportError as e:
        print(f"no chart ({e}); pip install -r benchmarks/requirements.txt")
    print(f"wrote {args.output} in {payload['elapsed_s']} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # no "Task exception was never retrieved"
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
