"""What watches runs (see :mod:`agentkit.instrumentation`): hooks added to a run's spec around
the agent's own (the ``invoke_agent`` and ``execute_tool`` spans, the log lines) and a thin model
wrapper (the ``chat`` spans). The loop itself knows nothing of them.

A run's spans are kept on its ``LiveRun`` (``run.trace``); children name their parent
explicitly (never through a context variable set across a generator's steps). The ``chat``
span is the current span only while the model's code runs, so the HTTP client's retry events
(:data:`agentkit._http.client.RETRY_LISTENERS`) land on it.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import AsyncGenerator
from typing import Any

from ._exchange import ModelRequest, ModelResponse
from ._http import client as _client
from ._run.hooks import HookSet
from ._secrets import redact_secrets
from .context import RunContext
from .errors import ApprovalRequired, ProviderError
from .events import ModelStreamEvent, ResponseComplete
from .instrumentation import InstrumentationSettings
from .instrumentation import content_text as _text
from .messages import ToolCall, ToolMessage
from .models.base import Model

__all__ = ["Observer", "InstrumentedModel", "RunTrace"]

logger = logging.getLogger("agentkit")
_NAME = "agentkit.instrumentation"
_PARAMS = (
    ("temperature", "gen_ai.request.temperature"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("seed", "gen_ai.request.seed"),
    ("top_p", "gen_ai.request.top_p"),
    ("top_k", "gen_ai.request.top_k"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_otel: Any = None
"""``opentelemetry.trace``, once a traced run needs it (never imported otherwise)."""
_otel_context: Any = None
_pending: dict[int, tuple[ModelRequest, Any]] = {}
"""Requests about to be sent, by id: the run span their ``chat`` span goes under."""
_paused: dict[str, Any] = {}
"""The span context of each run paused for approvals in this process, by the ids of its pending
calls: the resumed run's span links to it (a resume in another process has the call ids to go by)."""
_MAX_PAUSED = 1000


class RunTrace:
    """One run's spans and clocks (``LiveRun.trace``)."""

    __slots__ = ("agent", "closed", "context", "observer", "request", "request_start", "span", "start", "tools")

    def __init__(self, observer: Observer, span: Any, agent: str) -> None:
        self.observer = observer
        self.closed = False
        self.span = span
        self.context = _otel.set_span_in_context(span) if span is not None else None
        """The context with the run's span current: the parent of its ``chat`` and ``execute_tool`` spans."""
        if span is not None and not span.is_recording():
            self.span = None  # not sampled (or a no-op tracer): its requests and calls make no spans
        self.start = time.perf_counter()
        self.tools: dict[str, tuple[Any, float]] = {}
        self.agent = agent
        self.request: ModelRequest | None = None
        self.request_start = 0.0

    def close(self, attributes: dict[str, Any] | None = None, error: BaseException | None = None) -> None:
        """End the spans still open: the run's (with ``attributes``), and those of calls cut short
        (by ``error``: their ``error.type``; else an ``agentkit.closed`` event)."""
        self.closed = True
        if self.request is not None:
            _pending.pop(id(self.request), None)
            self.request = None
        for span, _ in self.tools.values():
            if span is not None:
                if error is None or isinstance(error, GeneratorExit):
                    span.add_event("agentkit.closed")
                else:
                    _error(span, error)
                span.end()
        self.tools.clear()
        self.end(attributes or {})

    def end(self, attributes: dict[str, Any]) -> None:
        """End the run's span with ``attributes``."""
        span = self.span
        if span is None:
            return
        self.span = None
        if attributes:
            span.set_attributes(attributes)
        span.end()

    def abandon(self) -> None:
        """The run's generator is ending: if no hook closed the run (it was cancelled, closed
        early, or a hook raised), close it now, with the exception on its way out."""
        if self.closed:
            return
        error = sys.exc_info()[1]
        if self.span is not None:
            if error is None or isinstance(error, GeneratorExit):
                self.span.add_event("agentkit.closed")  # the caller stopped early (iter(), a stream left)
            else:
                _error(self.span, error)
        self.close(error=error)
        if self.observer.level:
            why = "was stopped" if error is None or isinstance(error, GeneratorExit) else f"ended by {type(error).__name__}"
            logger.info("Run of %s %s, %.2f s.", self.agent, why, time.perf_counter() - self.start)


