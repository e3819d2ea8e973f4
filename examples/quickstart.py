"""Quick start: an agent with a weather tool and a calculator.

Uses a real model when one is configured (``AGENTKIT_MODEL=provider:model``, or an
``OPENAI_API_KEY``); otherwise runs offline on agentkit's built-in test model, which calls each
tool once with schema-valid arguments and then answers.

    python examples/quickstart.py "What's the weather in Paris, and what is 17 * 23?"
"""

from __future__ import annotations

import os
import sys
from typing import Literal

from agentkit import Agent, ModelSettings, tool
from agentkit.messages import AssistantMessage, ToolMessage


@tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
    """Get the current weather.

    Args:
        city: City name, e.g. "Paris".
        unit: Temperature unit.
    """
    temperature = 22 if unit == "c" else 72
    return f"Sunny, {temperature} {unit.upper()} in {city}"


@tool
def multiply(a: float, b: float) -> float:
    """Multiply two numbers.

    Args:
        a: The first factor.
        b: The second factor.
    """
    return a * b


def pick_model() -> str:
    """The model to use: $AGENTKIT_MODEL, else OpenAI when a key is set, else the offline test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"]
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4o-mini"
    print(
        "No API key set: running offline on the built-in test model "
        "(set OPENAI_API_KEY or AGENTKIT_MODEL=provider:model for a real one)."
    )
    return "test"


agent = Agent(
    pick_model(),
    tools=[get_weather, multiply],
    instructions="You are a concise assistant. Use the tools when they help.",
    settings=ModelSettings(temperature=0.2),
)


def main() -> None:
    prompt = " ".join(sys.argv[1:]) or "What's the weather in Paris, and what is 17 * 23?"
    result = agent.run_sync(prompt)
    for message in result.new_messages:
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls:
                print(f"-> {call.name}({call.arguments})")
        elif isinstance(message, ToolMessage):
            print(f"<- {message.content}")
    print(result.output)
    u = result.usage
    print(f"[{result.turns} turns, {u.requests} requests, {u.tool_calls} tool calls, {u.total_tokens} tokens]")


if __name__ == "__main__":
    main()
