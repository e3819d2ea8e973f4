"""What OpenTelemetry instrumentation costs a tool round trip (issue 16's targets: off within 2 %
of an agent that has none, on with a no-op exporter within 15 %).

    python benchmarks/instrumentation.py                 # ~2 min; --runs N --reps R
    python benchmarks/instrumentation.py --profile sdk    # cProfile of one mode instead
    python benchmarks/instrumentation.py --instructions   # user-space instructions per run (valgrind)

One process, one ``benchmarks/server.py`` on 127.0.0.1, the benchmark's tool round trip
(``Agent(OpenAICompatible(...), tools=[get_weather]).run(PROMPT)``: two requests, one tool call)
run sequentially (c=1). Modes, interleaved rep by rep so that the machine's drift hits them alike:

* ``off``: no instrumentation (the agent's ``instrument`` left unset, no global one);
* ``api``: ``instrument=True`` on OpenTelemetry's API without an SDK (its no-op tracer);
* ``sdk``: an SDK ``TracerProvider`` whose one span processor is a ``SimpleSpanProcessor`` over an
  exporter that drops what it gets (the "no-op exporter" of the target: every span is made,
  ended and handed to a processor);
* ``batch``: the same exporter behind a ``BatchSpanProcessor`` (what a production set-up uses).

Prints client CPU µs per run (median of the reps) and each mode's ratio to ``off``; writes
``results/instrumentation.json``.

``--instructions`` counts instead of timing (for a shared, busy machine, where CPU time drifts by
±10 % between reps): each mode runs 100 and then 600 round trips in a process of its own under
valgrind's callgrind (``apt-get install valgrind``), and the difference of the two counts over 500 is
the client's user-space instructions per round trip — start-up and warm-up cancel out, and the
figure repeats to within ~1 % whatever else the machine does. It leaves kernel time (the sockets)
out, so its ratios are upper bounds of the CPU-time ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from contenders import PROMPT, Server, get_weather

from agentkit import Agent, InstrumentationSettings
from agentkit.models import OpenAICompatible

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "instrumentation.json"
MODES = ("off", "api", "sdk", "batch")


def _settings(mode: str) -> InstrumentationSettings | bool | None:
    if mode == "off":
        return None
    if mode == "api":
        from opentelemetry.trace import NoOpTracerProvider

        return InstrumentationSettings(tracer_provider=NoOpTracerProvider())
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    processor = SimpleSpanProcessor(Drop()) if mode == "sdk" else BatchSpanProcessor(Drop())
    provider.add_span_processor(processor)
    return InstrumentationSettings(tracer_provider=provider)


def _agent(url: str, mode: str) -> Agent[Any, str]:
    model = OpenAICompatible("bench", base_url=url + "/v1", api_key="k")
    settings = _settings(mode)
    if settings is None:
        return Agent(model, tools=[get_weather])
    return Agent(model, tools=[get_weather], instrument=settings)


async def _cpu_per_run(agent: Agent[Any, str], runs: int) -> float:
    for _ in range(50):  # warm: connections, caches
        await agent.run(PROMPT)
    t0 = time.process_time()
    for _ in range(runs):
        await agent.run(PROMPT)
    return (time.process_time() - t0) / runs * 1e6


async def _measure(url: str, modes: tuple[str, ...], runs: int, reps: int) -> dict[str, list[float]]:
    agents = {mode: _agent(url, mode) for mode in modes}
    figures: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        for rep in range(reps):
            order = modes if rep % 2 == 0 else tuple(reversed(modes))
            for mode in order:
                figures[mode].append(await _cpu_per_run(agents[mode], runs))
            print(f"rep {rep + 1}/{reps}: " + ", ".join(f"{m} {figures[m][-1]:.0f}" for m in modes), file=sys.stderr)
    finally:
        for agent in agents.values():
            await agent.aclose()
    return figures


async def _profile(url: str, mode: str, runs: int) -> None:
    agent = _agent(url, mode)
    try:
        await _cpu_per_run(agent, 50)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(runs):
            await agent.run(PROMPT)
        profiler.disable()
    finally:
        await agent.aclose()
    stats = pstats.Stats(profiler).sort_stats("tottime")
    stats.print_stats(35)


async def _plain_runs(url: str, mode: str, runs: int) -> None:
    agent = _agent(url, mode)
    try:
        for _ in range(runs):
            await agent.run(PROMPT)
    finally:
        await agent.aclose()


def _callgrind(mode: str, runs: int) -> int:
    """User-space instructions of a process making ``runs`` round trips in ``mode``."""
    with tempfile.TemporaryDirectory() as folder:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out", sys.executable, __file__]
        command += ["--child", mode, "--runs", str(runs)]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected : ([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind: {done.stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def _instructions() -> dict[str, float]:
    per_run = {}
    for mode in MODES:
        per_run[mode] = (_callgrind(mode, 600) - _callgrind(mode, 100)) / 500
        print(f"  {mode:6} {per_run[mode] / 1e6:.3f} M instructions per round trip", file=sys.stderr)
    return per_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs per mode and rep (default 1000)")
    parser.add_argument("--reps", type=int, default=5, help="reps, interleaved (default 5)")
    parser.add_argument("--profile", choices=MODES, help="cProfile this mode instead of measuring")
    parser.add_argument("--instructions", action="store_true", help="count instructions with valgrind instead")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)  # one mode's runs, under valgrind
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.child:
        with Server() as server:
            asyncio.run(_plain_runs(server.url, args.child, args.runs))
        return
    if args.instructions:
        counts = _instructions()
        print("\nuser-space instructions per tool round trip, and vs off:")
        for mode in MODES:
            print(f"  {mode:6} {counts[mode] / 1e6:8.3f} M  {counts[mode] / counts['off']:.3f}x")
        args.output.parent.mkdir(exist_ok=True)
        payload = {"instructions_per_run": counts, "vs_off": {m: counts[m] / counts["off"] for m in MODES}}
        args.output.write_text(json.dumps({**payload, "date": time.strftime("%Y-%m-%d")}, indent=2) + "\n")
        return
    with Server() as server:
        if args.profile:
            asyncio.run(_profile(server.url, args.profile, args.runs))
            return
        figures = asyncio.run(_measure(server.url, MODES, args.runs, args.reps))
    medians = {mode: statistics.median(values) for mode, values in figures.items()}
    print("\nclient CPU µs per tool round trip (median of reps), and vs off:")
    for mode in MODES:
        print(f"  {mode:6} {medians[mode]:8.1f}  {medians[mode] / medians['off']:.3f}x")
    args.output.parent.mkdir(exist_ok=True)
    payload = {
        "runs": args.runs,
        "reps": args.reps,
        "cpu_us_per_run": figures,
        "median": medians,
        "vs_off": {m: medians[m] / medians["off"] for m in MODES},
        "date": time.strftime("%Y-%m-%d"),
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
