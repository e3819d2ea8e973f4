"""memory: remember / recall / forget facts per user, in a SQLite file shared by processes; full-text or embedding search."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from agentkit_tools import Fact, MemoryStore, SQLiteMemory, memory
from agentkit_tools._memory_sql import SCHEMA_VERSION, match_query

from agentkit import Agent, ModelRetry, RunContext, Tool, UserError
from agentkit.embeddings import Embedder, EmbeddingResult
from agentkit.sessions import SQLiteSession
from agentkit.testing import ScriptedModel, reply, tool_call
from tests.agentkit_tools.conftest import run_calls

ROOT = Path(__file__).parent.parent.parent


def by_name(tools: list[Tool[..., Any]]) -> dict[str, Tool[..., Any]]:
    return {t.name: t for t in tools}


async def call(tool: Tool[..., Any], deps: Any = None, **arguments: Any) -> str:
    """The tool's answer, or the ModelRetry message it raised (what the model would read)."""
    try:
        result: str = await tool.function(RunContext(deps), **arguments)
    except ModelRetry as e:
        return f"retry: {e.message}"
    return result


def texts(facts: Iterable[Fact]) -> list[str]:
    return [f.text for f in facts]


# -- a tiny deterministic embedder ----------------------------------------------------------

SYNONYMS = {"vegetarian": "meatless", "veggie": "meatless", "meal": "food", "dinner": "food", "lunch": "food"}


class BagOfWords(Embedder):
    """Each word (synonyms folded together) counts in one of 256 dimensions; records what it embedded."""

    def __init__(self) -> None:
        super().__init__("openai:bag-of-words", api_key="test", base_url="http://127.0.0.1:9/v1")
        self.embedded: list[tuple[str, list[str]]] = []

    async def embed(self, texts: str | Iterable[str], *, kind: Any = "passage") -> EmbeddingResult:
        items = [texts] if isinstance(texts, str) else list(texts)
        self.embedded.append((kind, items))
        vectors = np.zeros((len(items), 256), dtype=np.float32)
        for row, text in enumerate(items):
            for word in re.findall(r"\w+", text.lower()):
                word = SYNONYMS.get(word, word)
                vectors[row, zlib.crc32(word.encode()) % 256] += 1.0
        return EmbeddingResult(vectors, "bag-of-words")


# -- remember and recall ----------------------------------------------------------------------


