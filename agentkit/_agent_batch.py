"""``Agent.run_many`` and ``run_many_sync``: one agent over many inputs (``agentkit.batch`` does
the batching). A base class of :class:`~agentkit.Agent`, so that ``agent.py`` keeps to
configuration and single runs."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, Union, cast, runtime_checkable

from typing_extensions import TypeVar

from ._agent_run import begin
from ._batch_cost import BatchEstimate, CostGuard, pick_sample, project
from ._sync import run_sync
from .batch import BatchInput, BatchItem, RateLimiter, _already_done, _normalize, current_input_id, limited_model
from .batch import run_many as _run_many
from .content import Prompt
from .errors import UserError
from .hooks import Hooks
from .ratelimit import Limiter
from .settings import ModelSettings
from .usage import UsageLimits

if TYPE_CHECKING:
    from ._run.state import RunResult
    from .agent import Agent
    from .sessions import Session

__all__ = ["BatchRuns", "SessionFactory", "EstimateCallback", "Executor"]

DepsT = TypeVar("DepsT", default=Any)
OutputT = TypeVar("OutputT", default=str)

SessionFactory = Callable[[str], "Session"]
"""``session(input_id) -> Session``: the session of each batch input (e.g. ``lambda key: SQLiteSession(path, key)``)."""

EstimateCallback = Callable[[BatchEstimate], Union[bool, Awaitable[bool]]]
"""``estimate(projection) -> bool`` (or an ``async def``): given the sample's :class:`~agentkit.batch.BatchEstimate`,
whether to run the rest of the batch."""


@runtime_checkable
class Executor(Protocol):
    """Where ``run_many(executor=...)`` runs a batch instead of the caller's event loop
    (:class:`agentkit.ray.RayExecutor`): given the agent, the inputs and the batch's options."""

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
        """Run every input (those already in ``results`` skipped); one item per input, in input order."""
        ...


