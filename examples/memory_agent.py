"""Memory agent: an assistant that remembers a user's preferences from one run, and process, to the next.

    python examples/memory_agent.py remember "I am vegetarian"   # one process stores the fact
    python examples/memory_agent.py "Suggest a dinner"           # a later one recalls it
    python examples/memory_agent.py                              # both, each in a process of its own

The agent has the ``remember``, ``recall`` and ``forget`` tools of ``agentkit_tools.memory``: facts
about the user go into a SQLite file, searched with SQLite's full-text index, so a later process
finds them. The file is ``$AGENTKIT_MEMORY_DB`` when set, else ``memory_agent.db`` in
``$AGENTKIT_CACHE_DIR`` when that is set, else the sessions file in your data directory
(``agentkit.sessions.default_sessions_path()``). Run with no arguments, the example uses a
temporary file, removed afterwards. The user key is ``$AGENTKIT_MEMORY_USER`` (default ``me``).

Uses a real model when one is configured (``AGENTKIT_MODEL=provider:model``, or an
``OPENROUTER_API_KEY``, ``MISTRAL_API_KEY`` or ``OPENAI_API_KEY``); otherwise runs offline on
agentkit's built-in test model (a ``ScriptedModel``), scripted to do what a model does here: store
what it is told to remember, and recall the user's food preferences before suggesting a dinner.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from agentkit_tools import memory

from agentkit import Agent
from agentkit.messages import AssistantMessage, Message, ToolMessage, UserMessage
from agentkit.models import Model, ModelRequest
from agentkit.testing import ScriptedModel, tool_call

REMEMBER = "Remember this about me: "


def pick_model() -> Model | str:
    """A real model when one is configured, else the offline test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"]
    for key, model in (
        ("OPENROUTER_API_KEY", "openrouter:mistralai/mistral-large-2512"),
        ("MISTRAL_API_KEY", "mistral:mistral-large-latest"),
        ("OPENAI_API_KEY", "openai:gpt-4o-mini"),
    ):
        if os.environ.get(key):
            return model
    print(
        "No API key set: running offline on the built-in test model, scripted to remember and recall "
        "(set OPENROUTER_API_KEY, MISTRAL_API_KEY, OPENAI_API_KEY or AGENTKIT_MODEL=provider:model for a real one)."
    )
    return ScriptedModel([offline_turn] * 100)


def offline_turn(request: ModelRequest) -> AssistantMessage:
    """What a model does here: remember what it is told to, else recall the user's tastes, then answer."""
    question = next(str(m.content) for m in reversed(request.messages) if isinstance(m, UserMessage))
    results = [m.content for m in this_run(request.messages) if isinstance(m, ToolMessage)]
    if question.startswith(REMEMBER):
        if not results:
            return AssistantMessage(tool_calls=[tool_call("remember", {"fact": question.removeprefix(REMEMBER)})])
        return AssistantMessage(content="Noted: I will keep that in mind next time.")
    if not results:
        return AssistantMessage(tool_calls=[tool_call("recall", {"query": "diet vegetarian vegan allergies food preferences"})])
    known = results[0]
    if "vegetarian" in known.lower():
        return AssistantMessage(
            content="Since you are vegetarian: a mushroom risotto, or a chickpea and spinach curry with rice."
        )
    if known.startswith("Nothing is remembered"):
        return AssistantMessage(content="I don't know your tastes yet: how about a lemon and herb roast chicken?")
    return AssistantMessage(content=f"Going by what I remember ({known.splitlines()[1]}): a seasonal pasta.")


def this_run(messages: Sequence[Message]) -> Sequence[Message]:
    """The messages after the last user message: this run's turns so far."""
    last = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), default=-1)
    return messages[last + 1 :]


def database() -> str | None:
    """Where the facts live: $AGENTKIT_MEMORY_DB, else $AGENTKIT_CACHE_DIR/memory_agent.db, else None (the sessions file)."""
    if os.environ.get("AGENTKIT_MEMORY_DB"):
        return os.environ["AGENTKIT_MEMORY_DB"]
    if os.environ.get("AGENTKIT_CACHE_DIR"):
        return str(Path(os.environ["AGENTKIT_CACHE_DIR"]) / "memory_agent.db")
    return None


def ask(prompt: str) -> None:
    """One run of the agent, in this process, showing its tool calls."""
    agent = Agent(
        pick_model(),
        tools=memory(database(), user=os.environ.get("AGENTKIT_MEMORY_USER", "me")),
        instructions=(
            "You are a helpful assistant with a long-term memory of this user. When they tell you something "
            "about themselves worth keeping (diet, allergies, tastes, family, work), store it with remember, one "
            "fact per call. Before answering a request that may depend on their preferences, call recall (key "
            "words, or an empty query for the newest facts). Answer in one or two sentences."
        ),
    )
    result = agent.run_sync(prompt)
    for message in result.new_messages:
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls:
                print(f"-> {call.name}({call.arguments})")
        elif isinstance(message, ToolMessage):
            print("<- " + message.content.replace("\n", "\n   "))
    print(result.output)
    u = result.usage
    tokens = f", {u.total_tokens} tokens" if u.total_tokens else ""  # the offline stand-in counts none
    calls = f"{u.tool_calls} tool call{'s' if u.tool_calls != 1 else ''}"
    print(f"[{result.turns} turns, {u.requests} requests, {calls}{tokens}]")


def demo() -> int:
    """Remember a preference in one process, then use it from another, with a temporary database."""
    folder = tempfile.mkdtemp(prefix="agentkit-memory-")
    env = {**os.environ, "AGENTKIT_MEMORY_DB": str(Path(folder) / "memory.db")}
    try:
        for args in (["remember", "I am vegetarian"], ["Suggest a dinner"]):
            print(f"\n$ python examples/memory_agent.py {shlex.join(args)}   (a process of its own)", flush=True)
            done = subprocess.run([sys.executable, __file__, *args], env=env, check=False)
            if done.returncode:
                return done.returncode
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def main() -> int:
    args = sys.argv[1:]
    if not args:
        return demo()
    if args[0] == "remember" and len(args) > 1:
        ask(REMEMBER + " ".join(args[1:]))
    else:
        ask(" ".join(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
