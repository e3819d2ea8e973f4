"""A Ray worker of ``run_many(executor=RayExecutor(...))``: one actor, one event loop, many runs.

The driver sends it chunks of inputs; each chunk is a streaming generator call that yields the
results as they complete (whatever finished together goes in one yield). The chunks a worker
holds share its ``concurrency`` slots. The agent is built once per worker: from an importable
factory (``"module:function"``) or unpickled from the driver's copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import ray

from .batch import BatchItem, _line, _one
from .content import Prompt
from .errors import UserError
from .ratelimit import Limiter, limited_model
from .usage import Usage

if TYPE_CHECKING:
    from .agent import Agent

Source = tuple[str, Any]
"""How a worker gets its agent: ``("factory", "module:function")`` or ``("pickle", bytes)``."""


class Record(NamedTuple):
    """One result, as a worker sends it to the driver: the results file's line and the item's parts."""

    id: str
    line: str
    output: Any
    error: str | None
    usage: Usage


def load_factory(spec: str) -> Callable[[], Any]:
    """The function named by ``"module:function"`` (``"module:Class.method"`` too)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UserError(f"RayExecutor(factory={spec!r}): write it as 'module:function' (e.g. 'myproject.agents:make_agent').")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as e:
        raise UserError(f"RayExecutor(factory={spec!r}) cannot be imported here: {type(e).__name__}: {e}") from e
    if not callable(found):
        raise UserError(f"RayExecutor(factory={spec!r}) is not callable: {found!r:.80}.")
    return found  # type: ignore[no-any-return]


def build_agent(source: Source) -> Agent[Any, Any]:
    """The worker's agent, or a :class:`~agentkit.errors.UserError` saying which way failed and why."""
    from .agent import Agent

    kind, value = source
    if kind == "factory":
        agent = load_factory(value)()
        if not isinstance(agent, Agent):
            raise UserError(f"RayExecutor(factory={value!r}) returned {agent!r:.80}, not an Agent.")
        return agent
    try:
        loaded = pickle.loads(value)
    except Exception as e:
        raise UserError(
            f"The agent pickled on the driver cannot be unpickled on this worker ({type(e).__name__}: {e}): its code is "
            "not importable here. Ship it (ray.init(runtime_env={'working_dir': ...})) "
            "or give RayExecutor(factory='module:function')."
        ) from e
    return loaded  # type: ignore[no-any-return]


def _warm_up() -> None:
    """Import what the first request would (the HTTP transport): its imports would hold the event
    loop for a moment, and every run waiting for its slot meanwhile would then start at once."""
    for name in ("aiohttp", "httpx", "agentkit._http.client", "agentkit._http.transport", "agentkit.models.openai_chat"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


class Worker:
    """The actor (``ray.remote(Worker)``): builds the agent once, then runs the chunks it is given."""

    def __init__(self, source: Source, limiter: Limiter, concurrency: int, options: dict[str, Any]) -> None:
        self._source = source
        self._limiter = limiter
        self._concurrency = concurrency
        self._options = options
        self._run: Callable[[Prompt], Awaitable[Any]] | None = None
        self._slots: asyncio.Semaphore | None = None

    async def ready(self) -> dict[str, Any]:
        """Build and connect the agent (once); where this worker is: its node and process."""
        if self._run is None:
            _warm_up()
            agent = build_agent(self._source)
            await agent.connect()
            worker = agent.with_model(limited_model(agent.model, self._limiter))
            options = self._options

            async def run(prompt: Prompt) -> Any:
                return await worker.run(prompt, **options)

            self._run = run
            self._slots = asyncio.Semaphore(self._concurrency)
        return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}

    async def run(self, chunk: list[tuple[str, Prompt]]) -> AsyncIterator[list[Record]]:
        """Run the chunk's inputs; yield their records as they complete. An error that stops the
        batch (an authentication failure) is raised, and the driver raises it."""
        await self.ready()
        assert self._run is not None and self._slots is not None
        run, slots = self._run, self._slots
        done: asyncio.Queue[BatchItem | None] = asyncio.Queue()
        stop: list[BaseException] = []

        async def one(key: str, prompt: Prompt) -> None:
            async with slots:
                item = None if stop else await _one(run, key, prompt, stop)
            done.put_nowait(item)

        tasks = [asyncio.ensure_future(one(key, prompt)) for key, prompt in chunk]
        try:
            left = len(tasks)
            while left:
                finished = [await done.get()]
                while not done.empty():
                    finished.append(done.get_nowait())
                left -= len(finished)
                if stop:
                    raise stop[0]
                yield [Record(i.id, _line(i), i.output, i.error, i.usage) for i in finished if i is not None]
            flush = getattr(self._limiter, "flush", None)
            if flush is not None:
                await flush()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