class BatchRuns(Generic[DepsT, OutputT]):
    """The batch methods of :class:`~agentkit.Agent`."""

    async def run_many(
        self,
        inputs: Iterable[BatchInput],
        *,
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        limiter: Limiter | None = None,
        results: str | Path | None = None,
        progress: bool | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        hooks: Sequence[Hooks] = (),
        session: SessionFactory | None = None,
        max_cost: float | None = None,
        estimate: EstimateCallback | None = None,
        executor: Executor | None = None,
    ) -> list[BatchItem]:
        """Run the agent on many inputs with bounded concurrency and client-side rate limits.

        Args:
            inputs: prompts (strings, or lists of strings and content parts), or
                ``{"prompt": ..., "id": ...}`` mappings.
            concurrency: runs in flight at once.
            requests_per_minute: model requests per minute across the batch (spaced evenly).
            tokens_per_minute: tokens per minute across the batch (charged after each response).
            limiter: a :class:`~agentkit.ratelimit.Limiter` to pace the batch with instead of
                ``requests_per_minute`` and ``tokens_per_minute``: a
                :class:`~agentkit.ratelimit.RedisRateLimiter` shares one budget with every
                other process using it (other batches, web workers). Not closed here.
            results: a JSONL file; each result is appended as it completes, and inputs already
                there (succeeded) are skipped — start again with the same file after a crash.
            progress: a progress bar (rich) — default: when stderr is a terminal.
            deps: for every run, as in :meth:`run`.
            settings: for every run, as in :meth:`run`.
            usage_limits: for every run, as in :meth:`run`.
            hooks: for every run, as in :meth:`run`.
            session: ``session(input_id) -> Session``: each input's run continues and stores
                that session (e.g. one conversation per user id).
            max_cost: USD this call may spend across all its runs: a request that would take
                the batch past it (its cost estimated as for ``UsageLimits.max_cost``, the
                requests in flight counted) is not sent, and the batch stops with
                :class:`~agentkit.errors.BatchCostExceeded` (the runs in flight are cancelled;
                the results done so far are in the file).
            estimate: ``estimate(projection) -> bool``: first run a random sample of the inputs
                not yet done (2 %, at least 3, at most 20), then call it with the
                :class:`~agentkit.batch.BatchEstimate` of the cost and time of the whole
                input; the rest runs only if it returns True. Needs ``results``: the sample's
                results are written there, so they are not run (and paid) twice.
            executor: where the runs happen instead of this event loop:
                :class:`agentkit.ray.RayExecutor` shards the inputs across a Ray cluster
                (``results`` is then a directory of sharded JSONL files and a manifest; its
                workers' ``concurrency_per_worker`` replaces ``concurrency``). Not with
                ``session``, ``max_cost`` or ``estimate``.

        Returns:
            One :class:`~agentkit.batch.BatchItem` per input, in input order (only the sample's
            when ``estimate`` said no). A failed input carries ``error`` and the batch goes on;
            429s never fail an input (the batch slows down instead); an authentication failure
            (401, no key) stops the batch and raises. :func:`agentkit.batch.total_usage` sums
            the items' usage and cost.
        """
        agent = cast("Agent[DepsT, OutputT]", self)
        if estimate is not None and results is None:
            raise UserError("run_many(estimate=...) needs results=...: the sample's results go there (not paid twice).")
        if max_cost is not None and (isinstance(max_cost, bool) or not isinstance(max_cost, (int, float)) or max_cost < 0):
            raise UserError(f"max_cost must be a non-negative number of USD, not {max_cost!r}.")
        if executor is not None:
            begin(agent, "", None, deps, settings, usage_limits, None, None, hooks)  # your mistakes raise here, once
            if session is not None or max_cost is not None or estimate is not None:
                raise UserError(f"run_many(executor={executor!r}) does not take session=, max_cost= or estimate= (yet).")
            run_options = {"deps": deps, "settings": settings, "usage_limits": usage_limits, "hooks": hooks}
            return await executor.run_batch(
                agent,
                inputs,
                limiter=limiter,
                requests_per_minute=requests_per_minute,
                tokens_per_minute=tokens_per_minute,
                results=results,
                progress=progress,
                options=run_options,
            )
        limiter = _the_limiter(limiter, requests_per_minute, tokens_per_minute)
        await agent.connect()  # on the agent itself, so aclose() closes the toolsets
        begin(agent, "", None, deps, settings, usage_limits, None, None, hooks)  # your mistakes raise here, once
        model = limited_model(agent.model, limiter)
        worker = agent.with_model(CostGuard(model, float(max_cost)) if max_cost is not None else model)
        seconds: list[float] = []

        async def run_one(prompt: Prompt) -> RunResult[Any]:
            store = session(current_input_id()) if session is not None else None
            started = time.perf_counter()
            try:
                return await worker.run(
                    prompt, deps=deps, settings=settings, usage_limits=usage_limits, hooks=hooks, session=store
                )
            finally:
                seconds.append(time.perf_counter() - started)

        options: dict[str, Any] = {"limiter": limiter, "concurrency": concurrency, "results": results, "progress": progress}
        if estimate is not None:
            inputs = list(inputs)  # read twice: for the sample, then for the rest
            projection = await _estimate(run_one, inputs, seconds, options)
            if projection.inputs:
                answer = estimate(projection)
                go_on = await answer if inspect.isawaitable(answer) else answer
                if not go_on:
                    return projection.sample
        return await _run_many(run_one, inputs, **options)

    def run_many_sync(
        self,
        inputs: Iterable[BatchInput],
        *,
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        limiter: Limiter | None = None,
        results: str | Path | None = None,
        progress: bool | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        hooks: Sequence[Hooks] = (),
        session: SessionFactory | None = None,
        max_cost: float | None = None,
        estimate: EstimateCallback | None = None,
        executor: Executor | None = None,
    ) -> list[BatchItem]:
        """:meth:`run_many` for synchronous code (a ``limiter``'s connections of this call's event loop are closed at its end)."""
        return run_sync(
            _closing(
                self.run_many(
                    inputs,
                    concurrency=concurrency,
                    requests_per_minute=requests_per_minute,
                    tokens_per_minute=tokens_per_minute,
                    limiter=limiter,
                    results=results,
                    progress=progress,
                    deps=deps,
                    settings=settings,
                    usage_limits=usage_limits,
                    hooks=hooks,
                    session=session,
                    max_cost=max_cost,
                    estimate=estimate,
                    executor=executor,
                ),
                limiter,
            )
        )


def _the_limiter(limiter: Limiter | None, requests_per_minute: float | None, tokens_per_minute: float | None) -> Limiter:
    """The batch's limiter: the one given (which holds the limits), else an in-process one."""
    if limiter is None:
        return RateLimiter(requests_per_minute, tokens_per_minute)
    if requests_per_minute is not None or tokens_per_minute is not None:
        raise UserError("run_many(limiter=...) holds the limits: give requests_per_minute and tokens_per_minute to the limiter.")
    if not isinstance(limiter, Limiter):
        raise UserError(
            f"run_many(limiter=...) takes a Limiter (acquire, charge, rate_limited_for: a RateLimiter, a RedisRateLimiter), "
            f"not {limiter!r:.80}."
        )
    return limiter


async def _closing(batch: Awaitable[list[BatchItem]], limiter: Limiter | None) -> list[BatchItem]:
    """``await batch``, then close the limiter's connections of this event loop (``run_many_sync``'s loop ends with it)."""
    try:
        return await batch
    finally:
        close = getattr(limiter, "aclose", None)
        if close is not None:
            await close()


async def _estimate(
    run_one: Callable[[Prompt], Awaitable[RunResult[Any]]],
    inputs: Iterable[BatchInput],
    seconds: list[float],
    options: dict[str, Any],
) -> BatchEstimate:
    """Run a random sample of the inputs not yet in the results file; project the rest from it."""
    items = _normalize(inputs)
    done = _already_done(Path(options["results"]), items)
    todo = [(key, prompt) for key, prompt in items if key not in done]
    chosen = set(pick_sample([key for key, _ in todo])) if todo else set()
    sample = [{"id": key, "prompt": prompt} for key, prompt in todo if key in chosen]
    ran = await _run_many(run_one, sample, **options) if sample else []
    return project(ran, seconds, len(todo), options["concurrency"])
