"""Shared pieces of the handoff tests: one loopback handler for a desk of agents, each agent with
its own model name (``<agent>-model``, after an optional ``vendor/`` prefix), its replies scripted
per agent; the models of each provider profile; the wire rules Mistral puts on a conversation.

Also importable by a subprocess (``build_cleanup_desk``): a run paused after a handoff is resumed
there, in a new process, against the same server.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from agentkit import Agent, ModelSettings, tool
from agentkit.models import Mistral, OpenAI, OpenAIChatModel, OpenAICompatible, OpenRouter
from tests.support.server import Reply, Request, call, chat_completion

__all__ = ["Desk", "ROOT", "model", "replied", "transfer", "usage", "build_cleanup_desk", "mistral_rule_breaks"]
__all__ += ["system_texts", "tool_results", "call_ids"]

ROOT = Path(__file__).resolve().parents[2]

Scripted = Union[Reply, Callable[[Request], Reply]]


class Desk:
    """A loopback handler: each agent's replies in order, told apart by the request's model name.

    ``bodies[agent]`` holds the chat bodies each agent sent, ``order`` the agents in the order
    their requests arrived."""

    def __init__(self, **scripts: list[Scripted]) -> None:
        self.scripts = {name: list(replies) for name, replies in scripts.items()}
        self.bodies: dict[str, list[Any]] = defaultdict(list)
        self.order: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        body = request.json
        name = str(body["model"]).rsplit("/", 1)[-1].removesuffix("-model")
        with self._lock:
            self.bodies[name].append(body)
            self.order.append(name)
            replies = self.scripts.get(name) or []
            reply = replies.pop(0) if replies else None
        if reply is None:
            return Reply(500, {"error": {"message": f"loopback server: no reply left for {name}"}})
        return reply(request) if callable(reply) else reply


def model(provider: str, url: str, agent: str, vendor: str = "mistralai") -> OpenAIChatModel:
    """``agent``'s model on the loopback server at ``url`` with ``provider``'s profile (OpenRouter:
    a ``vendor/<agent>-model``, so ``mistralai`` keeps Mistral's rules)."""
    base = url + "/v1"
    if provider == "openai":
        return OpenAI(f"{agent}-model", api_key="sk-handoff-test", base_url=base)
    if provider == "openrouter":
        return OpenRouter(f"{vendor}/{agent}-model", api_key="sk-handoff-test", base_url=base)
    if provider == "mistral":
        return Mistral(f"{agent}-model", api_key="sk-handoff-test", base_url=base)
    return OpenAICompatible(f"{agent}-model", base_url=base, api_key="sk-handoff-test")


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def replied(content: str | None = None, *calls: tuple[str, Any, str], tokens: tuple[int, int] = (10, 5)) -> Reply:
    """A plain answer: text and/or tool calls ``("name", {args}, "id")``, with its usage."""
    tool_calls = [call(name, args, id) for name, args, id in calls] or None
    return Reply(body=chat_completion(content, tool_calls, usage=usage(*tokens)))


def transfer(to: str, id: str = "call_to_1", args: Any = None, **kw: Any) -> Reply:
    """A plain answer that calls ``transfer_to_<to>``."""
    return replied(None, (f"transfer_to_{to}", {} if args is None else args, id), **kw)


def system_texts(body: dict[str, Any]) -> list[str]:
    """The system messages of one request body."""
    return [m["content"] for m in body["messages"] if m["role"] == "system"]


def tool_results(body: dict[str, Any]) -> list[tuple[str, str]]:
    """``(tool_call_id, content)`` of each tool message of one request body."""
    return [(m["tool_call_id"], m["content"]) for m in body["messages"] if m["role"] == "tool"]


def call_ids(body: dict[str, Any]) -> list[str]:
    """The ids of the tool calls in the assistant messages of one request body."""
    return [c["id"] for m in body["messages"] for c in m.get("tool_calls") or ()]


_MISTRAL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")


def mistral_rule_breaks(body: dict[str, Any]) -> list[str]:
    """What in one request breaks Mistral's rules (PROVIDERS.md): 9-character ids, one result per
    call with the same id, no user right after a tool message, the last message user or tool."""
    problems = []
    messages = body["messages"]
    calls: list[str] = []
    results: list[str] = []
    for i, m in enumerate(messages):
        for c in m.get("tool_calls") or ():
            calls.append(c["id"])
            if not _MISTRAL_ID.match(c["id"]):
                problems.append(f"call id {c['id']!r}")
            if not isinstance(json.loads(c["function"]["arguments"]), dict):
                problems.append(f"arguments of {c['id']!r}")
        if m["role"] == "tool":
            results.append(m["tool_call_id"])
            if not _MISTRAL_ID.match(m["tool_call_id"]):
                problems.append(f"result id {m['tool_call_id']!r}")
        if m["role"] == "user" and i and messages[i - 1]["role"] == "tool":
            problems.append(f"user after tool at {i}")
    if sorted(calls) != sorted(results):
        problems.append(f"calls {calls} vs results {results}")
    last = messages[-1]
    if last["role"] not in ("user", "tool") and not (last["role"] == "assistant" and last.get("prefix")):
        problems.append(f"last message is {last['role']}")
    return problems


def build_cleanup_desk(url: str, provider: str, log: dict[str, list[str]]) -> Agent[Any, str]:
    """A ``triage`` agent that hands off to a ``janitor`` whose ``delete_file`` needs approval;
    ``log["deleted"]`` records each deletion."""

    @tool(requires_approval=True)
    def delete_file(path: str) -> str:
        """Delete a file (needs approval).

        Args:
            path: The file to delete.
        """
        log.setdefault("deleted", []).append(path)
        return f"deleted {path}"

    janitor = Agent(
        model(provider, url, "janitor"),
        name="janitor",
        tools=[delete_file],
        instructions="You delete files.",
        settings=ModelSettings(temperature=0.3),
    )
    return Agent(model(provider, url, "triage"), name="triage", instructions="You route requests.", handoffs=[janitor])