def _plain(text: Any) -> str:
    """A name the provider's answer gave (a model's, a tool call's) fit for one log line: no line breaks or control characters."""
    return _CONTROL.sub("?", str(text))


def _load() -> None:
    global _otel, _otel_context
    from opentelemetry import context, trace

    _otel, _otel_context = trace, context


def _error(span: Any, error: BaseException | None, kind: str | None = None) -> None:
    span.set_attribute("error.type", kind or type(error).__qualname__)
    text = redact_secrets(str(error))[:500] if error is not None else None
    span.set_status(_otel.Status(_otel.StatusCode.ERROR, text))


def _on_retry(provider: str, error: ProviderError, wait: float, attempt: int) -> None:
    """A retry (or a rate-limit wait) as an event of the current ``chat`` span."""
    span = _otel.get_current_span()
    if not span.is_recording():
        return
    attributes: dict[str, Any] = {"error.type": type(error).__qualname__, "agentkit.retry.attempt": attempt}
    attributes["agentkit.retry.wait_seconds"] = wait
    if error.status is not None:
        attributes["http.response.status_code"] = error.status
    span.add_event("agentkit.rate_limit_wait" if error.status == 429 else "agentkit.retry", attributes)


def _on_wait(provider: str, seconds: float) -> None:
    """``run_many``'s rate limiter holding a request back, as an event of the current ``chat`` span."""
    span = _otel.get_current_span()
    if span.is_recording():
        span.add_event("agentkit.rate_limit_wait", {"agentkit.wait.seconds": seconds, "agentkit.wait.reason": "batch_limiter"})


