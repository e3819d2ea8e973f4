"""Batch runs: many inputs through one agent, within rate limits, resumable from a JSONL file.

``agent.run_many(prompts, concurrency=..., requests_per_minute=..., tokens_per_minute=...,
results="out.jsonl")`` runs inputs with bounded concurrency and client-side rate limits. A 429
from the provider slows the whole batch down instead of failing the input: the batch sees the
first 429 itself (the model client does not retry it on its own), every worker waits out
``Retry-After``, and the request rate is halved — or, with no ``requests_per_minute`` given, set
from the rate the provider was accepting — then recovers. Each result is appended to the JSONL
file as it completes; started again with the same file, inputs already done are skipped, so a
crash loses nothing: a last line torn by the crash (a full disk, a power cut) is moved aside to
``<results>.torn`` before anything is appended, so the file stays valid JSONL and that input runs
again. An authentication failure (HTTP 401, a missing API key) would fail every input the same
way: it stops the whole batch at once and is raised from ``run_many``.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import hashlib
import itertools
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, Union

from ._batch_cost import BatchEstimate
from .content import Prompt, is_prompt, prompt_json, prompt_key
from .errors import (
    AllModelsFailed,
    AuthenticationError,
    BatchCostExceeded,
    MissingAPIKeyError,
    RateLimiterUnavailable,
    UserError,
    redact_secrets,
)
from .ratelimit import Limiter, limited_model
from .usage import Usage

__all__ = [
    "BatchItem",
    "BatchInput",
    "RateLimiter",
    "run_many",
    "limited_model",
    "current_input_id",
    "total_usage",
    "BatchEstimate",
]

BatchInput = Union[str, Sequence[Any], Mapping[str, Any]]
"""A prompt (a string, or a list of strings and content parts), or ``{"prompt": ..., "id": ...}``
(``id`` optional: default, a hash of the prompt and its position)."""


@dataclass
class BatchItem:
    """One input's outcome: ``output`` when it succeeded, ``error`` (a message) when it did not."""

    id: str
    prompt: Prompt
    output: Any = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    skipped: bool = False
    """True when the result was already in the results file (not run again)."""

    @property
    def ok(self) -> bool:
        """Whether the input succeeded."""
        return self.error is None


