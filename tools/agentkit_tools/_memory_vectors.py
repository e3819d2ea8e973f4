"""The embedding search of :class:`~agentkit_tools.memory.SQLiteMemory`: one VectorIndex per user, filled from the file.

The vectors live in the file (``agentkit_memory_vectors``, one row per fact and embedding model);
the indexes are their copy in memory, read on a user's first search and extended by every later
one with the facts numbered above the last one read (ids only grow). A fact stored without a
vector for this model (remembered by a process without an embedder, or with another model) is
embedded when it is read, and its vector stored. A fact deleted elsewhere stays in the index
until it is found missing: each hit is checked against the file before it is returned.

The indexes are touched only by jobs on the store's thread; embedding runs on the event loop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentkit.embeddings import Embedder, Metric, VectorIndex

from . import _memory_sql as sql
from ._memory_sql import Fact

if TYPE_CHECKING:
    import sqlite3

    from numpy.typing import NDArray

Run = Callable[..., Awaitable[Any]]
"""``run(job, *args)``: ``job(connection, *args)`` on the store's thread, awaited."""

BATCH = 256  # facts read (and embedded when they have no vector) per round


def model_id(embedder: Embedder) -> str:
    """Which vectors these are: the model, its options and where it runs."""
    return f"{embedder!r} at {embedder.base_url or 'local'}"


@dataclass
class _UserVectors:
    index: VectorIndex
    ids: list[int] = field(default_factory=list)
    loaded: int = 0  # the highest fact id read into the index
    dead: set[int] = field(default_factory=set)  # positions of facts found deleted


class Vectors:
    """The users' vector indexes, most recently searched last; at most ``max_users`` are kept in memory."""

    def __init__(self, embedder: Embedder, metric: Metric, max_users: int) -> None:
        VectorIndex(metric)  # checks the metric, and that numpy is there, now rather than at the first search
        self.embedder = embedder
        self.metric: Metric = metric
        self.model = model_id(embedder)
        self.max_users = max_users
        self._users: OrderedDict[str, _UserVectors] = OrderedDict()

    async def fact_vector(self, text: str) -> tuple[str, str, bytes]:
        """``(model, dtype, bytes)`` of ``text``'s vector, as stored."""
        vector = (await self.embedder.embed([text], kind="passage")).vectors[0]
        return (self.model, *_encode(vector))

    async def query_vector(self, text: str) -> NDArray[Any]:
        """The vector to search with."""
        vectors: NDArray[Any] = (await self.embedder.embed([text], kind="query")).vectors
        row: NDArray[Any] = vectors[0]
        return row

    async def refresh(self, run: Run, user: str) -> None:
        """Read the user's facts the index does not hold yet, embedding those stored without a vector."""
        while True:
            rows: list[tuple[int, str, str | None, bytes | None]] = await run(self._pending, user)
            if not rows:
                return
            missing = [(fact_id, text) for fact_id, text, _, blob in rows if blob is None]
            made: dict[int, tuple[str, bytes]] = {}
            if missing:
                result = await self.embedder.embed([text for _, text in missing], kind="passage")
                made = {fact_id: _encode(v) for (fact_id, _), v in zip(missing, result.vectors, strict=True)}
                await run(sql.store_vectors, self.model, [(fact_id, *made[fact_id]) for fact_id in made])
            complete = [
                (fact_id, dtype, blob) if blob is not None and dtype is not None else (fact_id, *made[fact_id])
                for fact_id, _, dtype, blob in rows
            ]
            await run(self._extend, user, complete)
            if len(rows) < BATCH:
                return

    # -- jobs, on the store's thread --------------------------------------------------------

    def _state(self, user: str) -> _UserVectors:
        state = self._users.get(user)
        if state is None:
            state = self._users[user] = _UserVectors(VectorIndex(self.metric))
            while len(self._users) > self.max_users:
                self._users.popitem(last=False)
        self._users.move_to_end(user)
        return state

    def _pending(self, connection: sqlite3.Connection, user: str) -> list[tuple[int, str, str | None, bytes | None]]:
        return sql.pending(connection, user, self.model, self._state(user).loaded, BATCH)

    def _extend(self, connection: sqlite3.Connection, user: str, rows: list[tuple[int, str, bytes]]) -> None:
        import numpy as np

        state = self._state(user)
        rows = [row for row in rows if row[0] > state.loaded]  # another search may have read them meanwhile
        if not rows:
            return
        vectors = np.stack([np.frombuffer(blob, dtype=np.dtype(dtype)) for _, dtype, blob in rows])
        state.index.add(vectors, [{"id": fact_id} for fact_id, _, _ in rows])
        state.ids.extend(fact_id for fact_id, _, _ in rows)
        state.loaded = rows[-1][0]

    def search(self, connection: sqlite3.Connection, user: str, query: NDArray[Any], limit: int) -> list[Fact]:
        """The user's ``limit`` facts closest to ``query``, best first, each checked to still be in the file."""
        import numpy as np

        state = self._state(user)
        if not len(state.index):
            return []
        scores = state.index.scores(query)
        order = [int(p) for p in np.argsort(-scores, kind="stable") if int(p) not in state.dead]
        found: list[Fact] = []
        start = 0
        while len(found) < limit and start < len(order):
            take = order[start : start + 2 * (limit - len(found)) + 8]
            start += len(take)
            alive = sql.by_ids(connection, user, [state.ids[p] for p in take])
            for position in take:
                fact = alive.get(state.ids[position])
                if fact is None:
                    state.dead.add(position)
                elif len(found) < limit:
                    found.append(Fact(fact.id, fact.text, fact.created_at, round(float(scores[position]), 4)))
        return found


def _encode(vector: NDArray[Any]) -> tuple[str, bytes]:
    import numpy as np

    row = np.ascontiguousarray(vector)
    return str(row.dtype), row.tobytes()
