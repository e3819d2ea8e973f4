"""A driver process of tests/ray: ``python -m tests.ray.driver ADDRESS RESULTS COUNT RPM``.

Runs ``COUNT`` inputs through ``run_many(executor=RayExecutor(address=ADDRESS, workers=2,
factory="tests.ray.agent_factory:make_agent"), results=RESULTS)`` and prints one JSON line: how
many items, how many skipped, how many failed.
"""

from __future__ import annotations

import json
import sys

from agentkit.ray import RayExecutor
from tests.ray.agent_factory import make_agent


def main(address: str, results: str, count: int, rpm: float) -> None:
    executor = RayExecutor(address, workers=2, concurrency_per_worker=4, factory="tests.ray.agent_factory:make_agent")
    inputs = [{"id": f"in-{i}", "prompt": f"prompt {i}"} for i in range(count)]
    items = make_agent().run_many_sync(inputs, executor=executor, results=results, requests_per_minute=rpm, progress=False)
    report = {"items": len(items), "skipped": sum(i.skipped for i in items), "failed": [i.error for i in items if not i.ok]}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