async def test_remember_then_recall_in_an_agent(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    tools = memory(db, user="alice")
    assert [t.name for t in tools] == ["remember", "recall", "forget"]
    assert "RunContext" not in json.dumps(tools[0].definition.parameters)
    _, results = run_calls(tools, [("remember", {"fact": "I am vegetarian"}), ("remember", {"fact": "My sister lives in Lyon"})])
    assert [m.content for m in results] == ["Remembered as #1: I am vegetarian", "Remembered as #2: My sister lives in Lyon"]
    # a new set of tools (a new run, a new conversation) on the same file finds them
    _, results = run_calls(memory(db, user="alice"), [("recall", {"query": "is the user vegetarian?"})])
    assert results[0].content.startswith(
        "1 remembered fact matching 'is the user vegetarian?', best match first:\n#1 I am vegetarian"
    )
    assert not results[0].is_error


async def test_empty_query_lists_the_newest_and_no_match_falls_back_to_them(tmp_path: Path) -> None:
    tools = by_name(memory(tmp_path / "m.db", user="u"))
    assert await call(tools["recall"]) == "Nothing is remembered about this user yet."
    for fact in ("Prefers tea", "Lives in Paris", "Has a cat named Miso"):
        await call(tools["remember"], fact=fact)
    newest = await call(tools["recall"], query="", limit=2)
    assert newest.splitlines()[0] == "2 remembered facts, newest first:"
    assert "#3 Has a cat named Miso" in newest and "#2 Lives in Paris" in newest and "tea" not in newest
    missed = await call(tools["recall"], query="dinner ideas")
    assert missed.startswith("No remembered fact matches 'dinner ideas'. 3 remembered facts, newest first:")


async def test_full_text_ranking(tmp_path: Path) -> None:
    async with SQLiteMemory(tmp_path / "m.db") as store:
        for fact in (
            "Allergic to peanuts",
            "Loves sushi and ramen",
            "Favourite food: sushi, every Friday",
            "Works as a nurse in Lyon",
            "Went hiking in the Alps last summer",
            "Cafés in Montréal are her favourite",
        ):
            await store.add("u", fact)
        best = await store.search("u", "sushi food", 5)
        assert texts(best)[:2] == ["Favourite food: sushi, every Friday", "Loves sushi and ramen"]  # both words first
        assert best[0].score is not None and best[1].score is not None and best[0].score > best[1].score
        assert texts(await store.search("u", "peanut allergy", 5)) == ["Allergic to peanuts"]  # stemmed
        assert texts(await store.search("u", "hike", 5)) == ["Went hiking in the Alps last summer"]
        assert texts(await store.search("u", "cafe montreal", 5)) == ["Cafés in Montréal are her favourite"]  # accents
        assert await store.search("u", "spaceships", 5) == []
        assert len(await store.search("u", "the in a", 2)) == 2  # common words still match, bounded by the limit


@pytest.mark.parametrize(
    "query",
    [
        '"',
        'sushi"',
        "sushi AND",
        "NEAR(sushi food, 2)",
        "fact:sushi",
        "* OR -",
        "^sushi",
        "sushi*",
        "(((",
        "'; DROP TABLE agentkit_memory_facts; --",
        "\x00sushi",
        "日本語 sushi",
        "x" * 5000,
        " ".join(["sushi"] * 500),
        "!!! ??? ...",
    ],
)
async def test_hostile_queries_never_raise(tmp_path: Path, query: str) -> None:
    tools = by_name(memory(tmp_path / "m.db", user="u"))
    await call(tools["remember"], fact="Loves sushi")
    answer = await call(tools["recall"], query=query)
    assert not answer.startswith("retry:")
    assert "Loves sushi" in answer  # a match, or the newest facts
    assert "sqlite" not in answer.lower() and "syntax" not in answer.lower()


def test_match_query_quotes_every_term() -> None:
    assert match_query('NEAR("a" b*) OR c:d') == '"near" OR "a" OR "b" OR "or" OR "c" OR "d"'
    assert match_query("?! -- ()") is None
    assert match_query(" ".join(f"w{i}" for i in range(100))).count(" OR ") == 31  # bounded


async def test_identical_facts_are_stored_once(tmp_path: Path) -> None:
    tools = by_name(memory(tmp_path / "m.db", user="u"))
    assert await call(tools["remember"], fact="I am vegetarian") == "Remembered as #1: I am vegetarian"
    for same in ("I am vegetarian", "  i am   VEGETARIAN. ", "I am vegetarian."):
        assert (await call(tools["remember"], fact=same)).startswith("Already remembered as #1 (on ")
    assert (await call(tools["remember"], fact="I am not vegetarian")).startswith("Remembered as #2")
    other = by_name(memory(tmp_path / "m.db", user="someone else"))
    assert (await call(other["remember"], fact="I am vegetarian")).startswith("Remembered as #3")  # per user


# -- users --------------------------------------------------------------------------------------


async def test_users_are_isolated(tmp_path: Path) -> None:
    alice = by_name(memory(tmp_path / "m.db", user="alice"))
    bob = by_name(memory(tmp_path / "m.db", user="bob"))
    await call(alice["remember"], fact="Alice's secret: the code is 1234")
    await call(bob["remember"], fact="Bob likes jazz")
    assert "1234" not in await call(bob["recall"], query="secret code")
    assert "1234" not in await call(bob["recall"])
    assert "Bob likes jazz" not in await call(alice["recall"], query="jazz")
    assert await call(bob["forget"], fact_id=1) == "retry: There is no remembered fact #1 for this user. " + (
        "Recall shows the facts and their numbers."
    )
    assert "1234" in await call(alice["recall"], query="code")
    assert await call(alice["forget"], fact_id=1) == "Forgot #1: Alice's secret: the code is 1234"
    assert await call(alice["recall"], query="code") == "Nothing is remembered about this user yet."


async def test_user_key_from_deps(tmp_path: Path) -> None:
    tools = memory(tmp_path / "m.db", user=lambda deps: deps["user"])

    def run(user: str, *calls: tuple[str, dict[str, Any]]) -> list[str]:
        model = ScriptedModel([reply(None, *[tool_call(n, a) for n, a in calls]), "ok"])
        result = Agent(model, tools=tools).run_sync("go", deps={"user": user})
        return [str(m.content) for m in model.requests[-1].messages[-len(calls) :]] if result.output == "ok" else []

    run("alice", ("remember", {"fact": "Plays the cello"}))
    run("bob", ("remember", {"fact": "Plays the drums"}))
    assert "cello" in run("alice", ("recall", {"query": "plays"}))[0]
    assert "cello" not in run("bob", ("recall", {"query": "plays"}))[0]
    model = ScriptedModel([reply(None, tool_call("recall", {"query": "x"})), "ok"])
    with pytest.raises(UserError, match="non-empty string as the user key"):
        Agent(model, tools=tools).run_sync("go", deps={"user": ""})  # the application's mistake ends the run


def test_bad_arguments_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="user"):
        memory(tmp_path / "m.db", user="")
    with pytest.raises(UserError, match="max_results"):
        memory(tmp_path / "m.db", user="u", max_results=0)
    store = SQLiteMemory(tmp_path / "m.db")
    with pytest.raises(UserError, match="give embedder, metric and max_facts to the store"):
        memory(store, user="u", max_facts=3)
    with pytest.raises(UserError, match="MemoryStore"):
        memory(object(), user="u")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="max_facts"):
        SQLiteMemory(tmp_path / "m.db", max_facts=0)
    assert isinstance(store, MemoryStore)


