"""docs/troubleshooting.md quotes the messages agentkit really raises: each is raised here and looked up in the page."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentkit import Agent, ModelRetry, RunState, UsageLimits, tool
from agentkit.errors import (
    AgentkitError,
    ApprovalRequired,
    InvalidRunState,
    MaxTurnsExceeded,
    MissingAPIKeyError,
    OutputValidationError,
    ToolDefinitionError,
    ToolRetriesExceeded,
    UsageLimitExceeded,
)
from agentkit.testing import ScriptedModel, reply, tool_call

PAGE = Path(__file__).parent.parent / "docs" / "troubleshooting.md"


def page_text() -> str:
    """The page with its line breaks as spaces, so a quote that wraps is still found."""
    return re.sub(r"\s+", " ", PAGE.read_text(encoding="utf-8"))


def raised(kind: type[AgentkitError], call: Any) -> str:
    with pytest.raises(kind) as info:
        call()
    return re.sub(r"\s+", " ", str(info.value))


@tool
def price(item: str) -> str:
    """Price of an item.

    Args:
        item: The item.
    """
    raise ModelRetry("unknown item")


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: The file.
    """
    return "deleted"


@tool
def stock(item: str) -> str:
    """Stock of an item.

    Args:
        item: The item.
    """
    return "3 left"


def looping(turns: int) -> list[Any]:
    """A model that calls a tool every turn and never answers."""
    return [reply(None, tool_call("stock", {"item": "x"})) for _ in range(turns)]


class City(BaseModel):
    name: str


def _messages() -> dict[str, str]:
    """The message of each error the page quotes, raised the way the page describes."""
    calls = [reply(None, tool_call("price", {"item": "x"})) for _ in range(3)]

    def connect(sock: socket.socket) -> str:
        return "ok"

    return {
        "MissingAPIKeyError": raised(MissingAPIKeyError, lambda: Agent("openai:gpt-4o-mini").run_sync("Hello")),
        "ToolRetriesExceeded": raised(
            ToolRetriesExceeded, lambda: Agent(ScriptedModel(calls), tools=[price], tool_retries=1).run_sync("Price?")
        ).split(" Last error:")[0],
        "MaxTurnsExceeded": raised(
            MaxTurnsExceeded, lambda: Agent(ScriptedModel(looping(10)), tools=[stock], max_turns=10).run_sync("Stock?")
        ),
        "InvalidRunState": raised(InvalidRunState, lambda: RunState.model_validate_json('{"turn": -1, "messages": []}')),
        "ToolDefinitionError name": raised(ToolDefinitionError, lambda: tool(name="my tool")(connect)).split(" (pass")[0],
        "ToolDefinitionError type": raised(ToolDefinitionError, lambda: tool(connect)).split(" (str, int")[0],
        "UsageLimitExceeded": raised(
            UsageLimitExceeded,
            lambda: Agent(ScriptedModel(looping(6)), tools=[stock]).run_sync("Stock?", usage_limits=UsageLimits(max_requests=5)),
        ),
        "ApprovalRequired": raised(
            ApprovalRequired,
            lambda: Agent(ScriptedModel([reply(None, tool_call("delete_file", {"path": "a"}))]), tools=[delete_file]).run_sync(
                "Delete a."
            ),
        ),
        "OutputValidationError": raised(
            OutputValidationError, lambda: Agent(ScriptedModel(["not json"] * 3), output_type=City).run_sync("Where?")
        ).split(": ", 1)[0],
    }


def test_the_page_quotes_the_real_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    text = page_text()
    missing = {kind: message for kind, message in _messages().items() if message and message not in text}
    assert not missing, "\n".join(f"{kind}: {message}" for kind, message in missing.items())
