"""The run log: every run of an agent recorded in a local SQLite file, like ``llm logs``.

Opt in with ``AGENTKIT_LOG=path.db`` (every agent), ``Agent(log="path.db")`` or ``Agent(log=True)``
(:func:`default_log_path`), or ``--log PATH`` in the CLI. Each run is a row (agent, model, prompt,
status, output or error, usage, cost, messages); each model request and tool call a step with its
start and end times, written as it completes, off the event loop (WAL: a crash keeps what happened
before it). The HTTP client's retries and ``run_many``'s rate-limit waits are steps of the request
they delayed. An agent used as a tool is a run of its own whose parent is the calling run and call
(recorded in the parent's file when it has no log of its own); a handoff goes on in the same run,
each step naming its agent. Every text recorded passes through agentkit's key redaction: no API
key reaches the file.

Read it with ``agentkit logs`` / ``agentkit logs show ID`` / ``agentkit view ID``, or
:func:`list_runs` and :func:`load_run`.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Union

from ._exchange import ModelRequest, ModelResponse
from ._run.hooks import HookSet, prepare_hooks
from ._runlog_store import (
    SCHEMA_VERSION,
    LoggedRun,
    Step,
    clip,
    clip_message,
    default_log_path,
    end_tool,
    hostname,
    insert,
    list_runs,
    load_run,
    prompt_text,
    stored_messages,
    update_run,
)
from ._runlog_store import worker as _worker
from ._secrets import redact_secrets
from .context import RunContext
from .errors import ApprovalRequired, UserError
from .hooks import Hooks
from .messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage, load_messages

if TYPE_CHECKING:
    from ._run.spec import RunSpec
    from .errors import ProviderError

__all__ = [
    "ENV_VAR",
    "SCHEMA_VERSION",
    "LogOption",
    "LoggedRun",
    "RunLog",
    "Step",
    "default_log_path",
    "list_runs",
    "load_run",
    "messages_of",
]

ENV_VAR = "AGENTKIT_LOG"
"""The environment variable naming the run log every agent records into (unless ``log=False``)."""
logger = logging.getLogger("agentkit")

LogOption = Union[str, "os.PathLike[str]", bool, None]
"""``Agent(log=...)``: a file, True (:func:`default_log_path`), False (never, whatever
``AGENTKIT_LOG`` says) or None (as ``AGENTKIT_LOG`` says)."""


@dataclass
class _Live:
    run: Any
    run_id: str
    log: RunLog
    request_start: float = 0.0
    """When the request in flight was sent (0: none is)."""
    request_end: float = 0.0
    """When its answer came (0: not yet): before the other hooks and the session's save."""
    task: Any = None
    """The task that sends it: a retry reported from another task is not this request's."""
    tools: dict[str, float] = field(default_factory=dict)
    recorded: bool = False
    """Whether the run's row is in the file (a log that cannot be written has none)."""
    ended: bool = False
    """Whether a hook recorded its end (``on_run_end``, ``on_error``: a pause included)."""


def _text(value: Any) -> str:
    """``value`` as text (JSON unless it is one), keys redacted and cut to ``MAX_TEXT`` characters."""
    if isinstance(value, str):
        return clip(value)
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", exclude_none=True)
    return clip(json.dumps(value, ensure_ascii=False, default=str))


_live: dict[int, _Live] = {}
"""The runs being recorded, by ``id()`` of their ``LiveRun`` (a sub-agent finds its parent's here)."""
_sending: contextvars.ContextVar[_Live | None] = contextvars.ContextVar("agentkit_runlog_sending", default=None)
"""The recorded run whose request was last sent from this task (the HTTP client's retries and the
rate limiter's waits are reported while it is in flight)."""


def _agent(ctx: RunContext[Any]) -> str | None:
    return ctx._run.spec.label if ctx._run is not None else None


