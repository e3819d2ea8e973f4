"""Shared pieces of the agents-as-tools tests: one loopback server for a team of agents, each
agent with its own model name (``<agent>-model``), its replies scripted per agent.

Also importable by a subprocess (``build_cleanup_team``): a paused run is resumed there, in a
new process, against the same server.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from agentkit import Agent, tool
from agentkit.models import OpenAICompatible
from tests.support.server import Reply, Request

__all__ = ["Team", "model_named", "build_cleanup_team", "ROOT"]

ROOT = Path(__file__).resolve().parents[2]

Scripted = Union[Reply, Callable[[Request], Reply]]


class Team:
    """A loopback handler: each agent's replies in order, told apart by the request's model name.

    ``bodies[agent]`` holds the chat bodies each agent sent; ``arrived[agent]`` is set when its
    first request comes in (a test can wait for a request to be in flight)."""

    def __init__(self, **scripts: list[Scripted]) -> None:
        self.scripts = {name: list(replies) for name, replies in scripts.items()}
        self.bodies: dict[str, list[Any]] = defaultdict(list)
        self.arrived: dict[str, threading.Event] = defaultdict(threading.Event)
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        body = request.json
        name = str(body["model"]).removesuffix("-model")
        with self._lock:
            self.bodies[name].append(body)
            self.arrived[name].set()
            replies = self.scripts.get(name) or []
            reply = replies.pop(0) if replies else None
        if reply is None:
            return Reply(500, {"error": {"message": f"loopback server: no reply left for {name}"}})
        return reply(request) if callable(reply) else reply


def model_named(url: str, agent: str) -> OpenAICompatible:
    """The model of ``agent`` on the loopback server at ``url`` (its requests name ``<agent>-model``)."""
    return OpenAICompatible(f"{agent}-model", base_url=url + "/v1", api_key="sk-team-test")


def build_cleanup_team(url: str, log: dict[str, list[str]], approve: Any = None) -> Agent[Any, str]:
    """A lead with a sibling tool (``list_files``) and a ``janitor`` sub-agent whose ``delete_file``
    needs approval; ``log`` records each tool run (``log["deleted"]``, ``log["listed"]``)."""

    @tool(requires_approval=True)
    def delete_file(path: str) -> str:
        """Delete a file (needs approval).

        Args:
            path: The file to delete.
        """
        log.setdefault("deleted", []).append(path)
        return f"deleted {path}"

    @tool
    def list_files() -> list[str]:
        """List the files."""
        log.setdefault("listed", []).append("ls")
        return ["a.txt", "b.txt"]

    janitor = Agent(model_named(url, "janitor"), name="janitor", tools=[delete_file], instructions="You delete files.")
    return Agent(
        model_named(url, "lead"),
        name="lead",
        tools=[janitor.as_tool(), list_files],
        instructions="You lead.",
        approve=approve,
    )
