"""``memory(store, user=...)``: long-term memory tools — ``remember``, ``recall`` and ``forget`` facts about a user.

    from agentkit import Agent
    from agentkit_tools import memory

    agent = Agent("openai:gpt-4o-mini", tools=memory("memory.db", user="alice"))
    agent = Agent("openai:gpt-4o-mini", tools=memory("memory.db", user=lambda deps: deps.user_id))

Facts are short texts kept per user key, in a SQLite file (:class:`SQLiteMemory`; by default the
sessions file, :func:`agentkit.sessions.default_sessions_path`, in tables of its own with their own
schema version), so they outlive the conversation and the process: any run, in any process, with
the same file and user key recalls them. The user key is a string fixed when the tools are made,
or a function of the run's ``deps`` (one set of tools, one agent, many users: each run only
reaches its own user's facts).

Search: without an embedder, SQLite's FTS5 full-text index (Porter stemming, accents ignored),
ranked by bm25 — the model's query is cut into words, each quoted, so no query syntax from the
model reaches SQLite. With an :class:`~agentkit.embeddings.Embedder`, recall ranks by similarity of
meaning: each fact's vector is stored next to it, and each user's vectors are read into a
:class:`~agentkit.embeddings.VectorIndex` on their first recall (facts stored without one are
embedded then). An empty query lists the newest facts; a query nothing matches answers with the
newest facts too, saying so.

Bounds: a fact is at most ``max_fact_chars`` characters (kept on one line: runs of whitespace,
newlines included, become one space), a user at most ``max_facts`` facts, a
recall at most ``max_results`` facts; a fact remembered twice (ignoring case, spacing and a final
period) is stored once. Every error the model can cause is a :class:`~agentkit.ModelRetry` that
says what to do instead.

All file I/O runs on the store's own thread, never on the event loop; the file is in WAL mode and
writes take its write lock first (``BEGIN IMMEDIATE``), waiting up to ``busy_timeout`` seconds for
other processes, so concurrent writers lose nothing.

Another store (PostgreSQL with ``tsvector`` or pgvector, Redis with RediSearch) is any object with
the four async methods of :class:`MemoryStore`: give it to ``memory()`` in place of the path.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, Union, runtime_checkable

from agentkit import ModelRetry, RunContext, Tool, UserError
from agentkit.embeddings import Embedder, Metric

from . import _memory_sql as sql
from ._memory_sql import SCHEMA_VERSION, Fact

if TYPE_CHECKING:
    import sqlite3

    from ._memory_vectors import Vectors

__all__ = ["memory", "SQLiteMemory", "MemoryStore", "Fact", "SCHEMA_VERSION"]

UserKey: TypeAlias = Union[str, Callable[[Any], str]]
"""A user key: a string, or a function of the run's ``deps`` that returns one."""


@runtime_checkable
class MemoryStore(Protocol):
    """Where :func:`memory` keeps facts: four async methods, each scoped to one user key."""

    async def add(self, user: str, text: str) -> tuple[Fact, bool]:
        """Store ``text`` unless the user has the same fact: ``(the fact, whether it is new)``."""
        ...

    async def search(self, user: str, query: str, limit: int) -> list[Fact]:
        """The user's facts matching ``query`` (non-empty), best first, at most ``limit``."""
        ...

    async def recent(self, user: str, limit: int) -> list[Fact]:
        """The user's ``limit`` newest facts, newest first."""
        ...

    async def delete(self, user: str, fact_id: int) -> Fact | None:
        """Delete the user's fact ``fact_id``; ``None`` when the user has no such fact."""
        ...


