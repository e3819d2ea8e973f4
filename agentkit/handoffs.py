"""Handoffs: an agent passes the conversation to another agent, which answers from there.

``Agent(handoffs=[billing, Handoff(refunds, input_type=Reason)])`` gives the model one
``transfer_to_<name>`` tool per target. When the model calls one, the run goes on with the
target agent — its instructions (they replace the source's system message), tools, model,
settings and output type — over the conversation so far. ``result.agent_name`` names the agent
that gave the final answer; usage is summed across agents; ``max_handoffs`` stops loops.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import pydantic
import pydantic_core

from ._run.spec import AgentLike
from .context import RunContext
from .errors import UserError
from .messages import AssistantMessage, Message, ToolMessage
from .tools import ToolArgumentsError, ToolDefinition

__all__ = ["Handoff", "HandoffLike", "InputFilter", "remove_tool_messages", "prepare_handoffs"]

InputFilter = Callable[[list[Message]], list[Message]]
"""``input_filter(messages) -> messages``: what the target agent sees of the conversation."""

OnHandoff = Callable[[RunContext[Any], Any], Union[Awaitable[None], None]]

_NOT_NAME = re.compile(r"[^a-zA-Z0-9_-]+")


@dataclass(frozen=True)
class Handoff:
    """A handoff target with options; a plain agent in ``handoffs=[...]`` is ``Handoff(agent)``.

    Attributes:
        agent: the agent that takes over.
        name: the name in the tool ``transfer_to_<name>`` (default: the agent's name).
        description: the tool's description for the model (default: "Transfer the conversation
            to the <name> agent.").
        input_type: a pydantic model, dataclass or TypedDict: the handoff call's arguments
            (e.g. a reason), validated like a tool's; they reach ``on_handoff``. None: no arguments.
        input_filter: ``(messages) -> messages``: rewrite or trim the conversation the target
            goes on with (e.g. :func:`remove_tool_messages`). The run's history becomes its result.
        on_handoff: ``fn(ctx, input)`` (sync or async), called as the handoff happens, with the
            validated input (None without an ``input_type``).
    """

    agent: AgentLike
    name: str = ""
    description: str = ""
    input_type: Any = None
    input_filter: InputFilter | None = None
    on_handoff: OnHandoff | None = None
    tool_name: str = field(init=False)
    """``transfer_to_<name>``: the tool the model calls."""
    definition: ToolDefinition = field(init=False, repr=False)
    """The tool's definition, sent with every request of the source agent."""
    _adapter: pydantic.TypeAdapter[Any] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not hasattr(self.agent, "_spec"):
            raise UserError(f"A handoff target must be an Agent, not {type(self.agent).__name__}.")
        name = self.name or self.agent.name
        if not name:
            raise UserError("A handoff target needs a name: give the agent name=... or use Handoff(agent, name=...).")
        tool_name = "transfer_to_" + _NOT_NAME.sub("_", name).strip("_").lower()
        description = self.description or f"Transfer the conversation to the {name} agent."
        adapter = None
        parameters: dict[str, Any] = {"type": "object", "properties": {}}
        if self.input_type is not None:
            adapter = pydantic.TypeAdapter(self.input_type)
            parameters = adapter.json_schema()
            if parameters.get("type") != "object":
                raise UserError(
                    "Handoff input_type must be an object type (a pydantic model, dataclass or TypedDict), "
                    f"not {self.input_type!r}."
                )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "tool_name", tool_name[:64])
        object.__setattr__(self, "definition", ToolDefinition(tool_name[:64], description, parameters, None))
        object.__setattr__(self, "_adapter", adapter)

    def parse(self, arguments: str) -> Any:
        """The call's validated input (None without an ``input_type``); raises
        :class:`~agentkit.tools.ToolArgumentsError` with a message for the model."""
        if self._adapter is None:
            return None
        try:
            return self._adapter.validate_json(arguments.strip() or "{}")
        except pydantic.ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or '(arguments)'}: {err['msg']}" for err in e.errors()[:10])
            raise ToolArgumentsError(
                f"Invalid arguments for {self.tool_name!r}: {problems}. Call it again with corrected arguments."
            ) from None

    async def notify(self, ctx: RunContext[Any], value: Any) -> None:
        """Call ``on_handoff`` (if any) with the validated input."""
        if self.on_handoff is not None:
            done = self.on_handoff(ctx, value)
            if inspect.isawaitable(done):
                await done

    def dump(self, value: Any) -> Any:
        """The input as JSON-compatible data (for logs and events)."""
        return None if self._adapter is None else pydantic_core.to_jsonable_python(value)


HandoffLike = Union[Handoff, AgentLike]
"""A handoff target: an :class:`~agentkit.Agent`, or a :class:`Handoff` with options."""


def prepare_handoffs(items: Sequence[HandoffLike]) -> tuple[Handoff, ...]:
    """``items`` as :class:`Handoff` values, their tool names unique."""
    given: object = items
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise UserError(f"handoffs must be a list of agents or Handoff, not {type(items).__name__}.")
    prepared = tuple(item if isinstance(item, Handoff) else Handoff(item) for item in items)
    seen: set[str] = set()
    for handoff in prepared:
        if handoff.tool_name in seen:
            raise UserError(
                f"Two handoffs use the tool name {handoff.tool_name!r}; pass Handoff(agent, name=...) to one of them."
            )
        seen.add(handoff.tool_name)
    return prepared


def remove_tool_messages(messages: list[Message]) -> list[Message]:
    """An ``input_filter``: the conversation without tool calls and their results (the target
    sees only what was said), e.g. for a target on another provider or with other tools. What the
    source said while calling tools after the last user message (e.g. "Let me pass you on.") is
    dropped too: the conversation ends with the user's turn, which the target answers (Mistral
    rejects a conversation that ends with an assistant message)."""
    kept: list[Message] = []
    trailing = 0  # texts of tool-calling turns at the end of ``kept``
    for m in messages:
        if isinstance(m, ToolMessage):
            continue
        if isinstance(m, AssistantMessage) and m.tool_calls:
            if not m.content:
                continue
            m = m.model_copy(update={"tool_calls": []})
            trailing += 1
        else:
            trailing = 0
        kept.append(m)
    return kept[: len(kept) - trailing]
