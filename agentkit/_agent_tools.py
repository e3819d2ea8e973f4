"""An agent's tools: its own, and those its toolsets (e.g. MCP servers) bring once connected; the
definitions sent also name its handoffs and the output tool."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from .errors import UserError
from .handoffs import Handoff, HandoffLike, prepare_handoffs
from .output import OutputSchema
from .settings import ModelSettings
from .tools import Tool, ToolDefinition, ToolLike, Toolset

__all__ = ["AgentTools", "HandoffTargets"]


class AgentTools:
    """The tools by name and the definitions sent with every request (built once per change).

    Toolsets are entered by :meth:`connect` (once, under a lock) and closed by :meth:`close`.
    """

    def __init__(
        self, items: Sequence[ToolLike], output: OutputSchema[Any] | None, handoffs: Sequence[ToolDefinition] = ()
    ) -> None:
        self.own: list[Tool[Any, Any]] = []
        self.toolsets: list[Toolset] = []
        for item in items:
            if isinstance(item, Tool):
                self.own.append(item)
            elif isinstance(item, Toolset):
                self.toolsets.append(item)
            else:
                self.own.append(Tool(item))
        self._output = output
        self._handoffs = tuple(handoffs)
        self._stack: AsyncExitStack | None = None
        self._lock = asyncio.Lock()
        self.by_name: dict[str, Tool[Any, Any]] = {}
        self.definitions: tuple[ToolDefinition, ...] = ()
        self._index(self.own)

    @property
    def connected(self) -> bool:
        """True when there are no toolsets, or they are entered."""
        return self._stack is not None or not self.toolsets

    def _index(self, tools: Sequence[Tool[Any, Any]]) -> None:
        by_name: dict[str, Tool[Any, Any]] = {}
        for t in tools:
            if t.needs_binding:
                raise UserError(
                    f"Tool {t.name!r} is a method that is not bound to an instance: pass instance.{t.name}, not the class's."
                )
            if t.name in by_name:
                raise UserError(f"Two tools are named {t.name!r}; pass name=... to one of them.")
            by_name[t.name] = t
        definitions: list[ToolDefinition] = [t.definition for t in by_name.values()]
        for handoff in self._handoffs:
            if handoff.name in by_name:
                raise UserError(f"A tool is named {handoff.name!r}, which a handoff uses; rename the tool or the handoff.")
            definitions.append(handoff)
        output = self._output
        if output is not None and output.tool_definition is not None:
            if output.name in by_name:
                raise UserError(f"A tool is named {output.name!r}, which the output tool uses; rename the tool.")
            definitions.append(output.tool_definition)
        self.by_name = by_name
        self.definitions = tuple(definitions)

    def set_handoffs(self, handoffs: Sequence[ToolDefinition]) -> None:
        """Other handoff tools, checked against the tools (unchanged if that raises)."""
        kept = self._handoffs
        self._handoffs = tuple(handoffs)
        try:
            self._index(list(self.by_name.values()))
        except UserError:
            self._handoffs = kept
            raise

    def check_tool_choice(self, settings: ModelSettings) -> None:
        """A ``tool_choice`` that names a tool must name one of these."""
        choice = settings.tool_choice
        if choice is None or choice in ("auto", "none", "required"):
            return
        output = self._output
        if output is not None and output.tool_definition is not None and choice == output.name:
            return  # the final-result tool may be forced too
        if choice not in self.by_name and all(h.name != choice for h in self._handoffs):
            known = ", ".join(self.by_name) or "(the agent has no tools)"
            raise UserError(f"tool_choice={choice!r} names no tool of this agent; tools: {known}.")

    async def connect(self) -> None:
        """Enter the toolsets and add their tools (once)."""
        if self.connected:
            return
        async with self._lock:
            if self._stack is None:
                await self._enter()

    async def _enter(self) -> None:
        stack = AsyncExitStack()
        try:
            found = list(self.own)
            for toolset in self.toolsets:
                await stack.enter_async_context(toolset)
                found.extend(toolset.get_tools())
            self._index(found)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def close(self) -> None:
        """Close the toolsets (their tools leave until the next :meth:`connect`)."""
        stack, self._stack = self._stack, None
        if stack is not None:
            self._index(self.own)
            await stack.aclose()


class HandoffTargets:
    """:class:`~agentkit.Agent`'s ``handoffs``: assigning them checks the targets and changes the
    ``transfer_to_...`` tools sent; assigned after construction, they let agents hand back and forth."""

    _toolbox: AgentTools
    _handoffs: tuple[Handoff, ...]

    @property
    def handoffs(self) -> list[Handoff]:
        """The agents this one may hand off to, as :class:`~agentkit.handoffs.Handoff` values. Assign
        a list to change them, e.g. ``billing.handoffs = [triage]`` after ``triage = Agent(..., handoffs=[billing])``."""
        return list(self._handoffs)

    @handoffs.setter
    def handoffs(self, items: Sequence[HandoffLike]) -> None:
        prepared = prepare_handoffs(items)
        self._toolbox.set_handoffs([h.definition for h in prepared])
        self._handoffs = prepared