# -- limits ----------------------------------------------------------------------------------------


async def test_limits_answer_the_model(tmp_path: Path) -> None:
    tools = by_name(memory(tmp_path / "m.db", user="u", max_fact_chars=50, max_results=3, max_facts=4))
    assert "at most 50 characters" in tools["remember"].description
    assert "up to 3 facts" in tools["recall"].description
    long = await call(tools["remember"], fact="x" * 51)
    assert long.startswith("retry: The fact is 51 characters long; the limit is 50.")
    assert (await call(tools["remember"], fact="   ")).startswith("retry: The fact is empty.")
    assert (await call(tools["remember"], fact="a\x00b")).startswith("retry: The fact contains a NUL character")
    for i in range(4):
        await call(tools["remember"], fact=f"fact number {i}")
    full = await call(tools["remember"], fact="one too many")
    assert full.startswith("retry: Memory is full: 4 facts are stored for this user, the most allowed. Forget facts")
    assert (await call(tools["remember"], fact="fact number 0")).startswith("Already remembered")  # not a new one
    assert (await call(tools["recall"], query="fact", limit=4)).startswith("retry: limit must be a whole number from 1 to 3")
    assert (await call(tools["recall"], query="fact", limit=0)).startswith("retry: limit must be")
    assert (await call(tools["recall"], query="fact", limit=3)).startswith("3 remembered facts matching 'fact'")
    await call(tools["forget"], fact_id=1)
    assert (await call(tools["remember"], fact="one too many")).startswith("Remembered as #5")


def test_limits_through_the_agent(tmp_path: Path) -> None:
    tools = memory(tmp_path / "m.db", user="u", max_results=3)
    _, results = run_calls(tools, [("recall", {"query": "x", "limit": 50}), ("forget", {"fact_id": "#2"})])
    assert results[0].is_error and "limit must be a whole number from 1 to 3" in str(results[0].content)
    assert results[1].is_error and "fact_id" in str(results[1].content)


# -- the file -----------------------------------------------------------------------------------------