class RunLog(Hooks):
    """The hooks that record runs into one file (one instance per file: :func:`log_hooks`)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self._pending: set[asyncio.Future[Any]] = set()
        self._failures: set[str] = set()
        """The write errors already warned of (each once a process: not one line per step of every run)."""

    def _write(self, function: Any, *args: Any) -> asyncio.Future[Any]:
        future = _worker(self.path).call(function, *args)
        self._pending.add(future)
        future.add_done_callback(self._written)
        return future

    def _written(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        error = None if future.cancelled() else future.exception()
        if error is not None:
            first = str(error) not in self._failures
            if first and len(self._failures) < 100:
                self._failures.add(str(error))
            level = logging.WARNING if first else logging.DEBUG
            logger.log(level, "The run log %s could not be written: %s", self.path, error)

    async def _flush(self, future: asyncio.Future[Any]) -> bool:
        """Wait for a write (and so every one before it: the worker keeps their order): each step
        is in the file before the run goes on, so a crash keeps every step before it. False: it failed."""
        try:
            await asyncio.shield(future)
        except Exception:  # already logged by _written
            return False
        return True

    def _found(self, ctx: RunContext[Any]) -> _Live | None:
        """The run of ``ctx`` when this log records it (an agent a handoff reached may have a log of its own)."""
        live = _live.get(id(ctx._run))
        return live if live is not None and live.log is self and live.run is ctx._run else None

    async def on_run_start(self, ctx: RunContext[Any]) -> None:
        """A run begins: its row, status ``running``."""
        run = ctx._run
        if run is None:
            return
        live = _live[id(run)] = _Live(run, uuid.uuid4().hex[:12], self)
        parent_id = parent_call = None
        if run.parent is not None:
            outer, parent_call = run.parent
            found = _live.get(id(outer))
            parent_id = found.run_id if found is not None and found.run is outer and found.log is self else None
        prompt = next((prompt_text(m.content) for m in reversed(ctx.messages) if isinstance(m, UserMessage)), None)
        row = {
            "id": live.run_id,
            "parent_id": parent_id,
            "parent_call_id": parent_call if parent_id else None,
            "started": time.time(),
            "agent": run.spec.label,
            "model": run.spec.model.model_name,
            "prompt": None if prompt is None else _text(prompt),
            "status": "running",
            "pid": os.getpid(),
            "host": hostname(),
        }
        live.recorded = await self._flush(self._write(insert, "runs", row))

    async def before_model_request(self, ctx: RunContext[Any], request: ModelRequest) -> None:
        """A request is sent: its start time (the last hook before the model: what it waits for is its own)."""
        live = self._found(ctx)
        if live is not None:
            live.request_start, live.request_end = time.time(), 0.0
            live.task = asyncio.current_task()
            _sending.set(live)

    async def after_model_response(self, ctx: RunContext[Any], response: ModelResponse) -> None:
        """The model answered: the request's step."""
        live = self._found(ctx)
        if live is None:
            return
        usage = response.usage
        row = {
            "run_id": live.run_id,
            "kind": "request",
            "name": response.model_name or ctx.model_name,
            "started": live.request_start or time.time(),
            "ended": live.request_end or time.time(),
            "input_tokens": usage.prompt_tokens,
            "output_tokens": usage.completion_tokens,
            "cost": usage.cost,
            "finish_reason": response.finish_reason,
            "data": redact_secrets(
                json.dumps(clip_message(response.message).model_dump(mode="json", exclude_none=True), ensure_ascii=False)
            ),
            "agent": _agent(ctx),
        }
        live.request_start = live.request_end = 0.0
        if _sending.get() is live:
            _sending.set(None)  # the task's context does not keep the run alive
        await self._flush(self._write(insert, "steps", row))

    async def before_tool_call(self, ctx: RunContext[Any], call: ToolCall) -> None:
        """A tool call starts: its step, not yet ended."""
        live = self._found(ctx)
        if live is None:
            return
        now = time.time()
        live.tools[call.id] = now
        row = {"run_id": live.run_id, "kind": "tool", "call_id": call.id, "name": call.name, "started": now, "agent": _agent(ctx)}
        await self._flush(self._write(insert, "steps", {**row, "data": _text(call.arguments)}))

    async def after_tool_call(self, ctx: RunContext[Any], call: ToolCall, result: ToolMessage) -> None:
        """A tool call ended: its result (or error) and end time."""
        live = self._found(ctx)
        if live is None:
            return
        values: dict[str, Any] = {"ended": time.time(), "result": _text(result.content), "is_error": int(result.is_error)}
        if call.id not in live.tools:  # a hook before this one answered for the tool: still a step
            live.tools[call.id] = values["ended"]
            row = {"run_id": live.run_id, "kind": "tool", "call_id": call.id, "name": call.name, "started": values["ended"]}
            row["agent"] = _agent(ctx)
            self._write(insert, "steps", {**row, "data": _text(call.arguments)})
        live.tools.pop(call.id, None)
        await self._flush(self._write(end_tool, live.run_id, call.id, values))

    async def on_run_end(self, ctx: RunContext[Any], result: Any) -> None:
        """The run ended: status ``ok``, its output, usage and messages; the result knows its id."""
        live = self._found(ctx)
        if live is None:
            return
        del _live[id(ctx._run)]
        live.ended = True
        usage = result.usage
        values = {
            "ended": time.time(),
            "status": "ok",
            "output": _text(result.output),
            "turns": result.turns,
            "input_tokens": usage.prompt_tokens,
            "output_tokens": usage.completion_tokens,
            "cost": usage.cost,
            "messages": stored_messages(result.messages),
        }
        if result.model_name:
            values["model"] = result.model_name
        if live.recorded:
            result.log_id = (self.path, live.run_id)
        await self._flush(self._write(update_run, live.run_id, values))

    async def on_error(self, ctx: RunContext[Any], error: BaseException) -> None:
        """The run failed (or paused for approval): the error's type and message, redacted."""
        live = self._found(ctx)
        if live is None:
            return
        paused = isinstance(error, ApprovalRequired)
        live.ended = True
        if not paused:
            del _live[id(ctx._run)]
        usage = ctx.usage
        values = {
            "ended": time.time(),
            "status": "paused" if paused else "error",
            "error_type": type(error).__name__,
            "error_message": redact_secrets(str(error))[:2000],
            "turns": ctx.turn,
            "input_tokens": usage.prompt_tokens,
            "output_tokens": usage.completion_tokens,
            "cost": usage.cost,
            "messages": stored_messages(ctx.messages),
        }
        await self._flush(self._write(update_run, live.run_id, values))


