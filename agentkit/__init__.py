"""agentkit: a small, fast framework for tool-calling agents over OpenAI-compatible APIs.

>>> from agentkit import Agent, tool
>>> @tool
... def get_weather(city: str) -> str:
...     '''Get the current weather.
...
...     Args:
...         city: City name.
...     '''
...     return "Sunny, 22 C"
>>> agent = Agent("test", tools=[get_weather])
>>> agent.run_sync("Weather in Paris?").output
'Tool results: get_weather -> Sunny, 22 C'
"""

from __future__ import annotations

import logging

from .agent import Agent, AgentRun, AgentStream, RunResult, RunState
from .content import AudioUrl, BinaryContent, DocumentUrl, ImageUrl
from .context import RunContext
from .errors import (
    AgentkitError,
    AgentRunError,
    ApprovalRequired,
    GuardrailError,
    GuardrailTripped,
    HookError,
    InvalidRunState,
    MaxHandoffsExceeded,
    MaxTurnsExceeded,
    MissingAPIKeyError,
    ModelRetry,
    OutputValidationError,
    ProviderError,
    ToolDefinitionError,
    ToolExecutionError,
    ToolRetriesExceeded,
    UsageLimitExceeded,
    UserError,
)
from .guardrails import Guardrail, GuardrailResult, ToolGuardrail
from .handoffs import Handoff
from .hooks import Hooks, Substitute, Veto
from .instrumentation import InstrumentationSettings, instrument
from .messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
    dump_messages,
    load_messages,
)
from .pricing import Price, set_price
from .settings import ModelSettings
from .tools import Tool, ToolDefinition, Toolset, tool
from .usage import ToolLimits, Usage, UsageLimits

__version__ = "0.1.0"

# A library logs; the application decides where it goes (nothing reaches stderr unless logging is set up).
logging.getLogger("agentkit").addHandler(logging.NullHandler())

__all__ = [
    "Agent",
    "AgentStream",
    "AgentRun",
    "RunResult",
    "RunState",
    "RunContext",
    "Hooks",
    "instrument",
    "InstrumentationSettings",
    "Veto",
    "Substitute",
    "Handoff",
    "Guardrail",
    "GuardrailResult",
    "ToolGuardrail",
    "tool",
    "Tool",
    "ToolDefinition",
    "Toolset",
    "ModelSettings",
    "Usage",
    "UsageLimits",
    "ToolLimits",
    "Price",
    "set_price",
    "Message",
    "SystemMessage",
    "UserMessage",
    "AssistantMessage",
    "ToolMessage",
    "ToolCall",
    "ImageUrl",
    "DocumentUrl",
    "AudioUrl",
    "BinaryContent",
    "dump_messages",
    "load_messages",
    "ModelRetry",
    "AgentkitError",
    "UserError",
    "ToolDefinitionError",
    "MissingAPIKeyError",
    "AgentRunError",
    "MaxTurnsExceeded",
    "ToolRetriesExceeded",
    "ApprovalRequired",
    "UsageLimitExceeded",
    "HookError",
    "GuardrailTripped",
    "GuardrailError",
    "MaxHandoffsExceeded",
    "ToolExecutionError",
    "InvalidRunState",
    "OutputValidationError",
    "ProviderError",
    "__version__",
]
