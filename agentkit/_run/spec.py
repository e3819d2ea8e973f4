"""The frozen per-run spec: everything the loop knows of an agent.

An :class:`~agentkit.Agent` builds one for each run (``Agent._spec``); the loop never sees the
agent itself, only :class:`AgentLike` (what a handoff or a sub-agent needs of one). A handoff
swaps the spec mid-run; hooks given to one run are added to a copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from ..errors import UserError
from ..models.base import Model
from ..output import OutputFormat, OutputSchema
from ..settings import ModelSettings
from ..tools import Tool, ToolDefinition
from ..usage import ToolLimits
from .hooks import HookSet
from .state import ApprovalCallback

if TYPE_CHECKING:
    from ..guardrails import Guardrail
    from ..handoffs import Handoff

__all__ = ["RunSpec", "AgentLike", "ToolErrors", "check_options", "check_settings"]

ToolErrors = Literal["return", "raise"]
"""What an unexpected exception inside a tool does: go back to the model, or end the run."""


def check_settings(settings: Any) -> None:
    """``settings`` must be a :class:`~agentkit.ModelSettings` (or None)."""
    if settings is not None and not isinstance(settings, ModelSettings):
        raise UserError(f"settings must be a ModelSettings, not {type(settings).__name__}.")


def check_options(
    max_turns: Any, output_retries: Any, tool_retries: Any, tool_errors: Any, tool_limits: Any, max_handoffs: Any = 0
) -> None:
    """Raise :class:`~agentkit.errors.UserError` for an agent option the loop cannot work with."""
    if not isinstance(max_turns, int) or max_turns < 1:
        raise UserError(f"max_turns must be a positive int, not {max_turns!r}.")
    if not isinstance(max_handoffs, int) or max_handoffs < 0:
        raise UserError(f"max_handoffs must be an int >= 0, not {max_handoffs!r}.")
    for label, value in (("output_retries", output_retries), ("tool_retries", tool_retries)):
        if not isinstance(value, int) or value < 0:
            raise UserError(f"{label} must be an int >= 0, not {value!r}.")
    if tool_errors not in get_args(ToolErrors):
        raise UserError(f"tool_errors must be 'return' or 'raise', not {tool_errors!r}.")
    if not isinstance(tool_limits, ToolLimits):
        raise UserError(f"tool_limits must be a ToolLimits, not {type(tool_limits).__name__}.")


class AgentLike(Protocol):
    """What the loop needs of an :class:`~agentkit.Agent` it hands off to or runs as a tool."""

    name: str | None
    settings: ModelSettings

    async def connect(self) -> None:
        """Enter the agent's toolsets (once)."""

    def _spec(self, extra_hooks: HookSet | None = None) -> RunSpec:
        """The agent's frozen spec (with a run's extra hooks)."""


@dataclass(frozen=True)
class RunSpec:
    """What one run needs from its agent (immutable; built once per configuration).

    Attributes:
        model: the model to send requests to.
        tools: the agent's tools by name (toolsets' included once connected).
        tool_defs: their definitions, in order, plus the output tool's (sent with every request).
        output: how the final answer is asked for and checked (None: plain text).
        native: the ``response_format`` to ask for (native output mode), else None.
        output_tool: the name of the final-result tool (tool output mode), else None.
        output_type: the agent's ``output_type`` (``str`` for text).
        instructions: the system message of a new conversation.
        max_turns, output_retries, tool_retries, reset_tool_choice: the agent's limits.
        approve: the approval callback, if any.
        tool_errors: ``"return"`` (unexpected tool exceptions go back to the model) or ``"raise"``.
        hooks: the hooks of this run (the agent's, then the run's), prepared once.
        name: the agent's name.
        deps_type: the agent's ``deps_type`` (checked at run start against tools that take ``RunContext``).
        tool_limits: calls executed per turn and running at once.
        handoffs: the agent's handoffs, by tool name (``transfer_to_...``).
        max_handoffs: the most handoffs one run may make (the entry agent's counts).
        input_guardrails, output_guardrails: the agent's guardrails.
        agent: the agent itself (what a handoff back to it or a resumed run looks up).
    """

    model: Model
    tools: Mapping[str, Tool[Any, Any]]
    tool_defs: tuple[ToolDefinition, ...]
    output: OutputSchema[Any] | None
    output_type: Any
    instructions: str | None
    max_turns: int
    output_retries: int
    tool_retries: int
    reset_tool_choice: bool
    approve: ApprovalCallback | None
    tool_errors: ToolErrors
    hooks: HookSet = field(default_factory=HookSet)
    name: str | None = None
    deps_type: Any = None
    tool_limits: ToolLimits = field(default_factory=ToolLimits)
    handoffs: Mapping[str, Handoff] = field(default_factory=dict)
    max_handoffs: int = 10
    input_guardrails: tuple[Guardrail, ...] = ()
    output_guardrails: tuple[Guardrail, ...] = ()
    agent: AgentLike | None = field(default=None, repr=False, compare=False)

    native: OutputFormat | None = field(init=False, repr=False)
    """The ``response_format`` to ask for, in native output mode (else None)."""
    output_tool: str | None = field(init=False, repr=False)
    """The final-result tool's name, in tool output mode (else None)."""

    def __post_init__(self) -> None:
        output = self.output
        native = output.format if output is not None and output.mode == "native" else None
        tool = output.name if output is not None and output.tool_definition is not None else None
        object.__setattr__(self, "native", native)  # frozen: computed once here
        object.__setattr__(self, "output_tool", tool)

    @property
    def label(self) -> str:
        """The agent's name in event paths and state (``"agent"`` when it has none)."""
        return self.name or "agent"

    def output_label(self) -> str:
        """The output type's name, for error messages."""
        return str(getattr(self.output_type, "__name__", self.output_type))
