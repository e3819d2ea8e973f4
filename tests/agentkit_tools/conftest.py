"""Helpers for the toolbox tests: run tools inside a real Agent on a ScriptedModel."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from agentkit import Agent, RunResult, ToolMessage
from agentkit.testing import ScriptedModel, reply, tool_call

T = TypeVar("T")


def run_calls(
    tools: Sequence[Any], calls: Sequence[tuple[str, Any]], *, final: str = "done", **agent_kwargs: Any
) -> tuple[RunResult[str], list[ToolMessage]]:
    """One model turn calling ``calls`` (name, arguments) in parallel, then a final answer; returns the tool messages in order."""
    model = ScriptedModel([reply(None, *[tool_call(name, args, id=f"c{i}") for i, (name, args) in enumerate(calls)]), final])
    agent = Agent(model, tools=list(tools), **agent_kwargs)
    result = agent.run_sync("go")
    messages = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in messages] == [f"c{i}" for i in range(len(calls))]
    # the model was shown exactly these results on its second turn
    assert len(model.requests) == 2
    return result, messages


def within(seconds: float, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it takes longer than ``seconds``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the call did not finish within {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]
