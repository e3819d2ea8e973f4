"""MCP: an agent whose tools come from an MCP server — the reference time server, run over stdio.

``MCPServerStdio`` starts ``python -m mcp_server_time`` as a subprocess when the agent first
runs, lists its tools (``get_current_time``, ``convert_time``; prefixed ``time_`` here) and stops
it when the agent is closed. Needs the MCP SDK and the server: ``pip install 'agentkit-loop[mcp]'
mcp-server-time`` (both are in the dev extra).

The model is a real one when configured (``AGENTKIT_MODEL=provider:model``, or an
``OPENAI_API_KEY``); otherwise the offline test model, which calls each tool once with generated
arguments (the server rejects its made-up timezone, and the model is told so).

    python examples/mcp_agent.py "What time is it in Tokyo, and in Paris when it is 9:00 in New York?"
    agentkit run examples/mcp_agent.py "What time is it in Tokyo?"
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys

from agentkit import Agent
from agentkit.messages import AssistantMessage, ToolMessage

try:
    from agentkit.mcp import MCPServerStdio
except ImportError as e:
    print(f"This example needs the MCP SDK: pip install 'agentkit-loop[mcp]' mcp-server-time ({e}).")
    raise SystemExit(0) from None
if importlib.util.find_spec("mcp_server_time") is None:
    print("This example needs the MCP time server: pip install mcp-server-time.")
    raise SystemExit(0)


def pick_model() -> str:
    """$AGENTKIT_MODEL, else OpenAI when a key is set, else the offline test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"]
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4o-mini"
    print(
        "No API key set: running offline on the built-in test model "
        "(set OPENAI_API_KEY or AGENTKIT_MODEL=provider:model for a real one)."
    )
    return "test"


MODEL = pick_model()
time_server = MCPServerStdio(
    sys.executable,  # the server runs in this interpreter's environment, where pip installed it
    ["-m", "mcp_server_time", "--local-timezone", "UTC"],
    prefix="time",  # the model sees time_get_current_time and time_convert_time
    connect_timeout=30,
    call_timeout=10,
    # offline, the test model's made-up timezones make the server log errors: keep its stderr quiet
    errlog=open(os.devnull, "w") if MODEL == "test" else None,  # noqa: SIM115 - open as long as the process
)
agent = Agent(
    MODEL,
    tools=[time_server],
    instructions="You answer questions about dates and times with the time tools. Be brief.",
)


async def main() -> None:
    question = " ".join(sys.argv[1:]) or "What time is it in Tokyo right now?"
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
            print(f"<- {message.name}: {message.content[:160]}")
    print(result.output)


if __name__ == "__main__":
    asyncio.run(main())
