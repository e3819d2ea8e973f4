"""Streaming chat: a conversation whose answers appear as they are written, tool calls included.

Each prompt runs ``agent.run_stream(...)`` with the conversation so far (``messages=``) and
prints the events as they arrive: text deltas, tool calls with their arguments, tool results.

* In a terminal: type prompts; ``exit``, ``quit`` or Ctrl-D ends the chat.
* With prompts piped in (``printf 'Hi\\nWhat time is it in Tokyo?\\n' | python examples/streaming_chat.py``):
  one answer per line.
* Otherwise (no input, or output not to a terminal): one canned prompt, then exit.

The model is a real one when configured (``AGENTKIT_MODEL=provider:model``, or an
``OPENAI_API_KEY``); otherwise the offline test model, which calls each tool once and answers
with a summary of the results.
"""

from __future__ import annotations

import asyncio
import os
import select
import sys
from collections.abc import AsyncIterator

from agentkit_tools import calculator, clock

from agentkit import Agent, Message
from agentkit.events import FinalOutput, TextDelta, ToolCallReady, ToolResult

CANNED = "What time is it in Tokyo, and what is 2**16?"


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


agent = Agent(
    pick_model(),
    tools=[*clock(), calculator],  # current_time, convert_time, calculator
    instructions="You are a helpful assistant. Use the tools for times and arithmetic. Be brief.",
)


async def answer(prompt: str, history: list[Message]) -> list[Message]:
    """Stream one answer to ``prompt``; return the conversation including it."""
    mid_line = False  # whether answer text was printed without a newline yet

    def line(text: str) -> None:
        nonlocal mid_line
        print(("\n" if mid_line else "") + text, flush=True)
        mid_line = False

    async with agent.run_stream(prompt, messages=history) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                print(event.text, end="", flush=True)
                mid_line = True
            elif isinstance(event, ToolCallReady):  # the call is complete: name and arguments known
                line(f"  -> {event.name}({event.raw_arguments})")
            elif isinstance(event, ToolResult):
                line(f"  {'!!' if event.is_error else '<-'} {event.name}: {event.content[:120]}")
            elif isinstance(event, FinalOutput):
                u = event.usage
                line(f"[{event.turn} turns, {u.tool_calls} tool calls, {u.total_tokens} tokens]")
        return stream.result.messages


async def prompts() -> AsyncIterator[str]:
    """Where the prompts come from: the terminal, a pipe, or the canned one (stdin is read in a thread)."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        print("Chat away; exit, quit or Ctrl-D ends.")
        while True:
            try:
                line = await asyncio.to_thread(input, "> ")
            except EOFError:
                print()
                return
            if line.strip().lower() in ("exit", "quit"):
                return
            if line.strip():
                yield line.strip()
    elif _piped():
        while line := await asyncio.to_thread(sys.stdin.readline):
            if line.strip():
                print(f"> {line.strip()}")
                yield line.strip()
    else:
        print(f"> {CANNED}")
        yield CANNED


def _piped() -> bool:
    """Whether stdin is a pipe or a file with something in it (never blocks on an idle pipe)."""
    if sys.stdin is None or sys.stdin.isatty() or os.name == "nt":
        return False
    try:
        readable, _, _ = select.select([sys.stdin], [], [], 0.2)
    except (OSError, ValueError):
        return False
    peek = getattr(sys.stdin.buffer, "peek", None)
    return bool(readable) and peek is not None and bool(peek(1))  # /dev/null and closed pipes: readable but empty


async def chat() -> None:
    history: list[Message] = []
    try:
        async for prompt in prompts():
            history = await answer(prompt, history)
    finally:
        await agent.aclose()


if __name__ == "__main__":
    try:
        asyncio.run(chat())
    except KeyboardInterrupt:
        print()