class SQLiteMemory:
    """Facts in a SQLite file, searched with FTS5 (bm25) or, given an ``embedder``, by embedding similarity.

    The file (and its folder) is created on first use, in WAL mode; the memory tables
    (``agentkit_memory_*``, with a schema version of their own) can share a file with
    :class:`~agentkit.sessions.SQLiteSession` conversations.
    Every call runs on a thread of the store's own (one connection), never on the event loop,
    so one store serves any number of tasks, runs and event loops; other processes may use the
    same file at once. ``await store.close()`` (or ``async with``) ends the thread; a closed store
    opens again on its next call.

    Args:
        path: the SQLite file; ``":memory:"`` keeps the facts in this store object only.
        embedder: rank recalls by meaning with this :class:`~agentkit.embeddings.Embedder` (or a
            model string such as ``"local"``); ``None`` uses full-text search.
        metric: the :class:`~agentkit.embeddings.VectorIndex` metric of the embedding search
            (``"hamming"`` for a binary embedder).
        max_facts: most facts stored per user.
        busy_timeout: seconds a write waits for another process holding the file's write lock.
        max_cached_users: users whose vectors are kept in memory (the least recently searched are let go).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        embedder: Embedder | str | None = None,
        metric: Metric = "cosine",
        max_facts: int = 10_000,
        busy_timeout: float = 30.0,
        max_cached_users: int = 1000,
    ) -> None:
        text = os.fspath(path)
        self.path = text if text == ":memory:" else os.path.abspath(os.path.expanduser(text))
        self.max_facts = _positive("max_facts", max_facts)
        self.busy_timeout = busy_timeout
        self.vectors: Vectors | None = None
        if embedder is not None:
            from ._memory_vectors import Vectors

            model = embedder if isinstance(embedder, Embedder) else Embedder(embedder)
            self.vectors = Vectors(model, metric, _positive("max_cached_users", max_cached_users))
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._starting = threading.Lock()  # two event loops in two threads must not start two threads of the store

    def __repr__(self) -> str:
        search = f"embedder={self.vectors.embedder!r}" if self.vectors is not None else "full-text"
        return f"SQLiteMemory({self.path!r}, {search})"

    # -- the thread -----------------------------------------------------------------------

    async def _run(self, job: Callable[..., Any], *args: Any) -> Any:
        """``job(connection, *args)`` on the store's thread."""
        executor = self._executor
        if executor is None or self._pid != os.getpid():
            with self._starting:  # first use, or a forked child: a thread of its own
                if self._executor is None or self._pid != os.getpid():
                    self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="agentkit-memory")
                    self._connection, self._pid = None, os.getpid()
                executor = self._executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(self._job, job, *args))

    def _job(self, job: Callable[..., Any], *args: Any) -> Any:
        if self._connection is None:
            self._connection = sql.connect(self.path, self.busy_timeout)
        return job(self._connection, *args)

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    async def close(self) -> None:
        """Close the file and end the store's thread (it starts again on the next call)."""
        with self._starting:
            executor, self._executor = self._executor, None
        if executor is not None and self._pid == os.getpid():
            await asyncio.get_running_loop().run_in_executor(executor, self._close_connection)
            executor.shutdown(wait=False)

    async def __aenter__(self) -> SQLiteMemory:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- the store ------------------------------------------------------------------------

    async def add(self, user: str, text: str) -> tuple[Fact, bool]:
        """Store ``text`` for ``user`` unless the same fact is there: ``(the fact, whether it is new)``.

        With an embedder, a new fact is embedded first and its vector stored with it.

        Raises:
            ModelRetry: the user has ``max_facts`` facts already.
        """
        vector = None
        if self.vectors is not None:
            existing: Fact | None = await self._run(sql.find, user, sql.normalize(text))
            if existing is not None:  # no need to embed it again
                return existing, False
            vector = await self.vectors.fact_vector(text)
        added: tuple[Fact, bool] = await self._run(sql.add, user, text, self.max_facts, vector)
        return added

    async def search(self, user: str, query: str, limit: int) -> list[Fact]:
        """The user's facts best matching ``query``, at most ``limit``: bm25 or similarity, best first."""
        facts: list[Fact]
        if self.vectors is not None:
            vector = await self.vectors.query_vector(query)
            await self.vectors.refresh(self._run, user)
            facts = await self._run(self.vectors.search, user, vector, limit)
            return facts
        match = sql.match_query(query)
        if match is None:
            return []
        facts = await self._run(sql.search_text, user, match, limit)
        return facts

    async def recent(self, user: str, limit: int) -> list[Fact]:
        """The user's ``limit`` newest facts, newest first."""
        facts: list[Fact] = await self._run(sql.recent, user, limit)
        return facts

    async def delete(self, user: str, fact_id: int) -> Fact | None:
        """Delete the user's fact ``fact_id`` (with its vectors); ``None`` when the user has no such fact."""
        fact: Fact | None = await self._run(sql.delete, user, fact_id)
        return fact

    async def clear(self, user: str) -> int:
        """Delete all of the user's facts; returns how many there were."""
        deleted: int = await self._run(sql.clear, user)
        return deleted

    async def count(self, user: str) -> int:
        """How many facts the user has."""
        n: int = await self._run(sql.count, user)
        return n


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{name} must be a positive integer, not {value!r}.")
    return value


