"""The factory of tests/ray's workers: ``"tests.ray.agent_factory:make_agent"``.

It runs on the Ray workers: the loopback server's URL is in the file ``base_url`` of the
directory ``$AGENTKIT_RAY_TEST_DIR`` (set on the nodes when the cluster starts), and each request
says which worker process sent it (``x-worker-pid``), so that the server can kill that worker.
"""

from __future__ import annotations

import os
from pathlib import Path

from agentkit import Agent
from agentkit.models import OpenAICompatible


def make_agent() -> Agent:
    url = (Path(os.environ["AGENTKIT_RAY_TEST_DIR"]) / "base_url").read_text(encoding="utf-8").strip()
    model = OpenAICompatible("loopback-model", base_url=url, api_key="sk-test-ray", headers={"x-worker-pid": str(os.getpid())})
    return Agent(model)
