"""``RayExecutor``: the driver of ``run_many`` on a Ray cluster (see :mod:`agentkit.ray`)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import ray
from ray import cloudpickle
from ray.exceptions import RayError, RayTaskError

from ._http import pickling
from ._ray_limiter import RayRateLimiter
from ._ray_worker import Record, Source, Worker, load_factory
from ._results_dir import ResultsDir
from .batch import BatchInput, BatchItem, _normalize, _Progress
from .content import Prompt
from .errors import UserError
from .ratelimit import Limiter

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["RayExecutor"]

pickling.register()  # an agent's HTTP clients pickle as their settings: the driver's agent can go to the workers

IN_FLIGHT = 2
"""Chunk calls a worker holds at once: the next chunk is there when one ends."""
TICK = 1.0
"""Seconds between two updates of the manifest and of the progress bar's 429 count."""


class RayExecutor:
    """Runs ``agent.run_many(inputs, executor=RayExecutor(...))`` across a Ray cluster.

    Args:
        address: the cluster (``"ray://head:10001"``, ``"127.0.0.1:6379"``, ``"auto"``); None: as
            ``ray.init()`` decides (``RAY_ADDRESS``, else a cluster started on this machine, else a
            new local one). Not used when Ray is already initialised in this process.
        workers: worker actors (spread over the nodes); each runs many runs at once on its own event loop.
        concurrency_per_worker: runs in flight on each worker.
        factory: ``"module:function"`` that builds the agent on each worker (importable there).
            None: the driver's agent is pickled and sent (its tools' code must be importable on
            the workers, or defined in ``__main__``).
        num_cpus: CPUs each worker reserves (Ray places the workers by them).
        chunk_size: inputs per chunk sent to a worker (default: ``concurrency_per_worker``).
        max_restarts: workers replaced after one died, over the whole batch (their unfinished
            inputs go back in the queue either way).
        init: more keyword arguments for ``ray.init`` (``runtime_env=...``).
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int = 2,
        concurrency_per_worker: int = 16,
        *,
        factory: str | None = None,
        num_cpus: float = 1,
        chunk_size: int | None = None,
        max_restarts: int = 3,
        init: dict[str, Any] | None = None,
    ) -> None:
        sizes = (("workers", workers), ("concurrency_per_worker", concurrency_per_worker), ("chunk_size", chunk_size))
        for label, value in sizes:
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise UserError(f"RayExecutor({label}=...) must be a positive int, not {value!r}.")
        if factory is not None:
            load_factory(factory)  # a typo fails here, not on every worker
        self.address = address
        self.workers = workers
        self.concurrency_per_worker = concurrency_per_worker
        self.factory = factory
        self.num_cpus = num_cpus
        self.chunk_size = chunk_size or concurrency_per_worker
        self.max_restarts = max_restarts
        self.init = dict(init or {})
        self.placed: list[dict[str, Any]] = []
        """Where the last batch's workers ran: ``{"index", "node", "pid"}`` per worker started (replacements too)."""

    def __repr__(self) -> str:
        per_worker = self.concurrency_per_worker
        return f"RayExecutor(address={self.address!r}, workers={self.workers}, concurrency_per_worker={per_worker})"

    def connect(self) -> None:
        """``ray.init`` unless this process is connected already."""
        if not ray.is_initialized():
            self.init.setdefault("logging_level", logging.WARNING)
            ray.init(address=self.address, **self.init)

    def source(self, agent: Agent[Any, Any]) -> Source:
        """How the workers get the agent: the factory, else the agent pickled (or an error saying neither works)."""
        if self.factory is not None:
            return ("factory", self.factory)
        try:
            return ("pickle", cloudpickle.dumps(agent))  # type: ignore[no-untyped-call]
        except Exception as e:
            raise UserError(
                f"run_many on Ray: the agent cannot be pickled ({type(e).__name__}: {e}), and no factory was given. "
                "Give RayExecutor(factory='module:function'): a function importable on every worker that builds the agent."
            ) from e

    async def run_batch(
        self,
        agent: Agent[Any, Any],
        inputs: Iterable[BatchInput],
        *,
        limiter: Limiter | None,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        results: str | Path | None,
        progress: bool | None,
        options: dict[str, Any],
    ) -> list[BatchItem]:
        """What ``run_many`` calls: run every input not already in ``results`` on the cluster."""
        items = _normalize(inputs)
        store = ResultsDir(results) if results is not None else None
        source = self.source(agent)
        self.connect()
        budget, owned = _budget(limiter, requests_per_minute, tokens_per_minute)
        outcome = store.done(items) if store is not None else {}
        todo = [(key, prompt) for key, prompt in items if key not in outcome]
        cluster = _Cluster()
        bar = _Progress(len(items), len(outcome), progress, cast(Limiter, cluster))
        driver = _Driver(self, (source, budget, options), dict(items), outcome, store, bar)
        try:
            await budget.status()  # the budget's actor is up before the first worker asks it
            await driver.run(todo)
            await driver.poll()
        finally:
            bar.close()
            if store is not None:
                store.manifest(**driver.summary(len(items)), finished=len(outcome) == len(items))
                store.close()
            if owned:
                budget.close()
        return [outcome[key] for key, _ in items]


def _budget(
    limiter: Limiter | None, requests_per_minute: float | None, tokens_per_minute: float | None
) -> tuple[RayRateLimiter, bool]:
    """The cluster's limiter (and whether this batch made it, so ends it)."""
    if limiter is None:
        return RayRateLimiter(requests_per_minute, tokens_per_minute), True
    if requests_per_minute is not None or tokens_per_minute is not None:
        raise UserError("run_many(limiter=...) holds the limits: give requests_per_minute and tokens_per_minute to the limiter.")
    if not isinstance(limiter, RayRateLimiter):
        raise UserError(
            "run_many(executor=RayExecutor(...)) shares its rate limit through a RayRateLimiter (agentkit.ray), "
            f"not {limiter!r:.80}."
        )
    return limiter, False


