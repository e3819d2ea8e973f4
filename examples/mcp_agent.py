"""MCP: an agent whose tools come from an MCP server — the reference time server, run over stdio.

``MCPServerStdio`` starts ``python -m mcp_server_time`` as a subprocess when the agent first
runs, lists its tools (``get_current_time``, ``convert_time``; prefixed ``time_`` here) and stops
it when the agent is closed. Needs the MCP SDK and the server: ``pip install 'agentkit-loop[mcp]'
mcp-server-time`` (both are in the dev extra).

The model is a real one when configured (``AGENTKIT_MODEL=provider:model``, or an
``OPENAI_API_KEY``); otherwise the offline test model (a ``ScriptedModel``), scripted to do what a
model does with the example question: call both of the server's tools with real timezones, then
answer from what they returned.

    python examples/mcp_agent.py "What time is it in Tokyo, and in Paris when it is 9:00 in New York?"
    agentkit run examples/mcp_agent.py "What time is it in Tokyo?"
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys

from agentkit import Agent
from agentkit.messages import AssistantMessage, ToolMessage, UserMessage
from agentkit.models import Model, ModelRequest
from agentkit.testing import ScriptedModel, tool_call

try:
    from agentkit.mcp import MCPServerStdio
except ImportError as e:
    print(f"This example needs the MCP SDK: pip install 'agentkit-loop[mcp]' mcp-server-time ({e}).")
    raise SystemExit(0) from None
if importlib.util.find_spec("mcp_server_time") is None:
    print("This example needs the MCP time server: pip install mcp-server-time.")
    raise SystemExit(0)


QUESTION = "What time is it in Tokyo, and in Paris when it is 9:00 in New York?"


def pick_model() -> Model | str:
    """$AGENTKIT_MODEL, else OpenAI when a key is set, else the offline test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"]
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4o-mini"
    print(
        "No API key set: running offline on the built-in test model, scripted for the example question "
        "(set OPENAI_API_KEY or AGENTKIT_MODEL=provider:model for a real one)."
    )
    return ScriptedModel([offline_turn] * 1000)  # the same function answers each request


def offline_turn(request: ModelRequest) -> AssistantMessage:
    """What a model does with QUESTION: call both tools of the server, then answer from their results."""
    last = max(i for i, m in enumerate(request.messages) if isinstance(m, UserMessage))
    results = [m for m in request.messages[last + 1 :] if isinstance(m, ToolMessage)]
    if not results:
        now = tool_call("time_get_current_time", {"timezone": "Asia/Tokyo"})
        convert = {"source_timezone": "America/New_York", "time": "09:00", "target_timezone": "Europe/Paris"}
        return AssistantMessage(tool_calls=[now, tool_call("time_convert_time", convert)])
    if any(m.is_error for m in results):
        return AssistantMessage(content="The time server failed: " + "; ".join(m.content for m in results if m.is_error))
    tokyo, converted = (json.loads(m.content) for m in results)
    paris = converted["target"]["datetime"]
    return AssistantMessage(content=f"In Tokyo it is {tokyo['datetime'][11:16]}; 9:00 in New York is {paris[11:16]} in Paris.")


MODEL = pick_model()
time_server = MCPServerStdio(
    sys.executable,  # the server runs in this interpreter's environment, where pip installed it
    ["-m", "mcp_server_time", "--local-timezone", "UTC"],
    prefix="time",  # the model sees time_get_current_time and time_convert_time
    connect_timeout=30,
    call_timeout=10,
    # offline, the test model's made-up timezones make the server log errors: keep its stderr quiet
    errlog=open(os.devnull, "w") if isinstance(MODEL, ScriptedModel) else None,  # noqa: SIM115 - open as long as the process
)
agent = Agent(
    MODEL,
    tools=[time_server],
    instructions="You answer questions about dates and times with the time tools. Be brief.",
)


async def main() -> None:
    question = " ".join(sys.argv[1:]) or QUESTION
    async with agent:  # connects the server (starts the subprocess); closes it at the end
        info = time_server.server_info or {}  # from the handshake
        names = ", ".join(f"{exposed} (the server's {real})" for exposed, real in time_server.tool_names.items())
        print(f"Connected to MCP server {info.get('name')!r} {info.get('version', '')}: {names}")
        result = await agent.run(question)
    for message in result.new_messages:
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls:
                print(f"-> {call.name}({call.arguments})")
        elif isinstance(message, ToolMessage):
            print(f"<- {message.name}: {message.content}")
    print(result.output)


if __name__ == "__main__":
    asyncio.run(main())
