"""``agentkit batch``: many inputs from a JSONL file through one agent, resumable, with a progress bar."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from ..agent import Agent
from ..batch import BatchInput, BatchItem
from ..errors import AllModelsFailed, AuthenticationError, MissingAPIKeyError, redact_secrets
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


def run_batch(
    agent: Agent[Any, Any],
    items: list[BatchInput],
    out: str,
    concurrency: int,
    rpm: float | None,
    tpm: float | None,
    console: Console,
) -> int:
    """Run the batch, print failures and a summary line (done / skipped / failed); return how many failed."""
    started = time.perf_counter()
    out_path = Path(out)
    progress = stderr_console().is_terminal  # the bar is run_many's own (done/total, failures, 429s)
    try:
        results = asyncio.run(
            _run(agent, items, out_path, progress, concurrency=concurrency, requests_per_minute=rpm, tokens_per_minute=tpm)
        )
    except (AuthenticationError, MissingAPIKeyError, AllModelsFailed) as e:  # every input would fail the same way
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
    text = f"{done} done, {skipped} skipped, {len(failed)} failed in {seconds:.2f}s → {out}"
    style = "red" if failed else "green"
    console.rule(Text(text, style=style), style=style)
    return len(failed)