class _Driver:
    """The batch on the driver: workers started (and replaced), chunks handed out, results recorded."""

    def __init__(
        self,
        executor: RayExecutor,
        worker_args: tuple[Source, RayRateLimiter, dict[str, Any]],
        prompts: dict[str, Prompt],
        outcome: dict[str, BatchItem],
        store: ResultsDir | None,
        bar: _Progress,
    ) -> None:
        self.executor = executor
        source, self.budget, options = worker_args
        self.worker_args = (source, self.budget, executor.concurrency_per_worker, options)
        self.prompts = prompts
        self.outcome = outcome
        self.store = store
        self.bar = bar
        self.cluster = cast(_Cluster, bar._limiter)
        self.queue: collections.deque[tuple[str, Prompt]] = collections.deque()
        self.live: dict[int, Any] = {}
        self.busy: collections.Counter[int] = collections.Counter()
        self.tasks: dict[asyncio.Future[Any], tuple[str, int, Any]] = {}
        self.handles: list[Any] = []
        self.restarts = 0
        self.failed = 0
        executor.placed = []

    def summary(self, total: int) -> dict[str, Any]:
        done = sum(item.ok for item in self.outcome.values())
        return {
            "inputs": total,
            "succeeded": done,
            "failed": self.failed,
            "remaining": total - done - self.failed,
            "workers": self.executor.workers,
            "concurrency_per_worker": self.executor.concurrency_per_worker,
            "worker_restarts": self.restarts,
            "rate_limited": self.cluster.rate_limited,
        }

    async def run(self, todo: list[tuple[str, Prompt]]) -> None:
        self.queue.extend(todo)
        if not todo:
            return
        for index in range(self.executor.workers):
            self._start(index)
        ticker = asyncio.ensure_future(self._tick(len(self.prompts)))
        try:
            while self.queue or any(kind == "chunk" for kind, _, _ in self.tasks.values()):
                self._dispatch()
                if not self.tasks:
                    died = f"every worker died (after {self.restarts} restarts)"
                    raise UserError(f"run_many on Ray: {died}; the results so far are kept.")
                done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self._settle(task, *self.tasks.pop(task))
        finally:
            ticker.cancel()
            for task in [*self.tasks, ticker]:
                task.cancel()
            await asyncio.gather(*self.tasks, ticker, return_exceptions=True)
            for handle in self.handles:
                with contextlib.suppress(Exception):
                    ray.kill(handle)

    def _start(self, index: int) -> None:
        remote: Any = ray.remote(Worker).options(
            num_cpus=self.executor.num_cpus, scheduling_strategy="SPREAD", max_concurrency=IN_FLIGHT + 8
        )
        handle: Any = remote.remote(*self.worker_args)
        self.handles.append(handle)
        self.tasks[asyncio.ensure_future(_await(handle.ready.remote()))] = ("start", index, handle)

    def _dispatch(self) -> None:
        size = self.executor.chunk_size
        for index, handle in self.live.items():
            while self.queue and self.busy[index] < IN_FLIGHT:
                chunk = [self.queue.popleft() for _ in range(min(size, len(self.queue)))]
                self.busy[index] += 1
                self.tasks[asyncio.ensure_future(self._chunk(index, handle, chunk))] = ("chunk", index, handle)

    def _settle(self, task: asyncio.Future[Any], kind: str, index: int, handle: Any) -> None:
        error = task.exception()
        if kind == "chunk":
            self.busy[index] -= 1
        if error is None:
            if kind == "start":
                self.live[index] = handle
                self.executor.placed.append({"index": index, **task.result()})
            return
        if isinstance(error, RayTaskError):  # the agent's own failure (not a worker's death): raised as it is
            raise error.cause if isinstance(error.cause, Exception) else error
        if not isinstance(error, RayError):
            raise error
        if self.live.get(index) is handle or kind == "start":  # the worker died: once per death, not per chunk
            self.live.pop(index, None)
            if self.restarts < self.executor.max_restarts:
                self.restarts += 1
                self._start(index)

    async def _chunk(self, index: int, handle: Any, chunk: list[tuple[str, Prompt]]) -> None:
        """One chunk on one worker; whatever did not come back goes to the front of the queue."""
        left = dict(chunk)
        try:
            async for ref in handle.run.remote(chunk):
                records: list[Record] = await ref
                for record in records:
                    left.pop(record.id, None)
                self._record(index, records)
        finally:
            self.queue.extendleft(reversed(list(left.items())))

    def _record(self, index: int, records: list[Record]) -> None:
        if self.store is not None:
            self.store.write(index, [record.line for record in records])
        for record in records:
            item = BatchItem(record.id, self.prompts[record.id], record.output, record.error, record.usage)
            self.failed += not item.ok
            self.outcome[record.id] = item
            self.bar.advance(item)

    async def _tick(self, total: int) -> None:
        while True:
            await self.poll()
            if self.store is not None:
                self.store.manifest(**self.summary(total), finished=False)
            await asyncio.sleep(TICK)

    async def poll(self) -> None:
        """The cluster's 429 count, from the budget's actor (for the progress bar and the manifest)."""
        with contextlib.suppress(RayError):
            status = await asyncio.wait_for(self.budget.status(), 5)
            self.cluster.rate_limited = status["rate_limited"]


class _Cluster:
    """What the progress bar shows of the cluster's limiter: its 429s, polled from the actor."""

    rate_limited = 0


async def _await(ref: Any) -> Any:
    return await ref