def abandoned(run: Any) -> None:
    """``run``'s loop is ending (called from its ``finally``): a recorded run no hook ended — it was
    cancelled (a timeout, Ctrl-C, a batch stopping) or its caller stopped early (left ``iter()`` or a
    stream) — is marked ``cancelled`` instead of staying ``running`` for ever."""
    live = _live.get(id(run))
    if live is None or live.run is not run:
        return
    del _live[id(run)]  # a paused run's too: its resume is a run of its own
    if live.ended:
        return
    error = sys.exc_info()[1]
    stopped = error is None or isinstance(error, GeneratorExit)
    usage = run.state.usage
    values = {
        "ended": time.time(),
        "status": "cancelled",
        "error_type": None if stopped else type(error).__name__,
        "error_message": "stopped early by its caller" if stopped else redact_secrets(str(error) or "cancelled")[:2000],
        "turns": run.state.turn,
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "cost": usage.cost,
        "messages": stored_messages(run.state.messages),
    }
    try:
        live.log._write(update_run, live.run_id, values)  # queued: the loop cannot wait here
    except Exception as e:  # no running loop any more: the row stays "running"
        logger.debug("The run log %s could not record a cancelled run: %s", live.log.path, e)


class _Answered(Hooks):
    """The first ``after_model_response`` hook: the request's end (what the hooks after it do is not its)."""

    def __init__(self, log: RunLog) -> None:
        self.log = log

    async def after_model_response(self, ctx: RunContext[Any], response: ModelResponse) -> None:
        """The answer came: the request's end time."""
        live = self.log._found(ctx)
        if live is not None:
            live.request_end = time.time()


def _in_flight() -> _Live | None:
    """The recorded run whose request this task is sending now (None: none is)."""
    live = _sending.get()
    if live is None or not live.request_start or live.request_end or live.task is not asyncio.current_task():
        return None
    return live


def _on_retry(provider: str, error: ProviderError, wait: float, attempt: int) -> None:
    """The HTTP client (or ``run_many``'s limiter, for a 429) retries the request in flight after ``wait`` s."""
    live = _in_flight()
    if live is None:
        return
    try:
        _retried(live, provider, error, wait, attempt)
    except Exception as e:  # the run log never fails a request
        logger.warning("The run log %s could not record a retry: %s", live.log.path, e)