def _user_of(user: UserKey, ctx: RunContext[Any]) -> str:
    key = user(ctx.deps) if callable(user) else user
    if not isinstance(key, str) or not key:
        raise UserError(f"memory(user=...) must give a non-empty string as the user key, not {key!r}.")
    return key


def _facts(n: int) -> str:
    return "1 remembered fact" if n == 1 else f"{n} remembered facts"


def _listing(facts: list[Fact], similarity: bool) -> str:
    def line(fact: Fact) -> str:
        if similarity and fact.score is not None:
            return f"{fact} (similarity {fact.score:.2f})"
        return str(fact)

    return "\n".join(line(fact) for fact in facts)


def memory(
    store: str | os.PathLike[str] | MemoryStore | None = None,
    *,
    user: UserKey,
    embedder: Embedder | str | None = None,
    metric: Metric | None = None,
    max_fact_chars: int = 1000,
    max_results: int = 20,
    max_facts: int | None = None,
    forget: bool = True,
    prefix: str = "",
) -> list[Tool[..., Any]]:
    """Long-term memory tools: ``remember(fact)``, ``recall(query, limit=5)`` and ``forget(fact_id)``.

    Args:
        store: a SQLite file (created when missing; default: the sessions file,
            :func:`agentkit.sessions.default_sessions_path`), a :class:`SQLiteMemory`, or any
            :class:`MemoryStore`.
        user: whose facts these tools reach: a string, or a function that takes the run's
            ``deps`` and returns one (``user=lambda deps: deps.user_id``), called at each tool call.
            A run never sees another user's facts.
        embedder: recall by meaning with this :class:`~agentkit.embeddings.Embedder` (or model
            string, e.g. ``"local"``) instead of full-text search. Only with a path.
        metric: the vector index's metric with an embedder (default ``"cosine"``). Only with a path.
        max_fact_chars: the longest fact ``remember`` takes.
        max_results: the most facts one ``recall`` returns (the model picks 1 to this many).
        max_facts: the most facts stored per user (default 10,000). Only with a path.
        forget: include the ``forget`` tool.
        prefix: put before each tool name (``prefix="team_"`` for a second memory).

    Raises:
        UserError: ``embedder``, ``metric`` or ``max_facts`` with a store object (give them to the
            store), or a bound that is not a positive integer.
    """
    if store is None or isinstance(store, (str, os.PathLike)):
        from agentkit.sessions import default_sessions_path

        path = default_sessions_path() if store is None else store
        limit = 10_000 if max_facts is None else max_facts
        store = SQLiteMemory(path, embedder=embedder, metric=metric or "cosine", max_facts=limit)
    elif embedder is not None or metric is not None or max_facts is not None:
        raise UserError("memory(store=...) with a store object: give embedder, metric and max_facts to the store.")
    elif not isinstance(store, MemoryStore):
        raise UserError(f"memory() needs a path or a MemoryStore (add, search, recent, delete), not {type(store).__name__}.")
    if not (isinstance(user, str) and user) and not callable(user):
        raise UserError(f"memory(user=...) must be a non-empty string or a function of the run's deps, not {user!r}.")
    _positive("max_fact_chars", max_fact_chars)
    _positive("max_results", max_results)
    facts: MemoryStore = store
    by_meaning = isinstance(store, SQLiteMemory) and store.vectors is not None

    async def remember(ctx: RunContext[Any], fact: str) -> str:
        """Remember one fact about the user for later conversations.

        Args:
            fact: One short, self-contained statement, e.g. "Is vegetarian." or "Works in Lyon as a nurse."
        """
        text = " ".join(fact.split()) if isinstance(fact, str) else ""  # one line: a listing shows a fact a line
        if not text:
            raise ModelRetry("The fact is empty. Give one short statement to remember, e.g. 'Prefers tea to coffee.'")
        if "\x00" in text:
            raise ModelRetry("The fact contains a NUL character. Give plain text.")
        if len(text) > max_fact_chars:
            raise ModelRetry(
                f"The fact is {len(text):,} characters long; the limit is {max_fact_chars:,}. "
                "Remember one short statement per call (split a long one into several)."
            )
        stored, new = await facts.add(_user_of(user, ctx), text)
        if new:
            return f"Remembered as #{stored.id}: {stored.text}"
        return f"Already remembered as #{stored.id} (on {stored.created_at:%Y-%m-%d}): {stored.text}"

    async def recall(ctx: RunContext[Any], query: str = "", limit: int = min(5, max_results)) -> str:
        """Look up facts remembered about the user in earlier conversations, best match first.

        Args:
            query: What to look for, e.g. "diet food allergies"; leave empty to list the newest facts.
            limit: How many facts to return at most.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= max_results:
            raise ModelRetry(f"limit must be a whole number from 1 to {max_results}, not {limit!r}.")
        key = _user_of(user, ctx)
        text = " ".join(query.split())[:1000] if isinstance(query, str) else ""
        if text:
            found = await facts.search(key, text, limit)
            if found:
                return f"{_facts(len(found))} matching {text!r}, best match first:\n{_listing(found, by_meaning)}"
        newest = await facts.recent(key, limit)
        if not newest:
            return "Nothing is remembered about this user yet."
        listing = _listing(newest, False)
        if not text:
            return f"{_facts(len(newest))}, newest first:\n{listing}"
        return f"No remembered fact matches {text!r}. {_facts(len(newest))}, newest first:\n{listing}"

    async def forget_fact(ctx: RunContext[Any], fact_id: int) -> str:
        """Delete one remembered fact, e.g. when the user says it is no longer true.

        Args:
            fact_id: The fact's number, as recall or remember showed it (#12 is 12).
        """
        removed = await facts.delete(_user_of(user, ctx), fact_id)
        if removed is None:
            raise ModelRetry(f"There is no remembered fact #{fact_id} for this user. Recall shows the facts and their numbers.")
        return f"Forgot #{removed.id}: {removed.text}"

    search = "by meaning" if by_meaning else "by key words (full-text search)"
    tools: list[Tool[..., Any]] = [
        Tool(
            remember,
            name=f"{prefix}remember",
            description=(
                "Store one fact about the user in long-term memory, kept across conversations: a preference, "
                "something about them or their work, or what they asked you to remember. One short, self-contained "
                f"statement per call (at most {max_fact_chars:,} characters); the same fact twice is kept once."
            ),
        ),
        Tool(
            recall,
            name=f"{prefix}recall",
            description=(
                f"Search long-term memory for facts about the user from earlier conversations, {search}, "
                f"best match first (up to {max_results} facts, each with its number). Use key words a stored "
                "fact would contain, or an empty query for the newest facts. Check it before answering "
                "anything that depends on the user's preferences."
            ),
        ),
    ]
    if forget:
        tools.append(
            Tool(
                forget_fact,
                name=f"{prefix}forget",
                description="Delete one fact from long-term memory by its number (from recall or remember), "
                "e.g. when the user says it is no longer true or asks you to forget it.",
            )
        )
    return tools
