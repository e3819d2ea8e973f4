"""``Agent.run_many`` and ``run_many_sync``: one agent over many inputs (``agentkit.batch`` does
the batching). A base class of :class:`~agentkit.Agent`, so that ``agent.py`` keeps to
configuration and single runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, cast

from typing_extensions import TypeVar

from ._agent_run import begin
from ._sync import run_sync
from .batch import BatchInput, BatchItem, RateLimiter, current_input_id, limited_model
from .batch import run_many as _run_many
from .hooks import Hooks
from .settings import ModelSettings
from .usage import UsageLimits

if TYPE_CHECKING:
    from ._run.state import RunResult
    from .agent import Agent
    from .sessions import Session

__all__ = ["BatchRuns", "SessionFactory"]

DepsT = TypeVar("DepsT", default=Any)
OutputT = TypeVar("OutputT", default=str)

SessionFactory = Callable[[str], "Session"]
"""``session(input_id) -> Session``: the session of each batch input (e.g. ``lambda key: SQLiteSession(path, key)``)."""


class BatchRuns(Generic[DepsT, OutputT]):
    """The batch methods of :class:`~agentkit.Agent`."""

    async def run_many(
        self,
        inputs: Iterable[BatchInput],
        *,
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        results: str | Path | None = None,
        progress: bool | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        hooks: Sequence[Hooks] = (),
        session: SessionFactory | None = None,
    ) -> list[BatchItem]:
        """Run the agent on many inputs with bounded concurrency and client-side rate limits.

        Args:
            inputs: prompts, or ``{"prompt": ..., "id": ...}`` mappings.
            concurrency: runs in flight at once.
            requests_per_minute: model requests per minute across the batch (spaced evenly).
            tokens_per_minute: tokens per minute across the batch (charged after each response).
            results: a JSONL file; each result is appended as it completes, and inputs already
                there (succeeded) are skipped — start again with the same file after a crash.
            progress: a progress bar (rich) — default: when stderr is a terminal.
            deps: for every run, as in :meth:`run`.
            settings: for every run, as in :meth:`run`.
            usage_limits: for every run, as in :meth:`run`.
            hooks: for every run, as in :meth:`run`.
            session: ``session(input_id) -> Session``: each input's run continues and stores
                that session (e.g. one conversation per user id).

        Returns:
            One :class:`~agentkit.batch.BatchItem` per input, in input order. A failed input
            carries ``error`` and the batch goes on; 429s never fail an input (the batch slows
            down instead); an authentication failure (401, no key) stops the batch and raises.
        """
        agent = cast("Agent[DepsT, OutputT]", self)
        limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        await agent.connect()  # on the agent itself, so aclose() closes the toolsets
        begin(agent, "", None, deps, settings, usage_limits, None, None, hooks)  # your mistakes raise here, once
        worker = agent.with_model(limited_model(agent.model, limiter))

        async def run_one(prompt: str) -> RunResult[Any]:
            store = session(current_input_id()) if session is not None else None
            return await worker.run(prompt, deps=deps, settings=settings, usage_limits=usage_limits, hooks=hooks, session=store)

        return await _run_many(run_one, inputs, limiter=limiter, concurrency=concurrency, results=results, progress=progress)

    def run_many_sync(
        self,
        inputs: Iterable[BatchInput],
        *,
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        results: str | Path | None = None,
        progress: bool | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        hooks: Sequence[Hooks] = (),
        session: SessionFactory | None = None,
    ) -> list[BatchItem]:
        """:meth:`run_many` for synchronous code."""
        return run_sync(
            self.run_many(
                inputs,
                concurrency=concurrency,
                requests_per_minute=requests_per_minute,
                tokens_per_minute=tokens_per_minute,
                results=results,
                progress=progress,
                deps=deps,
                settings=settings,
                usage_limits=usage_limits,
                hooks=hooks,
                session=session,
            )
        )
