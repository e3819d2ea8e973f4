"""Quick start: an agent with a weather tool and a calculator.

Uses a real model when one is configured (``AGENTKIT_MODEL=provider:model``, or an
``OPENAI_API_KEY``); otherwise runs offline on agentkit's built-in test model (a ``ScriptedModel``)
scripted to do what a real model does with the example question: call both tools, then answer
from their results.

    python examples/quickstart.py "What's the weather in Paris, and what is 17 * 23?"
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Literal

from agentkit import Agent, ModelSettings, tool
from agentkit.messages import AssistantMessage, Message, ToolMessage, UserMessage
from agentkit.models import Model, ModelRequest
from agentkit.testing import ScriptedModel, tool_call


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


def pick_model() -> Model | str:
    """The model to use: $AGENTKIT_MODEL, else OpenAI when a key is set, else the offline test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"]
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4o-mini"
    print(
        "No API key set: running offline on the built-in test model, scripted for the example question "
        "(set OPENAI_API_KEY or AGENTKIT_MODEL=provider:model for a real one)."
    )
    return ScriptedModel([offline_turn] * 1000)  # the same function answers each request (a run, a chat, a batch)


def offline_turn(request: ModelRequest) -> AssistantMessage:
    """What a model does with the example question: call both tools, then answer from their results."""
    results = [m.content for m in since_the_question(request.messages) if isinstance(m, ToolMessage)]
    if not results:
        calls = [tool_call("get_weather", {"city": "Paris"}), tool_call("multiply", {"a": 17, "b": 23})]
        return AssistantMessage(tool_calls=calls)
    weather, product = results
    return AssistantMessage(content=f"{weather}, and 17 * 23 = {float(product):g}.")


def since_the_question(messages: Sequence[Message]) -> Sequence[Message]:
    """The messages after the last user message: this run's turns so far."""
    last = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), default=-1)
    return messages[last + 1 :]


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
    tokens = f", {u.total_tokens} tokens" if u.total_tokens else ""  # the offline stand-in counts none
    print(f"[{result.turns} turns, {u.requests} requests, {u.tool_calls} tool calls{tokens}]")


if __name__ == "__main__":
    main()
