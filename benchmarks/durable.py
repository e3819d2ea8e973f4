"""What a durable run (agentkit.durable, DBOS) adds to a run, per system database.

    python benchmarks/durable.py            # ~1 min on a 2-core machine
    python benchmarks/durable.py --runs 50  # fewer runs

One run = the tool round trip (2 model requests, one tool call) against an in-process model that
answers at once, so that only the framework's and the database's work is measured: ``plain``
(``agent.run``), and ``DurableAgent.run`` with DBOS's SQLite system database (a file under /tmp)
and with a PostgreSQL started by this script on 127.0.0.1 (as tests/durable do). A durable run of
this shape is a workflow with 5 steps (2 requests; the tool call's begin and end; none for the
output) plus its start and its result. Each contender runs ``--runs`` runs one after the other
(concurrency 1), then the same number 20 at a time. Per run: wall time (the batch's time / its
runs) and this process's CPU time (all its threads: DBOS writes from worker threads; PostgreSQL's
own CPU is another process's and not counted). Results: ``benchmarks/results/durable.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dbos import DBOS  # noqa: E402

from agentkit import Agent, tool  # noqa: E402
from agentkit.durable import DurableAgent  # noqa: E402
from agentkit.messages import AssistantMessage, ToolCall, UserMessage  # noqa: E402
from agentkit.models.base import Model, ModelRequest, ModelResponse  # noqa: E402
from agentkit.usage import Usage  # noqa: E402
from tests.sessions.services import postgres_server  # noqa: E402

CONCURRENCY = 20


class RoundTrip(Model):
    """A tool call to a new question, then the answer."""

    model_name = "round-trip"

    async def request(self, request: ModelRequest) -> ModelResponse:
        last = request.messages[-1]
        if isinstance(last, UserMessage):
            message = AssistantMessage(tool_calls=[ToolCall(id="call_1", name="ping", arguments='{"n": 1}')])
        else:
            message = AssistantMessage(content="done")
        return ModelResponse(message, Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15))


@tool
async def ping(n: int) -> str:
    """Ping."""
    return f"pong {n}"


async def measure(run: Callable[[int], Awaitable[Any]], runs: int, concurrency: int) -> dict[str, float]:
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    for first in range(0, runs, concurrency):
        await asyncio.gather(*(run(i) for i in range(first, min(first + concurrency, runs))))
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    return {"wall_ms_per_run": round(wall / runs * 1000, 3), "cpu_ms_per_run": round(cpu / runs * 1000, 3)}


async def contender(name: str, run: Callable[[int], Awaitable[Any]], runs: int) -> dict[str, Any]:
    await run(-1)  # warm-up
    return {"contender": name, "c1": await measure(run, runs, 1), f"c{CONCURRENCY}": await measure(run, runs, CONCURRENCY)}


def durable_contender(name: str, url: str, runs: int) -> dict[str, Any]:
    DBOS(config={"name": "agentkit-bench", "system_database_url": url, "run_admin_server": False})
    durable = DurableAgent(Agent(RoundTrip(), name="bench", tools=[ping]))
    DBOS.launch()
    try:
        return asyncio.run(contender(name, lambda i: durable.run("go", workflow_id=f"{name}-{i}"), runs))
    finally:
        DBOS.destroy(destroy_registry=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    agent = Agent(RoundTrip(), name="plain", tools=[ping])
    results = [asyncio.run(contender("plain", lambda i: agent.run("go"), args.runs))]
    with tempfile.TemporaryDirectory() as folder:
        results.append(durable_contender("sqlite", f"sqlite:///{folder}/dbos.sqlite", args.runs))
    with postgres_server() as dsn:
        results.append(durable_contender("postgres", dsn.rsplit("/", 1)[0] + "/agentkit_bench", args.runs))
    print(f"{'':10} {'c=1 wall ms':>12} {'c=1 CPU ms':>11} {f'c={CONCURRENCY} wall ms':>13} {f'c={CONCURRENCY} CPU ms':>12}")
    for row in results:
        one, many = row["c1"], row[f"c{CONCURRENCY}"]
        print(
            f"{row['contender']:10} {one['wall_ms_per_run']:12.2f} {one['cpu_ms_per_run']:11.2f} "
            f"{many['wall_ms_per_run']:13.2f} {many['cpu_ms_per_run']:12.2f}"
        )
    meta = {"runs": args.runs, "python": platform.python_version(), "dbos": importlib.metadata.version("dbos")}
    out = ROOT / "benchmarks" / "results" / "durable.json"
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
