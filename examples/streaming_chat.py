"""Streaming chat: a conversation whose answers appear as they are written, tool calls included.

Each prompt runs ``agent.run_stream(...)`` with the conversation so far (``messages=``) and
prints the events as they arrive: text deltas, tool calls with their arguments, tool results.

* In a terminal: type prompts; ``exit``, ``quit`` or Ctrl-D ends the chat.
* With prompts piped in (``printf 'Hi\\nWhat time is it in Tokyo?\\n' | python examples/streaming_chat.py``):
  one answer per line.
* Otherwise (no input, or output not to a terminal): one canned prompt, then exit.

The model is a real one when configured (``AGENTKIT_MODEL=provider:model``, or an
``OPENAI_API_KEY``); otherwise the offline test model (a ``ScriptedModel``), scripted to answer the
canned question as a model would: it calls the clock and the calculator, then answers from their
results. Other questions it cannot answer offline, and it says so.
"""

from __future__ import annotations

import asyncio
import os
import select
import sys
import textwrap
from collections.abc import AsyncIterator

from agentkit_tools import calculator, clock

from agentkit import Agent, Message
from agentkit.events import FinalOutput, TextDelta, ToolCallReady, ToolResult
from agentkit.messages import AssistantMessage, ToolMessage, UserMessage
from agentkit.models import Model, ModelRequest
from agentkit.testing import ScriptedModel, tool_call

CANNED = "What time is it in Tokyo, and what is 2**16?"


def pick_model() -> Model | str:
    """$AGENTKIT_MODEL, else OpenAI when a key is set, else the offline test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"]
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4o-mini"
    print(
        "No API key set: running offline on the built-in test model, scripted for the canned question "
        "(set OPENAI_API_KEY or AGENTKIT_MODEL=provider:model for a real one)."
    )
    return ScriptedModel([offline_turn] * 1000)  # the same function answers each request


def offline_turn(request: ModelRequest) -> AssistantMessage:
    """What a model does with the canned question: ask the clock and the calculator, then answer."""
    last = max(i for i, m in enumerate(request.messages) if isinstance(m, UserMessage))
    question, turn = request.messages[last], request.messages[last + 1 :]
    if question.content != CANNED:
        return AssistantMessage(content="(offline: only the canned question has a scripted answer; set OPENAI_API_KEY to chat)")
    results = [m.content for m in turn if isinstance(m, ToolMessage)]
    if not results:
        calls = [tool_call("current_time", {"timezone": "Asia/Tokyo"}), tool_call("calculator", {"expression": "2**16"})]
        return AssistantMessage(tool_calls=calls)
    now, power = results
    return AssistantMessage(content=f"In Tokyo it is {now.removeprefix('Now: ')}, and 2**16 = {power}.")


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
                shown = textwrap.shorten(event.content, 120, placeholder=" ...")  # cut between words
                line(f"  {'!!' if event.is_error else '<-'} {event.name}: {shown}")
            elif isinstance(event, FinalOutput):
                u = event.usage
                tokens = f", {u.total_tokens} tokens" if u.total_tokens else ""  # the offline stand-in counts none
                turns = f"{event.turn} turn{'s' if event.turn != 1 else ''}"
                line(f"[{turns}, {u.tool_calls} tool calls{tokens}]")
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
