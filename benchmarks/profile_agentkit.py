"""Profile one contender of the benchmark (default: agentkit at concurrency 1).

    /work/venv/bin/python benchmarks/profile_agentkit.py                      # cProfile, agentkit, c=1
    /work/venv/bin/python benchmarks/profile_agentkit.py --contender httpx-loop
    /work/venv/bin/python benchmarks/profile_agentkit.py --concurrency 200 --runs 2000
    /work/venv/bin/python benchmarks/profile_agentkit.py --mock              # in-process, no sockets
    /work/venv/bin/python benchmarks/profile_agentkit.py --pyinstrument       # needs `pip install pyinstrument`

Prints the time of each package (own time of its functions: agentkit, pydantic, httpx, httpcore,
h11, anyio, asyncio, json, ...), then the top functions by own time and agentkit's functions
by cumulative time. cProfile's clock is the wall clock, so "socket/epoll (C)" includes the time
spent waiting for the server in ``epoll.poll``. cProfile slows pure-Python code down several
times; compare packages with each other, not with the un-profiled figures of ``run.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from contenders import ALL_CONTENDERS as CONTENDERS
from contenders import Server, mock_client
from run import Plan, _batch

BUCKETS = (
    ("agentkit", ("/agentkit/",)),
    ("pydantic", ("/pydantic/", "/pydantic_core/")),
    ("httpx", ("/httpx/",)),
    ("httpcore", ("/httpcore/",)),
    ("h11", ("/h11/",)),
    ("aiohttp", ("/aiohttp/", "/multidict/", "/yarl/", "/propcache/", "/aiohappyeyeballs/")),
    ("anyio", ("/anyio/",)),
    ("sniffio", ("/sniffio/",)),
    ("asyncio", ("/asyncio/", "selectors.py", "_asyncio")),
    ("threads", ("/threading.py", "/concurrent/", "/queue.py")),
    ("json", ("/json/",)),
    ("import machinery", ("<frozen importlib",)),
    ("typing/abc", ("/typing.py", "/abc.py", "<frozen abc>", "typing_extensions")),
    ("benchmark", ("/benchmarks/",)),
)


def bucket_of(filename: str, funcname: str) -> str:
    for name, needles in BUCKETS:
        if any(n in filename for n in needles):
            return name
    if filename == "~":  # a builtin: name it by what it is
        if "socket" in funcname or "epoll" in funcname or "select" in funcname:
            return "socket/epoll (C)"
        if "json" in funcname or "pydantic" in funcname:
            return "json" if "json" in funcname else "pydantic"
        return "builtins (C)"
    return "other"


def by_package(stats: pstats.Stats) -> list[tuple[str, float]]:
    totals: dict[str, float] = defaultdict(float)
    for (filename, _line, funcname), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        totals[bucket_of(filename, funcname)] += tottime
    return sorted(totals.items(), key=lambda kv: -kv[1])


async def _profiled(contender: Any, plan: Plan, profiler: Any) -> float:
    await _batch(contender, plan, plan.warmup)
    profiler.enable() if isinstance(profiler, cProfile.Profile) else profiler.start()
    t0 = time.process_time()
    try:
        await _batch(contender, plan, plan.runs)
    finally:
        profiler.disable() if isinstance(profiler, cProfile.Profile) else profiler.stop()
    return time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contender", default="agentkit", choices=[c.name for c in CONTENDERS])
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--pyinstrument", action="store_true", help="sampling profiler instead of cProfile")
    parser.add_argument("--mock", action="store_true", help="answer in-process (httpx.MockTransport): framework cost only")
    parser.add_argument("--save", type=Path, help="write the cProfile stats (for snakeviz etc.)")
    args = parser.parse_args()
    cls = next(c for c in CONTENDERS if c.name == args.contender)
    plan = Plan(args.concurrency, args.runs, max(50, args.runs // 5))

    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler: Any = Profiler(interval=0.0002, async_mode="disabled")
    else:
        profiler = cProfile.Profile()

    async def go(url: str) -> float:
        contender = cls(url, mock_client() if args.mock else None)
        try:
            return await _profiled(contender, plan, profiler)
        finally:
            await contender.aclose()

    if args.mock:
        cpu = asyncio.run(go("http://bench.invalid"))
    else:
        with Server() as server:
            server.pin()
            cpu = asyncio.run(go(server.url))

    print(f"{cls.name}, concurrency {plan.concurrency}, {plan.runs} runs: {cpu / plan.runs * 1e6:.0f} µs CPU/run (profiled)\n")
    if args.pyinstrument:
        print(profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False))
        return

    stats = pstats.Stats(profiler)
    total = sum(t for _, t in by_package(stats))
    print(f"{'package':<20} {'own time':>9} {'share':>6} {'µs/run':>8}")
    for name, seconds in by_package(stats):
        print(f"{name:<20} {seconds:>8.3f}s {seconds / total:>6.1%} {seconds / plan.runs * 1e6:>8.0f}")
    print()
    stats.sort_stats("tottime").print_stats(args.top)
    print("agentkit functions by cumulative time:")
    stats.sort_stats("cumulative").print_stats("/agentkit/", args.top)
    if args.save:
        stats.dump_stats(str(args.save))


if __name__ == "__main__":
    sys.exit(main())