def _retried(live: _Live, provider: str, error: ProviderError, wait: float, attempt: int) -> None:
    now = time.time()
    data = {"attempt": attempt, "status": error.status, "error": type(error).__name__, "wait": round(wait, 3)}
    if error.retry_after is not None:
        data["retry_after"] = error.retry_after
    name = f"HTTP {error.status}" if error.status is not None else type(error).__name__
    row = {"run_id": live.run_id, "kind": "retry", "name": name, "started": now, "ended": now + wait}
    live.log._write(insert, "steps", {**row, "data": json.dumps({**data, "provider": provider}), "agent": _agent_of(live)})


def _on_wait(provider: str, seconds: float) -> None:
    """``run_many``'s rate limiter holds the request in flight back for ``seconds``."""
    live = _in_flight()
    if live is None:
        return
    now = time.time()
    row = {"run_id": live.run_id, "kind": "wait", "name": "rate limit", "started": now, "ended": now + seconds}
    data = json.dumps({"wait": round(seconds, 3), "provider": provider})
    try:
        live.log._write(insert, "steps", {**row, "data": data, "agent": _agent_of(live)})
    except Exception as e:  # the run log never fails a request
        logger.warning("The run log %s could not record a wait: %s", live.log.path, e)


def _agent_of(live: _Live) -> str:
    return str(live.run.spec.label)


_logs: dict[str, tuple[HookSet, HookSet]] = {}
_FIRST = ("on_run_start", "before_tool_call")
_LAST = ("before_model_request", "after_model_response", "after_tool_call", "on_run_end", "on_error")


def check_log(value: Any) -> LogOption:
    """``value``, checked: raise :class:`UserError` for an ``Agent(log=...)`` that is not one of :data:`LogOption`."""
    if value is None or isinstance(value, (bool, str, os.PathLike)):
        return value
    raise UserError(f"log must be a file path, True, False or None, not {type(value).__name__}.")


def log_hooks(own: Any) -> tuple[HookSet, HookSet] | None:
    """The hooks recording an agent's runs, to go before and after the agent's own (None: not
    recorded): ``own`` is its ``log=``, None meaning ``$AGENTKIT_LOG``. The same for the same file."""
    if own is False:
        return None
    if own is None:
        own = os.environ.get(ENV_VAR) or None
        if own is None:
            return None
    path = os.fspath(default_log_path() if own is True else own)
    found = _logs.get(path)
    if found is None:
        from ._http import client

        if _on_retry not in client.RETRY_LISTENERS:
            client.RETRY_LISTENERS.append(_on_retry)
            client.WAIT_LISTENERS.append(_on_wait)
        log = RunLog(path)
        hooks = prepare_hooks([log])
        first = HookSet(**{point: getattr(hooks, point) for point in _FIRST}) + prepare_hooks([_Answered(log)])
        found = _logs[path] = (first, HookSet(**{point: getattr(hooks, point) for point in _LAST}))
    return found


def carry_log(before: RunSpec, spec: RunSpec, handoff: bool) -> RunSpec:
    """``spec`` (of a sub-agent, or of the agent a handoff passes the run to) with the run log of
    ``before`` (the calling run's, or the run's so far) when that is recorded and ``spec`` would not
    be recorded there. A sub-agent with a log of its own, or ``log=False``, keeps its choice; a
    handoff always goes on in the run's own log (the run is one row, of one file)."""
    found = next((pair for pair in _logs.values() if pair[1].on_run_end[0] in before.hooks.on_run_end), None)
    if found is None or found[1].on_run_end[0] in spec.hooks.on_run_end:
        return spec
    own = getattr(spec.agent, "log", None)
    if not handoff and (own is False or log_hooks(own) is not None):
        return spec
    return replace(spec, hooks=found[0] + spec.hooks + found[1])


def messages_of(run: LoggedRun) -> list[Message]:
    """The run's messages: as stored at its end, else (its process stopped) rebuilt from its steps."""
    if run.messages:
        return load_messages(run.messages)
    found: list[Message] = [UserMessage(content=run.prompt)] if run.prompt is not None else []
    for step in run.steps:
        if step.kind == "request" and step.data:
            found.append(AssistantMessage.model_validate_json(step.data))
        elif step.kind == "tool" and step.ended is not None:
            found.append(
                ToolMessage(tool_call_id=step.call_id or "", content=step.result or "", name=step.name, is_error=step.is_error)
            )
    return found
