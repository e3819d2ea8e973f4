"""Tools defined under ``from __future__ import annotations`` (every annotation is a string).

Used by tests/test_tools.py: the types must be resolvable at module level.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from agentkit import RunContext, tool


@dataclass
class Deps:
    greeting: str


class Filter(BaseModel):
    field: str
    limit: int = 10


@tool
def greet(ctx: RunContext[Deps], name: str, times: int = 1) -> str:
    """Greet someone.

    Args:
        ctx: the run context (never shown to the model).
        name: who to greet.
        times: how many times.
    """
    return " ".join([f"{ctx.deps.greeting}, {name}!"] * times)


@tool
def plain_ctx(ctx: RunContext, when: datetime.date) -> str:
    return f"{ctx.tool_name}:{when.isoformat()}"


@tool(strict=True)
def search(
    ctx: RunContext[Deps],
    query: Annotated[str, Field(description="What to look for.")],
    mode: Literal["fast", "deep"] = "fast",
    filters: list[Filter] | None = None,
) -> dict[str, object]:
    """Search the index."""
    return {"query": query, "mode": mode, "filters": filters, "greeting": ctx.deps.greeting}


class Service:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @tool
    async def lookup(self, ctx: RunContext[Deps], key: str) -> str:
        """Look a key up."""
        return f"{self.prefix}{key}{ctx.deps.greeting}"