class Observer:
    """The hooks and the model wrapper for one choice of settings and log level."""

    def __init__(self, settings: InstrumentationSettings | None, level: int) -> None:
        self.settings = settings
        self.level = level
        self.content = settings is not None and settings.include_content
        self.tracer: Any = None
        if settings is not None:
            from . import __version__

            _load()
            self.tracer = _otel.get_tracer(_NAME, __version__, tracer_provider=settings.tracer_provider)
            if _on_retry not in _client.RETRY_LISTENERS:
                _client.RETRY_LISTENERS.append(_on_retry)
                _client.WAIT_LISTENERS.append(_on_wait)
        first = {"on_run_start": ((_NAME, self.on_run_start),), "before_tool_call": ((_NAME, self.before_tool_call),)}
        self.first = HookSet(**first)  # type: ignore[arg-type]
        last: dict[str, Any] = {
            "before_model_request": ((_NAME, self.before_model_request),),
            "after_tool_call": ((_NAME, self.after_tool_call),),
            "on_run_end": ((_NAME, self.on_run_end),),
            "on_error": ((_NAME, self.on_error),),
        }
        if level == logging.DEBUG:
            last["after_model_response"] = ((_NAME, self.after_model_response),)
        self.last = HookSet(**last)

    def wrap(self, model: Model) -> Model:
        """``model`` with ``chat`` spans (itself when not tracing)."""
        if self.tracer is None or isinstance(model, InstrumentedModel):
            return model
        return InstrumentedModel(model, self.tracer, self.content)

    # -- the run ----------------------------------------------------------------------------
    async def on_run_start(self, ctx: RunContext[Any]) -> None:
        run = ctx._run
        if run is None or run.trace is not None:
            return
        span = None
        label = run.spec.label
        if self.tracer is not None:
            parent = None
            if run.parent is not None and run.parent[0].trace is not None:  # an agent used as a tool
                outer, call_id = run.parent[0].trace, run.parent[1]
                found = outer.tools.get(call_id)  # under its call's span, or its run's if that was not sampled
                parent = _otel.set_span_in_context(found[0]) if found is not None and found[0] is not None else outer.context
            model = run.spec.model
            attributes = {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": label,
                "gen_ai.provider.name": model.provider or "unknown",
                "gen_ai.request.model": model.model_name,
            }
            links = None
            if run.resumed:  # a paused run resumed: a new trace, linked to the paused run's span
                ids = [c.id for c in run.resumed]
                attributes["agentkit.resumed_call_ids"] = ids
                found = {(c.trace_id, c.span_id): c for c in (_paused.pop(i, None) for i in ids) if c is not None}
                links = [_otel.Link(c) for c in found.values()] or None
            span = self.tracer.start_span(f"invoke_agent {label}", context=parent, attributes=attributes, links=links)
        run.trace = RunTrace(self, span, label)

    async def before_model_request(self, ctx: RunContext[Any], request: ModelRequest) -> None:
        run = ctx._run
        trace = run.trace if run is not None else None
        if trace is None:
            return
        label = run.spec.label
        if label != trace.agent:  # a handoff happened since the last request
            if trace.span is not None:
                trace.span.add_event("agentkit.handoff", {"agentkit.handoff.from": trace.agent, "agentkit.handoff.to": label})
            if self.level == logging.DEBUG:
                logger.debug("Run handed off from %s to %s.", trace.agent, label)
            trace.agent = label
        trace.request_start = time.perf_counter()
        if trace.context is not None:
            if trace.request is not None:
                _pending.pop(id(trace.request), None)
            trace.request = request
            _pending[id(request)] = (request, trace.context if trace.span is not None else None)

    async def after_model_response(self, ctx: RunContext[Any], response: ModelResponse) -> None:
        run = ctx._run
        trace = run.trace if run is not None else None
        started = trace.request_start if trace is not None else time.perf_counter()
        usage = response.usage
        logger.debug(
            "Request %d of %s to %s: %d input + %d output tokens, finish %s, %.0f ms.",
            ctx.turn,
            ctx.agent_name or "agent",
            _plain(response.model_name or ctx.model_name),
            usage.prompt_tokens,
            usage.completion_tokens,
            response.finish_reason,
            (time.perf_counter() - started) * 1000,
        )

    async def on_run_end(self, ctx: RunContext[Any], result: Any) -> None:
        run = ctx._run
        trace = run.trace if run is not None else None
        if trace is None:
            return
        usage = result.usage
        attributes: dict[str, Any] | None = None
        if trace.span is not None:
            attributes = {
                "gen_ai.usage.input_tokens": usage.prompt_tokens,
                "gen_ai.usage.output_tokens": usage.completion_tokens,
            }
            if result.model_name:
                attributes["gen_ai.response.model"] = result.model_name
            if self.content:
                attributes["gen_ai.output.messages"] = _text([result.messages[-1]]) if result.messages else "[]"
        trace.close(attributes)
        if self.level:
            cost = f"${usage.cost:.6f}" if getattr(usage, "cost", None) is not None else "unknown"
            logger.info(
                "Run of %s with %s: %d turns, %d input + %d output tokens, cost %s, %.2f s.",
                trace.agent,
                _plain(result.model_name),
                result.turns,
                usage.prompt_tokens,
                usage.completion_tokens,
                cost,
                time.perf_counter() - trace.start,
            )

    async def on_error(self, ctx: RunContext[Any], error: BaseException) -> None:
        run = ctx._run
        trace = run.trace if run is not None else None
        if trace is None:
            return
        if trace.span is not None:
            if isinstance(error, ApprovalRequired):
                ids = [c.id for c in error.pending]
                trace.span.add_event("agentkit.paused", {"agentkit.pending_calls": len(ids), "agentkit.pending_call_ids": ids})
                for call_id in ids:
                    _paused[call_id] = trace.span.get_span_context()
                while len(_paused) > _MAX_PAUSED:
                    del _paused[next(iter(_paused))]
            else:
                _error(trace.span, error)
        trace.close(error=error)
        if self.level:
            logger.info(
                "Run of %s %s after %d turns: %s, %.2f s.",
                trace.agent,
                "paused" if isinstance(error, ApprovalRequired) else "failed",
                ctx.turn,
                type(error).__name__,
                time.perf_counter() - trace.start,
            )

    # -- tool calls -------------------------------------------------------------------------
    async def before_tool_call(self, ctx: RunContext[Any], call: ToolCall) -> None:
        run = ctx._run
        trace = run.trace if run is not None else None
        if trace is None:
            return
        span = None
        if trace.span is not None:
            attributes = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": call.name,
                "gen_ai.tool.call.id": call.id,
                "gen_ai.tool.type": "function",
            }
            if self.content:
                attributes["gen_ai.tool.call.arguments"] = _text(call.arguments)
            span = self.tracer.start_span(f"execute_tool {call.name}", context=trace.context, attributes=attributes)
        trace.tools[call.id] = (span, time.perf_counter())

    async def after_tool_call(self, ctx: RunContext[Any], call: ToolCall, result: ToolMessage) -> None:
        run = ctx._run
        trace = run.trace if run is not None else None
        found = trace.tools.pop(call.id, None) if trace is not None else None
        if found is None:
            return
        span, started = found
        if span is not None:
            if self.content:
                span.set_attribute("gen_ai.tool.call.result", _text(result.content))
            if result.is_error:
                _error(span, None, "tool_error")
            span.end()
        if self.level == logging.DEBUG:
            logger.debug(
                "Tool call %s (%s) %s in %.1f ms.",
                _plain(call.name),
                _plain(call.id),
                "failed" if result.is_error else "returned",
                (time.perf_counter() - started) * 1000,
            )


