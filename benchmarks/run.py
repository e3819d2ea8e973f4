"""agentkit vs a hand-written httpx loop: client CPU per run, throughput, import time.

    /work/venv/bin/python benchmarks/run.py            # full run (~3.5 min on 2 cores)
    /work/venv/bin/python benchmarks/run.py --quick    # quick run (< 1 min)

Starts ``server.py`` in a separate process, then in this process measures, for each contender
and each concurrency, the client CPU time per run (``time.process_time()`` deltas: this process
only, all its threads, never the server) and runs per second (wall clock). The median of the
repetitions is reported; contenders are interleaved within each repetition so that drift of the
machine hits both alike. A third, supplementary measurement answers in-process
(``httpx.MockTransport``: no sockets, no httpcore) to show the frameworks' own cost alone.
Results go to the terminal and to ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
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

from contenders import CONTENDERS, EXPECTED, Server, mock_client

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"
IMPORT_SNIPPET = "import time;t=time.perf_counter();import agentkit;print(time.perf_counter()-t)"


@dataclass(frozen=True)
class Plan:
    concurrency: int
    runs: int
    warmup: int
    inprocess: bool = False  # answered by httpx.MockTransport in this process: no sockets, no httpcore

    @property
    def key(self) -> str:
        return f"c{self.concurrency}" + ("_inprocess" if self.inprocess else "")


FULL = {
    "reps": 5,
    "import_reps": 15,
    "plans": [Plan(1, 300, 50), Plan(200, 1000, 400), Plan(1, 1000, 200, inprocess=True)],
}
QUICK = {
    "reps": 3,
    "import_reps": 7,
    "plans": [Plan(1, 150, 30), Plan(200, 400, 200), Plan(1, 300, 50, inprocess=True)],
}


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
    await contender.reset()
    await _batch(contender, Plan(1, SEED_RUNS, 0), SEED_RUNS)
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await _batch(contender, plan, plan.runs)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    return (cpu1 - cpu0) / plan.runs, plan.runs / (wall1 - wall0)


async def bench(url: str, plans: list[Plan], reps: int) -> dict[str, dict[str, Any]]:
    over_http = [cls(url) for cls in CONTENDERS]
    inprocess = [cls(url, mock_client()) for cls in CONTENDERS]
    results: dict[str, dict[str, Any]] = {}
    try:
        for plan in plans:
            contenders = inprocess if plan.inprocess else over_http
            for c in contenders:
                await _batch(c, plan, plan.warmup)
            samples: dict[str, list[tuple[float, float]]] = {c.name: [] for c in contenders}
            for rep in range(reps):
                order = contenders if rep % 2 == 0 else contenders[::-1]
                for c in order:
                    samples[c.name].append(await _measure(c, plan))
                    cpu, rps = samples[c.name][-1]
                    print(f"  {plan.key:<12} rep {rep + 1}/{reps}  {c.name:<11} {cpu * 1e6:8.0f} µs/run {rps:7.0f} runs/s")
            base, other = contenders[0].name, contenders[1].name
            results[plan.key] = {
                "concurrency": plan.concurrency,
                "inprocess": plan.inprocess,
                "runs_per_rep": plan.runs,
                "warmup_runs": plan.warmup,
                "reps": reps,
                "contenders": {
                    name: {
                        "cpu_us_per_run": statistics.median(s[0] for s in ss) * 1e6,
                        "runs_per_s": statistics.median(s[1] for s in ss),
                        "cpu_us_per_run_samples": [round(s[0] * 1e6, 1) for s in ss],
                        "runs_per_s_samples": [round(s[1], 1) for s in ss],
                    }
                    for name, ss in samples.items()
                },
                # The ratio within each repetition (both measured back to back), then the median:
                # less sensitive to the machine's drift than the ratio of the medians.
                "paired_cpu_ratio_median": statistics.median(
                    a[0] / b[0] for a, b in zip(samples[base], samples[other], strict=True)
                ),
            }
    finally:
        for c in over_http + inprocess:
            await c.aclose()
    return results


def import_time(reps: int) -> dict[str, Any]:
    """``import agentkit`` in a fresh interpreter, median of ``reps``.

    With the bytecode cache on (as after a pip install): ``PYTHONDONTWRITEBYTECODE`` is dropped
    from the environment and one discarded import first writes any missing ``.pyc`` files.
    A failing import is reported, not raised, so that the run's other results are kept.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    samples = []
    for i in range(reps + 1):
        out = subprocess.run([sys.executable, "-c", IMPORT_SNIPPET], capture_output=True, text=True, cwd=HERE, env=env)
        if out.returncode != 0:
            error = (out.stderr.strip().splitlines() or ["?"])[-1]
            print(f"  import agentkit failed: {error}")
            return {"median_s": None, "samples_s": [round(s, 4) for s in samples], "error": error}
        if i:
            samples.append(float(out.stdout.strip()))
    return {"median_s": statistics.median(samples), "samples_s": [round(s, 4) for s in samples]}