_BOOKED: contextvars.ContextVar[tuple[RateLimiter, int] | None] = contextvars.ContextVar("agentkit_booked", default=None)
"""The limiter and epoch the current task's request was booked in (a 429 to it slows down only if no slowdown came since)."""


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits shared by all of a batch's workers.

    Requests are spaced evenly (no bursts); tokens are charged after each response (its
    ``total_tokens``), so a run that used many tokens delays the next requests. A 429 pauses
    every worker for ``Retry-After`` and slows down once per overshoot (not once per worker hit by
    the burst, nor again for a request booked before the last slowdown whose 429 comes later):
    with ``requests_per_minute``, the rate is halved and recovers by 5% per successful request up
    to that limit; without it, the rate becomes 95% of what the provider accepted
    over the last seconds and then grows by 25% per second until the next 429.
    """

    WINDOW = 2.0
    """Seconds of successful requests that measure the accepted rate (without ``requests_per_minute``)."""

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None) -> None:
        for label, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and value <= 0:
                raise UserError(f"{label} must be > 0, not {value!r}.")
        self._max_rate = requests_per_minute / 60.0 if requests_per_minute else None
        self._rate = self._max_rate
        self._tokens_rate = tokens_per_minute / 60.0 if tokens_per_minute else None
        self._next_slot = 0.0
        self._token_debt_until = 0.0
        self._paused_until = 0.0
        self._successes: collections.deque[float] = collections.deque()  # times, within WINDOW
        self._epoch = 0  # slowdowns so far; a request remembers the one it was booked in (_BOOKED)
        self.rate_limited = 0
        """How many 429s the batch absorbed."""

    def reserve(self) -> float:
        """Book the next request's slot: the seconds until it (0 or less: now). :meth:`acquire` waits them;
        a limiter that serves other processes (a Ray actor) hands them out."""
        now = time.monotonic()
        start = max(now, self._next_slot, self._paused_until, self._token_debt_until)
        if self._rate:
            self._next_slot = start + 1.0 / self._rate
        return start - now

    async def acquire(self, provider: str | None = None) -> None:
        """Wait until one more request may start (a wait is reported to ``WAIT_LISTENERS`` for ``provider``)."""
        delay = self.reserve()
        _BOOKED.set((self, self._epoch))
        if delay > 0:
            if provider is not None:
                from ._http.client import WAIT_LISTENERS  # here: importing agentkit does not import httpx

                for listener in WAIT_LISTENERS:
                    listener(provider, delay)
            await asyncio.sleep(delay)

    def charge(self, tokens: int) -> None:
        """A request succeeded: count its tokens against tokens-per-minute and let the rate recover."""
        now = time.monotonic()
        if self._tokens_rate and tokens > 0:
            self._token_debt_until = max(self._token_debt_until, now) + tokens / self._tokens_rate
        if self._max_rate:
            if self._rate:
                self._rate = min(self._max_rate, self._rate * 1.05)
            return
        self._successes.append(now)
        self._forget_before(now - self.WINDOW)
        if self._rate:  # learned from a 429: +25% per second, spread over the requests of that second
            self._rate *= 1.0 + 0.25 / max(self._rate, 1.0)

    def rate_limited_for(self, seconds: float | None, slow_down: bool = True) -> float:
        """The provider said 429: pause everyone and slow down (only pause with ``slow_down=False``:
        a 429 to a request booked before the last slowdown). Returns the seconds of the pause."""
        self.rate_limited += 1
        now = time.monotonic()
        wait = seconds if seconds is not None and seconds > 0 else 1.0
        new_episode = now >= self._paused_until  # workers hit by the same burst slow down once, not once each
        self._paused_until = max(self._paused_until, now + min(wait, 300.0))
        booked = _BOOKED.get()  # this task's request, booked by acquire(): in an epoch before the last slowdown?
        if booked is not None and booked[0] is self and booked[1] < self._epoch:
            slow_down = False
        if not new_episode or not slow_down:
            return self._paused_until - now
        self._epoch += 1
        if self._max_rate:
            self._rate = max((self._rate or self._max_rate) / 2, self._max_rate / 16)
        else:
            accepted = self._accepted_rate(now)
            if accepted is not None:  # what the provider took while we overshot: just under it (never compounding)
                self._rate = 0.95 * accepted if self._rate is None else min(self._rate, 0.95 * accepted)
            elif self._rate:
                self._rate = max(self._rate / 2, 1 / 60)
        self._next_slot = max(self._next_slot, self._paused_until)  # slots already handed out stand: start after them
        return self._paused_until - now

    def _forget_before(self, moment: float) -> None:
        while self._successes and self._successes[0] < moment:
            self._successes.popleft()

    def _accepted_rate(self, now: float) -> float | None:
        """Successful requests per second over the last :attr:`WINDOW` seconds (None with too few to tell)."""
        self._forget_before(now - self.WINDOW)
        if len(self._successes) < 4:
            return None
        return len(self._successes) / max(now - self._successes[0], 0.1)


def _normalize(inputs: Iterable[BatchInput]) -> list[tuple[str, Prompt]]:
    items: list[tuple[str, Prompt]] = []
    seen: set[str] = set()
    for position, raw in enumerate(inputs):
        if is_prompt(raw):
            prompt, given = raw, None
        elif isinstance(raw, Mapping) and is_prompt(raw.get("prompt")):
            prompt, given = raw["prompt"], raw.get("id")
        else:
            raise UserError(f"Input #{position} must be a prompt or a mapping with a 'prompt', not {raw!r:.100}.")
        key = str(given) if given is not None else hashlib.sha256(f"{position}\0{prompt_key(prompt)}".encode()).hexdigest()[:16]
        if key in seen:
            raise UserError(f"Input #{position}: the id {key!r} is used twice; ids must be unique.")
        seen.add(key)
        items.append((key, prompt))
    return items


def _repair(path: Path) -> None:
    """Make a results file end with a whole line before anything is appended to it.

    A crash while a line was written (a full disk, a power cut) leaves a torn last line without
    its newline: appending to it would glue the next record onto the fragment, losing both. A
    last line that is a whole record only gets its newline; a torn one is moved to
    ``<results>.torn`` (appended there, so nothing is ever thrown away) and cut off.
    """
    if not path.is_file():
        return
    with path.open("rb+") as f:
        size = f.seek(0, 2)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        start = _last_line_start(f, size)
        f.seek(start)
        tail = f.read()
        if _record(tail) is not None:
            f.seek(size)
            f.write(b"\n")
        else:
            with path.with_name(path.name + ".torn").open("ab") as aside:
                aside.write(tail + b"\n")
                aside.flush()
                os.fsync(aside.fileno())
            f.truncate(start)
        f.flush()
        os.fsync(f.fileno())


def _last_line_start(f: BinaryIO, size: int) -> int:
    """Where the last line of the open binary file ``f`` starts (just after the last newline, or 0)."""
    end = size
    while end > 0:
        begin = max(0, end - 65536)
        f.seek(begin)
        block = f.read(end - begin)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        end = begin
    return 0


def _record(line: bytes | str) -> dict[str, Any] | None:
    """A line of the results file as a record, or None when it is not one.

    A line where an older version glued a record onto a torn fragment (``{"id": "a", "outp{"id": ...}``)
    gives the record at its end.
    """
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    for start in itertools.chain((0,), (i for i in range(1, len(text)) if text.startswith('{"id"', i))):
        try:
            record = json.loads(text[start:])
        except ValueError:
            continue
        if isinstance(record, dict) and "id" in record:
            return record
    return None


def _done_ids(path: Path) -> dict[str, dict[str, Any]]:
    """Successful records already in the results file (lines that are not records are passed over)."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            record = _record(line)
            if record is not None and record.get("error") is None:
                done[str(record["id"])] = record
    return done


def _jsonable(value: Any) -> Any:
    import pydantic_core

    return json.loads(pydantic_core.to_json(value, fallback=str))


def _line(item: BatchItem) -> str:
    """The item's line in a results file (its newline included)."""
    line = {"id": item.id, "prompt": prompt_json(item.prompt), "output": _jsonable(item.output), "error": item.error}
    line["usage"] = _jsonable(item.usage)
    return json.dumps(line, ensure_ascii=False) + "\n"


def total_usage(items: Iterable[BatchItem]) -> Usage:
    """What a batch used, summed over its items (``cost`` included; skipped items count with the
    usage recorded in the results file when they ran)."""
    total = Usage()
    for item in items:
        total.add(item.usage)
    return total


class _Result(Protocol):
    output: Any
    usage: Usage


async def run_many(
    run: Callable[[Prompt], Awaitable[_Result]],
    inputs: Iterable[BatchInput],
    *,
    limiter: Limiter | None = None,
    concurrency: int = 16,
    results: str | Path | None = None,
    progress: bool | None = None,
    on_result: Callable[[BatchItem], None] | None = None,
) -> list[BatchItem]:
    """``await run(prompt)`` for every input, ``concurrency`` at a time; see :meth:`agentkit.Agent.run_many`.

    ``run`` is any coroutine function returning something with ``output`` and ``usage`` (a
    :class:`~agentkit.RunResult`); ``limiter`` only feeds the progress bar's 429 count (pacing
    happens in the model, see :func:`limited_model`). Whatever one input raises is that input's
    failure and the batch goes on — except an authentication failure (an
    :class:`~agentkit.errors.AuthenticationError`, a :class:`~agentkit.errors.MissingAPIKeyError`),
    which every input would meet: the runs in flight are cancelled and it is raised (the results
    of inputs already done are in the file).
    """
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise UserError(f"concurrency must be a positive int, not {concurrency!r}.")
    items = _normalize(inputs)
    path = Path(results) if results is not None else None
    outcome = _already_done(path, items) if path is not None else {}
    todo = [(k, p) for k, p in items if k not in outcome]
    out = path.open("a", encoding="utf-8") if path is not None else None
    bar = _Progress(len(items), len(outcome), progress, limiter or RateLimiter())

    def finished(item: BatchItem) -> None:
        outcome[item.id] = item
        if out is not None:
            out.write(_line(item))
            out.flush()  # each line reaches the OS as it completes: a crash loses nothing
        bar.advance(item)
        if on_result is not None:
            on_result(item)

    try:
        stopped = await _run_all(run, todo, concurrency, finished)
    finally:
        if out is not None:
            out.close()
        bar.close()
    if stopped is not None:
        raise stopped
    return [outcome[key] for key, _ in items]


def _already_done(path: Path, items: list[tuple[str, Prompt]]) -> dict[str, BatchItem]:
    """The inputs whose success is in the results file (repaired first when its last line is torn)."""
    _repair(path)
    done = _done_ids(path)
    outcome: dict[str, BatchItem] = {}
    for key, prompt in items:
        if key in done:
            record = done[key]
            outcome[key] = BatchItem(key, prompt, record.get("output"), None, Usage(**record.get("usage", {})), skipped=True)
    return outcome


async def _run_all(
    run: Callable[[Prompt], Awaitable[_Result]],
    todo: list[tuple[str, Prompt]],
    concurrency: int,
    finished: Callable[[BatchItem], None],
) -> BaseException | None:
    """Run ``todo`` with ``concurrency`` workers; the error that stopped the batch, or None."""
    queue: asyncio.Queue[tuple[str, Prompt]] = asyncio.Queue()
    for entry in todo:
        queue.put_nowait(entry)
    stop: list[BaseException] = []  # the authentication failure that ends the batch

    async def work() -> None:
        while not stop and not queue.empty():
            key, prompt = queue.get_nowait()
            item = await _one(run, key, prompt, stop)
            if item is not None:
                finished(item)

    pending = {asyncio.ensure_future(work()) for _ in range(min(concurrency, max(len(todo), 1)))}
    workers = set(pending)
    try:
        while pending and not stop:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a failure of the batch itself (not of one input), e.g. a full disk, raises here
    finally:
        for worker in workers:
            worker.cancel()  # after a stop: the runs in flight end now
        await asyncio.gather(*workers, return_exceptions=True)
    return stop[0] if stop else None


def _stops_the_batch(error: BaseException) -> bool:
    """Whether every input would fail the same way: a key the provider refuses, no key at all,
    the batch's ``max_cost`` reached, or a shared rate limiter whose Redis cannot be reached."""
    if isinstance(error, AllModelsFailed):
        return all(_stops_the_batch(e) for e in error.errors)
    return isinstance(error, (AuthenticationError, MissingAPIKeyError, BatchCostExceeded, RateLimiterUnavailable))


_INPUT_ID: ContextVar[str] = ContextVar("agentkit_batch_input_id", default="")


def current_input_id() -> str:
    """The id of the input being run, inside :func:`run_many`'s ``run`` (``""`` outside a batch)."""
    return _INPUT_ID.get()


async def _one(
    run: Callable[[Prompt], Awaitable[_Result]], key: str, prompt: Prompt, stop: list[BaseException]
) -> BatchItem | None:
    _INPUT_ID.set(key)
    try:
        result = await run(prompt)
    except Exception as e:  # any failure of one input is that input's: the batch goes on
        if _stops_the_batch(e):
            stop.append(e)
            return None
        error = redact_secrets(f"{type(e).__name__}: {e}")  # not only agentkit's errors may quote a key
        return BatchItem(key, prompt, None, error, getattr(e, "usage", None) or Usage())
    return BatchItem(key, prompt, result.output, None, result.usage)


class _Progress:
    """A rich progress bar on stderr when it is a terminal (and rich is installed): done/total,
    failures and 429s absorbed so far, elapsed and remaining time. Silent otherwise."""

    def __init__(self, total: int, done: int, enabled: bool | None, limiter: Limiter) -> None:
        self._bar: Any = None
        self._limiter = limiter
        self.failed = 0
        if enabled is False or (enabled is None and not sys.stderr.isatty()):
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        except ImportError:
            return
        self._bar = Progress(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._bar.add_task("batch", total=total, completed=done, status="")
        self._bar.start()

    def advance(self, item: BatchItem) -> None:
        if not item.ok:
            self.failed += 1
        if self._bar is not None:
            status = []
            if self.failed:
                status.append(f"[red]{self.failed} failed")
            if self._limiter.rate_limited:
                status.append(f"[yellow]{self._limiter.rate_limited} x 429 absorbed")
            self._bar.update(self._task, advance=1, status="  ".join(status))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
