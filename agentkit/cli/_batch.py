"""``agentkit batch``: many inputs from a JSONL file through one agent, resumable, with a progress bar."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from .._batch_cost import BatchEstimate
from ..agent import Agent
from ..batch import BatchInput, BatchItem, total_usage
from ..errors import (
    AllModelsFailed,
    AuthenticationError,
    BatchCostExceeded,
    MissingAPIKeyError,
    RateLimiterUnavailable,
    redact_secrets,
)
from ._common import CLIError, describe, one_line, stderr_console

__all__ = ["read_inputs", "run_batch"]

MAX_FAILURES_SHOWN = 10


def read_inputs(path_text: str, out: str) -> list[BatchInput]:
    """The inputs of a JSONL file: per line a JSON string, or an object with a ``prompt`` string (and an ``id``)."""
    path = Path(path_text)
    if not path.is_file():
        raise CLIError(f"No such file: {path_text}")
    out_path = Path(out)
    if out_path.exists() and out_path.resolve() == path.resolve():
        raise CLIError("--out must not be the inputs file.")
    if not out_path.parent.is_dir():
        raise CLIError(f"--out: no such directory: {out_path.parent}")
    items: list[BatchInput] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as e:
                raise CLIError(f"{path_text}:{number}: not valid JSON ({e})") from None
            if not (isinstance(value, str) or (isinstance(value, dict) and isinstance(value.get("prompt"), str))):
                raise CLIError(f'{path_text}:{number}: expected a JSON string or an object with a "prompt" string')
            items.append(value)
    if not items:
        raise CLIError(f"{path_text} has no inputs.")
    return items


async def _run(agent: Agent[Any, Any], items: list[BatchInput], out: Path, progress: bool, **limits: Any) -> list[BatchItem]:
    try:
        return await agent.run_many(items, results=out, progress=progress, **limits)
    finally:
        await agent.aclose()
        if limits.get("limiter") is not None:
            await limits["limiter"].aclose()


def _limits(concurrency: int, rpm: float | None, tpm: float | None, shared: tuple[str, str] | None) -> dict[str, Any]:
    """run_many's limits: --rpm/--tpm for this process, or shared through Redis with ``shared`` = (URL, budget name)."""
    if shared is None:
        return {"concurrency": concurrency, "requests_per_minute": rpm, "tokens_per_minute": tpm}
    if rpm is None and tpm is None:
        raise CLIError("--limiter shares --rpm and --tpm with other processes: give at least one of them.")
    from ..ratelimit import RedisRateLimiter

    limiter = RedisRateLimiter(shared[0], requests_per_minute=rpm, tokens_per_minute=tpm, name=shared[1])
    return {"concurrency": concurrency, "limiter": limiter}


def _ask(projection: BatchEstimate) -> bool:
    """``--estimate``: print the projection, ask whether to run the rest."""
    console = stderr_console()
    console.print(projection.summary(), soft_wrap=True, highlight=False)
    if projection.remaining and click.confirm(f"Run the remaining {projection.remaining} inputs?", default=False):
        return True
    console.print("Stopped after the sample: its results are in the --out file; run again to go on.", highlight=False)
    return False


def run_batch(
    agent: Agent[Any, Any],
    items: list[BatchInput],
    out: str,
    concurrency: int,
    rpm: float | None,
    tpm: float | None,
    console: Console,
    max_cost: float | None = None,
    estimate: bool = False,
    shared: tuple[str, str] | None = None,
) -> int:
    """Run the batch, print failures and a summary line (done / skipped / failed, cost); return how many failed.

    ``estimate``: run a random sample first, print the projected cost and time of the whole
    input, and ask before running the rest. ``max_cost``: USD the batch may spend. ``shared``:
    (a Redis URL, a budget name) through which ``rpm`` and ``tpm`` hold across processes.
    """
    started = time.perf_counter()
    out_path = Path(out)
    progress = stderr_console().is_terminal  # the bar is run_many's own (done/total, failures, 429s)
    limits = _limits(concurrency, rpm, tpm, shared)
    if max_cost is not None:
        limits["max_cost"] = max_cost
    if estimate:
        limits["estimate"] = _ask
    try:
        results = asyncio.run(_run(agent, items, out_path, progress, **limits))
    except (
        AuthenticationError,
        MissingAPIKeyError,
        AllModelsFailed,
        BatchCostExceeded,
        RateLimiterUnavailable,
    ) as e:  # every input would fail the same way
        message, code = describe(e)
        raise CLIError(
            f"the batch stopped: {message} (the results done so far are in {out}; "
            "run the same command again to go on from there)",
            exit_code=code,
        ) from e
    skipped = sum(item.skipped for item in results)
    failed = [item for item in results if not item.ok]
    done = len(results) - skipped - len(failed)
    for item in failed[:MAX_FAILURES_SHOWN]:
        line = Text("FAILED ", style="bold red")
        line.append(f"{item.id}: ", style="bold")
        line.append(one_line(redact_secrets(item.error or "")))
        console.print(line, soft_wrap=True)
    if len(failed) > MAX_FAILURES_SHOWN:
        console.print(Text(f"... and {len(failed) - MAX_FAILURES_SHOWN} more failures (see {out})", style="red"))
    seconds = time.perf_counter() - started
    cost = total_usage(item for item in results if not item.skipped).cost
    spent = f", ${cost:.4f}" if cost is not None else ""
    text = f"{done} done, {skipped} skipped, {len(failed)} failed{spent} in {seconds:.2f}s → {out}"
    style = "red" if failed else "green"
    console.rule(Text(text, style=style), style=style)
    return len(failed)