def _table(results: dict[str, Any], imp: dict[str, Any]) -> str:
    names = [cls.name for cls in CONTENDERS]
    base, other = names[0], names[1]
    lines = [
        f"{'concurrency':<16} | {'contender':<11} | {'CPU µs/run':>10} | {'runs/s':>8}",
        f"{'-' * 16}-+-{'-' * 11}-+-{'-' * 10}-+-{'-' * 8}",
    ]
    for res in results.values():
        label = f"{res['concurrency']}" + (" (in-process)" if res["inprocess"] else "")
        for name in names:
            r = res["contenders"][name]
            lines.append(f"{label:<16} | {name:<11} | {r['cpu_us_per_run']:>10.0f} | {r['runs_per_s']:>8.0f}")
        a, b = res["contenders"][base], res["contenders"][other]
        ratio_cpu = a["cpu_us_per_run"] / b["cpu_us_per_run"]
        ratio_rps = b["runs_per_s"] / a["runs_per_s"]
        paired = res["paired_cpu_ratio_median"]
        lines.append(f"{'':<16} | {'ratio':<11} | {ratio_cpu:>9.2f}x | {ratio_rps:>7.2f}x   (paired CPU ratio {paired:.2f}x)")
    lines.append(f"ratio = {base} / {other} (runs/s: {other} / {base}); paired = median of the per-repetition ratios")
    if imp["median_s"] is None:
        lines.append(f"import agentkit: failed ({imp['error']})")
    else:
        lines.append(f"import agentkit: {imp['median_s'] * 1000:.0f} ms (median of {len(imp['samples_s'])} fresh interpreters)")
    return "\n".join(lines)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs and repetitions (< 1 minute)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results file (default: {RESULTS})")
    parser.add_argument("--no-pin", action="store_true", help="do not pin client and server to CPUs of their own")
    args = parser.parse_args()
    config = QUICK if args.quick else FULL
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines show up at once, even in a pipe
    started = time.perf_counter()

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM → KeyboardInterrupt: `with Server()` cleans up
    with Server() as server:
        pinning = server.pin() if not args.no_pin else "not pinned (--no-pin)"
        print(f"server {server.url} (pid {server.proc.pid}); client pid {os.getpid()}; {pinning}")
        load = OtherLoad(server.proc.pid)
        results = asyncio.run(bench(server.url, config["plans"], config["reps"]))
        other_cores = load.stop()
    if other_cores is not None:
        print(f"other processes used {other_cores:.2f} cores on average during the measurements")
        if other_cores > 0.1:
            print("warning: the machine was not idle; the figures are noisier than they should be")
    print("import time ...")
    imp = import_time(config["import_reps"])

    if not _has("sniffio"):
        print("note: sniffio is not installed, so httpcore retries `import sniffio` (a sys.path scan) on every lock;")
        print("      this adds the same cost to both contenders and dilutes the ratios (see benchmarks/README.md)")
    table = _table(results, imp)
    print()
    print(table)

    import httpx
    import pydantic

    base, other = CONTENDERS[0].name, CONTENDERS[1].name
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "pinning": pinning,
        "other_processes_cores": None if other_cores is None else round(other_cores, 3),
        "sniffio_installed": _has("sniffio"),
        "git_commit": _git_commit(),
        "versions": {"httpx": httpx.__version__, "pydantic": pydantic.VERSION},
        "results": results,
        "ratios": {
            key: {
                "cpu": res["contenders"][base]["cpu_us_per_run"] / res["contenders"][other]["cpu_us_per_run"],
                "cpu_paired": res["paired_cpu_ratio_median"],
                "runs_per_s": res["contenders"][other]["runs_per_s"] / res["contenders"][base]["runs_per_s"],
            }
            for key, res in results.items()
        },
        "import_agentkit": imp,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.output} in {payload['elapsed_s']} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # no "Task exception was never retrieved"
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