class InstrumentedModel(Model):
    """A model whose requests are ``chat {model}`` spans (under their run's span); ``inner`` is
    the model it wraps (what :func:`agentkit.pricing.price_for` looks through)."""

    def __init__(self, inner: Model, tracer: Any, content: bool) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.provider = inner.provider
        self.context_length = inner.context_length
        self._tracer = tracer
        self._content = content

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _start(self, request: ModelRequest) -> Any:
        """The request's span, started (``None`` when its run is not sampled)."""
        found = _pending.pop(id(request), None)
        parent = None
        if found is not None and found[0] is request:
            parent = found[1]
            if parent is None:
                return None
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": self.provider or "unknown",
            "gen_ai.request.model": self.model_name,
        }
        settings = request.settings
        for field, key in _PARAMS:
            value = getattr(settings, field)
            if value is not None:
                attributes[key] = value
        stop = settings.stop
        if stop is not None:
            attributes["gen_ai.request.stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if self._content:
            attributes["gen_ai.input.messages"] = _text(list(request.messages))
        return self._tracer.start_span(
            f"chat {self.model_name}", context=parent, kind=_otel.SpanKind.CLIENT, attributes=attributes
        )

    def _done(self, span: Any, response: ModelResponse) -> None:
        usage = response.usage
        attributes: dict[str, Any] = {
            "gen_ai.usage.input_tokens": usage.prompt_tokens,
            "gen_ai.usage.output_tokens": usage.completion_tokens,
        }
        if response.model_name:
            attributes["gen_ai.response.model"] = response.model_name
        if response.response_id:
            attributes["gen_ai.response.id"] = response.response_id
        if response.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = (response.finish_reason,)
        if self._content:
            attributes["gen_ai.output.messages"] = _text([response.message])
        span.set_attributes(attributes)
        span.end()

    async def request(self, request: ModelRequest) -> ModelResponse:
        """The wrapped model's answer, as a ``chat`` span."""
        context = _otel_context
        span = self._start(request)
        if span is None:
            return await self.inner.request(request)
        token = context.attach(_otel.set_span_in_context(span))
        try:
            response = await self.inner.request(request)
        except BaseException as e:
            _error(span, e)
            span.end()
            raise
        finally:
            context.detach(token)
        self._done(span, response)
        return response

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        """The wrapped model's events; the ``chat`` span ends with the stream (time to first token recorded)."""
        context = _otel_context
        span = self._start(request)
        events = self.inner.stream(request)
        if span is None:
            try:
                async for event in events:
                    yield event
            finally:
                await events.aclose()
            return
        current = _otel.set_span_in_context(span)
        started = time.perf_counter()
        first = True
        ended = False
        try:
            while True:
                token = context.attach(current)  # attached and detached within one step: never across a yield
                try:
                    event = await events.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    context.detach(token)
                if first:
                    first = False
                    ttft = time.perf_counter() - started
                    span.set_attribute("gen_ai.response.time_to_first_chunk", ttft)
                    span.add_event("gen_ai.first_chunk", {"gen_ai.response.time_to_first_chunk": ttft})
                if isinstance(event, ResponseComplete):
                    ended = True
                    self._done(span, event.response)
                yield event
        except BaseException as e:
            if not ended:
                if isinstance(e, GeneratorExit):
                    span.add_event("agentkit.stream_closed")
                else:
                    _error(span, e)
                span.end()
                ended = True
            raise
        finally:
            await events.aclose()
            if not ended:
                span.end()

    def with_rate_limit_retries(self, enabled: bool) -> Model:
        """The wrapped model's copy, wrapped too."""
        inner = self.inner.with_rate_limit_retries(enabled)
        return self if inner is self.inner else InstrumentedModel(inner, self._tracer, self._content)

    async def aclose(self) -> None:
        """Close the wrapped model."""
        await self.inner.aclose()

    def __repr__(self) -> str:
        return repr(self.inner)