def _remember_in_a_child(db: Path, user: str, facts: list[str]) -> subprocess.Popen[str]:
    script = textwrap.dedent(
        """
        import sys, json
        from agentkit import Agent
        from agentkit.testing import ScriptedModel, reply, tool_call
        from agentkit_tools import memory
        db, user, facts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
        tools = memory(db, user=user, max_facts=100_000)
        for fact in facts:
            model = ScriptedModel([reply(None, tool_call("remember", {"fact": fact})), "ok"])
            Agent(model, tools=tools).run_sync("remember this")
        print("done")
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", script, str(db), user, json.dumps(facts)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_facts_cross_processes(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    child = _remember_in_a_child(db, "carol", ["Carol is vegetarian", "Carol's dog is called Rex"])
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0 and out.strip() == "done", err
    recall = textwrap.dedent(
        """
        import sys
        from agentkit import Agent
        from agentkit.testing import ScriptedModel, reply, tool_call
        from agentkit_tools import memory
        model = ScriptedModel([reply(None, tool_call("recall", {"query": "vegetarian dog"})), lambda r: r.messages[-1].content])
        print(Agent(model, tools=memory(sys.argv[1], user="carol")).run_sync("what do you know?").output)
        """
    )
    done = subprocess.run([sys.executable, "-c", recall, str(db)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "2 remembered facts matching 'vegetarian dog'" in done.stdout
    assert "#1 Carol is vegetarian" in done.stdout and "#2 Carol's dog is called Rex" in done.stdout


async def test_concurrent_remembers_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    children = [_remember_in_a_child(db, "u", [f"child {c} fact {i}" for i in range(40)]) for c in range(2)]
    tools = by_name(memory(db, user="u", max_facts=100_000))
    answers = await asyncio.gather(*(call(tools["remember"], fact=f"task fact {i}") for i in range(150)))
    same = await asyncio.gather(*(call(tools["remember"], fact="the same fact") for _ in range(30)))
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0 and out.strip() == "done", err
    assert all(a.startswith("Remembered as #") for a in answers)
    assert sum(a.startswith("Remembered as #") for a in same) == 1
    async with SQLiteMemory(db) as store:
        assert await store.count("u") == 150 + 80 + 1
        assert len({f.id for f in await store.recent("u", 1000)}) == 231
        assert len(await store.search("u", "child", 1000)) == 80  # the full-text index kept up with every write


async def test_file_layout_schema_version_and_sessions_in_the_same_file(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    async with SQLiteSession(db, "chat-1") as session:
        from agentkit.messages import UserMessage

        await session.add_messages([UserMessage(content="hello")])
        tools = by_name(memory(db, user="u"))
        await call(tools["remember"], fact="Likes hello messages")
        assert len(await session.get_messages()) == 1
    assert [s.session_id for s in await SQLiteSession.list_sessions(db)] == ["chat-1"]
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"agentkit_memory_meta", "agentkit_memory_facts", "agentkit_memory_vectors", "agentkit_memory_fts"} <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = conn.execute("SELECT value FROM agentkit_memory_meta WHERE key = 'schema_version'").fetchone()[0]
        assert version == str(SCHEMA_VERSION)
        conn.execute("UPDATE agentkit_memory_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(UserError, match="schema version 99, written by a newer agentkit"):
        await SQLiteMemory(db).count("u")


async def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database " * 100)
    with pytest.raises(UserError, match="is not a SQLite database"):
        await SQLiteMemory(path).count("u")


async def test_file_io_runs_on_the_stores_thread(tmp_path: Path) -> None:
    store = SQLiteMemory(tmp_path / "m.db")
    name = await store._run(lambda connection: threading.current_thread().name)
    assert name.startswith("agentkit-memory") and name != threading.current_thread().name
    await store.close()
    assert await store.count("u") == 0  # opens again
    await store.close()


def test_one_store_serves_several_event_loops(tmp_path: Path) -> None:
    store = SQLiteMemory(tmp_path / "m.db")
    tools = memory(store, user="u")
    for i in range(3):  # run_sync: a new event loop each time
        run_calls(tools, [("remember", {"fact": f"fact {i}"})])
    assert asyncio.run(store.count("u")) == 3


# -- by meaning -----------------------------------------------------------------------------------


async def test_recall_by_meaning_with_an_embedder(tmp_path: Path) -> None:
    emb = BagOfWords()
    tools = by_name(memory(tmp_path / "m.db", user="u", embedder=emb))
    assert "by meaning" in tools["recall"].description
    for fact in ("I am vegetarian", "My sister lives in Lyon", "Works night shifts"):
        await call(tools["remember"], fact=fact)
    assert [kind for kind, _ in emb.embedded] == ["passage"] * 3
    answer = await call(tools["recall"], query="veggie dinner ideas", limit=2)  # no word in common with the fact
    first = answer.splitlines()[1]
    assert first.startswith("#1 I am vegetarian (remembered ") and "similarity 0." in first
    assert emb.embedded[-1] == ("query", ["veggie dinner ideas"])
    before = len(emb.embedded)
    assert (await call(tools["remember"], fact="i am VEGETARIAN.")).startswith("Already remembered as #1")
    assert len(emb.embedded) == before  # a duplicate is not embedded again
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM agentkit_memory_vectors").fetchone()[0] == 3


async def test_the_index_is_read_from_the_file_and_extended(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    async with SQLiteMemory(db) as plain:  # no embedder: facts stored without vectors
        await plain.add("u", "I am vegetarian")
        await plain.add("u", "Lives in Lyon")
        await plain.add("other", "Eats meat")
    emb = BagOfWords()
    async with SQLiteMemory(db, embedder=emb) as store, SQLiteMemory(db, embedder=BagOfWords()) as elsewhere:
        assert texts(await store.search("u", "meatless meal", 1)) == ["I am vegetarian"]
        assert emb.embedded[1] == ("passage", ["I am vegetarian", "Lives in Lyon"])  # the user's facts, once
        await store.search("u", "anything", 5)
        assert [kind for kind, _ in emb.embedded[2:]] == ["query"]  # read from the file: nothing embedded again
        # another store (another process) adds and deletes: the next search sees both
        await elsewhere.add("u", "Veggie burgers on Sundays")
        await elsewhere.delete("u", 1)
        found = await store.search("u", "vegetarian food", 5)
        assert texts(found)[0] == "Veggie burgers on Sundays" and "I am vegetarian" not in texts(found)
        assert all(isinstance(f.score, float) for f in found)
        assert texts(await store.search("other", "meat", 5)) == ["Eats meat"]
        assert "Eats meat" not in texts(await store.search("u", "meat", 5))
    with sqlite3.connect(db) as conn:  # vectors stored, and those of the deleted fact gone with it
        assert conn.execute("SELECT COUNT(*) FROM agentkit_memory_vectors WHERE fact_id = 1").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM agentkit_memory_vectors").fetchone()[0] == 3  # facts 2, 3 and 4


async def test_many_facts_are_read_in_batches(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    async with SQLiteMemory(db, max_facts=1000) as plain:
        for i in range(600):
            await plain.add("u", f"fact {i} about topic {i % 7}")
    emb = BagOfWords()
    async with SQLiteMemory(db, embedder=emb, max_cached_users=1) as store:
        found = await store.search("u", "fact 599 about topic 4", 3)
        assert "fact 599 about topic 4" in texts(found) and found[0].score == pytest.approx(1.0)
        assert [len(items) for kind, items in emb.embedded if kind == "passage"] == [256, 256, 88]
        await store.search("v", "x", 1)  # another user: the first one's index is let go (max_cached_users=1)
        assert "fact 3 about topic 3" in texts(await store.search("u", "fact 3 about topic 3", 3))
        assert sum(kind == "passage" for kind, _ in emb.embedded) == 3  # read again from the file, not embedded again


def test_one_store_from_two_threads_at_once(tmp_path: Path) -> None:
    store = SQLiteMemory(tmp_path / "m.db")

    def add_many(tag: str) -> None:
        async def go() -> None:
            await asyncio.gather(*(store.add("u", f"{tag} {i}") for i in range(50)))

        asyncio.run(go())

    threads = [threading.Thread(target=add_many, args=(tag,)) for tag in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert asyncio.run(store.count("u")) == 100


def test_names_and_the_optional_forget(tmp_path: Path) -> None:
    assert [t.name for t in memory(tmp_path / "m.db", user="u", forget=False)] == ["remember", "recall"]
    assert [t.name for t in memory(tmp_path / "m.db", user="u", prefix="team_")] == [
        "team_remember",
        "team_recall",
        "team_forget",
    ]
    tools = memory(tmp_path / "m.db", user="u")
    definitions = {t.name: t.definition.parameters for t in tools}
    assert definitions["remember"]["required"] == ["fact"]
    assert set(definitions["recall"]["properties"]) == {"query", "limit"} and not definitions["recall"].get("required")
    assert definitions["forget"]["properties"]["fact_id"]["type"] == "integer"


async def test_a_fact_is_kept_on_one_line(tmp_path: Path) -> None:
    tools = by_name(memory(tmp_path / "m.db", user="u"))
    assert await call(tools["remember"], fact="  Likes:\n- tea\n- jazz\n") == "Remembered as #1: Likes: - tea - jazz"
    assert (await call(tools["recall"], query="jazz")).splitlines()[1].startswith("#1 Likes: - tea - jazz (remembered ")
