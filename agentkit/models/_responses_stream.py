"""Responses API streaming: typed SSE events → agentkit events → the final response.

:class:`ResponsesStreamAssembler` is pure (no I/O): feed it the decoded events in order and it
returns the agentkit events each one produces. The Responses API names each event in its JSON
``type`` (OpenRouter sends no SSE ``event:`` line, so that line is never read):

* ``response.output_item.added`` with a ``function_call`` item starts a tool call (its
  ``call_id`` and ``name``); ``response.function_call_arguments.delta`` events carry its
  arguments, found by ``item_id`` (then ``output_index``); ``response.output_item.done`` makes
  it ready. Several calls may stream at once.
* ``response.output_text.delta``, ``response.reasoning_summary_text.delta`` /
  ``response.reasoning_text.delta`` and ``response.refusal.delta`` carry text. A new reasoning
  part starts with a blank line, as :meth:`~.responses.ResponsesModel.parse_response` joins
  them, so the reasoning deltas add up to the final ``reasoning``.
* ``response.completed`` and ``response.incomplete`` end the stream with the whole response
  object, which :meth:`~.responses.ResponsesModel.parse_response` turns into the final
  :class:`~.base.ModelResponse`: a streamed answer is exactly the non-streamed one. Anything the
  deltas missed (a server that sends whole items, or nothing but the final object) is caught up
  with events before :class:`~agentkit.events.ResponseComplete`.
* ``response.failed`` and ``error`` events (and a bare ``{"error": ...}`` chunk) raise the typed
  :class:`~agentkit.errors.ProviderError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProviderError, StreamEndedEarly, error_class_for_status
from ..events import (
    ModelStreamEvent,
    ReasoningDelta,
    ResponseComplete,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallReady,
    ToolCallStarted,
)
from ..messages import AssistantMessage, ToolCall
from ..usage import Usage
from .base import ModelResponse

__all__ = ["ResponsesStreamAssembler", "ERROR_CODE_STATUS"]

ERROR_CODE_STATUS = {
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "server_is_overloaded": 503,
    "slow_down": 503,
    "context_length_exceeded": 400,
    "invalid_prompt": 400,
    "invalid_request_error": 400,
    "invalid_image": 400,
}
"""String error codes of a failed response or an ``error`` event → the HTTP status whose error
class (:func:`~agentkit.errors.error_class_for_status`) fits them best."""

_FINAL = ("response.completed", "response.incomplete")


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)


@dataclass
class _Call:
    id: str
    name: str
    index: int
    parts: list[str] = field(default_factory=list)
    ready: bool = False

    @property
    def arguments(self) -> str:
        return "".join(self.parts)


class ResponsesStreamAssembler:
    """Turns Responses API stream events into agentkit events, ending in :class:`ResponseComplete`.

    Args:
        parse_response: the model's ``parse_response`` (a whole response object →
            :class:`ModelResponse`), used on the final event's ``response``.
        chunk_error: maps ``{"error": {...}}`` to the exception to raise
            (:meth:`~._http.HTTPClient.chunk_error`: the provider's words, the key redacted).
        provider: the provider's name, for :class:`~agentkit.errors.StreamEndedEarly`.
    """

    def __init__(
        self,
        parse_response: Callable[[Any], ModelResponse],
        chunk_error: Callable[[dict[str, Any]], ProviderError],
        provider: str = "",
    ) -> None:
        self._parse = parse_response
        self._chunk_error = chunk_error
        self._provider = provider
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._reasoning_part: Any = None
        self._refusal: list[str] = []
        self._calls: list[_Call] = []
        self._by_item: dict[Any, _Call] = {}
        self.model_name: str | None = None
        self.response_id: str | None = None
        self.response: ModelResponse | None = None
        """The final response, once ``response.completed`` / ``response.incomplete`` arrived."""
        self.events = 0
        """How many events were fed."""

    @property
    def done(self) -> bool:
        """Whether the final event has arrived (later events are ignored)."""
        return self.response is not None

    def feed(self, event: Any) -> list[ModelStreamEvent]:
        """Take one decoded event; return the agentkit events it produces (the final one ends in
        :class:`ResponseComplete`). Raises the typed error of ``error`` / ``response.failed``."""
        if not isinstance(event, dict) or self.done:
            return []
        self.events += 1
        kind = event.get("type")
        out: list[ModelStreamEvent] = []
        if kind == "response.output_text.delta":  # most events: no table lookup
            delta = event.get("delta")
            if isinstance(delta, str) and delta:
                self._text.append(delta)
                out.append(TextDelta(delta))
            return out
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            handler(self, event, out)
        elif kind is None and event.get("error"):  # a bare {"error": ...} chunk
            raise self._error(event)
        return out

    # -- one method per event type (the table after the class) ------------------------------
    def _on_arguments_delta(self, event: dict[str, Any], out: list[ModelStreamEvent]) -> None:
        delta = event.get("delta")
        if isinstance(delta, str) and delta:
            call = self._call_for(event, out)
            call.parts.append(delta)
            out.append(ToolCallArgsDelta(call.id, delta, call.index))

    def _on_refusal_delta(self, event: dict[str, Any], out: list[ModelStreamEvent]) -> None:
        delta = event.get("delta")
        if isinstance(delta, str):
            self._refusal.append(delta)

    def _on_item_added(self, event: dict[str, Any], out: list[ModelStreamEvent]) -> None:
        item = event.get("item")
        if isinstance(item, dict) and item.get("type") == "function_call":
            self._start(item, event.get("output_index"), out)

    def _on_arguments_done(self, event: dict[str, Any], out: list[ModelStreamEvent]) -> None:
        call = self._call_for(event, out)
        if not call.name and event.get("name"):
            call.name = str(event["name"])
        self._catch_up(call, event.get("arguments"), out)

    def _on_item_done(self, event: dict[str, Any], out: list[ModelStreamEvent]) -> None:
        item = event.get("item")
        if isinstance(item, dict) and item.get("type") == "function_call":
            self._ready(self._start(item, event.get("output_index"), out), item.get("arguments"), out)

    def _on_progress(self, event: dict[str, Any], out: list[ModelStreamEvent]) -> None:
        self._snapshot(event.get("response"))

    def _on_final(self, event: dict[str, Any], out: list[ModelStreamEvent]) -> None:
        self._finish(event.get("response"), out)

    def _on_failed(self, event: dict[str, Any], out: list[ModelStreamEvent]) -> None:
        raise self._failed(event.get("response"))

    def _on_error(self, event: dict[str, Any], out: list[ModelStreamEvent]) -> None:
        raise self._error(event)

    # -- pieces ---------------------------------------------------------------------------
    def _snapshot(self, response: Any) -> None:
        if isinstance(response, dict):
            self.response_id = _text(response.get("id")) or self.response_id
            self.model_name = _text(response.get("model")) or self.model_name

    def _start(self, item: dict[str, Any], output_index: Any, out: list[ModelStreamEvent]) -> _Call:
        """The call of a ``function_call`` item (started now, with its event, if it is new)."""
        call = self._by_item.get(item.get("id")) if item.get("id") else None
        if call is None and output_index is not None:
            call = self._by_item.get(("output", output_index))
        if call is None:
            call_id = item.get("call_id") or item.get("id") or f"call_{len(self._calls)}"
            call = _Call(str(call_id), str(item.get("name") or ""), len(self._calls))
            self._calls.append(call)
            out.append(ToolCallStarted(call.id, call.name, call.index))
        if item.get("id"):
            self._by_item[item["id"]] = call
        if output_index is not None:
            self._by_item[("output", output_index)] = call
        self._catch_up(call, item.get("arguments"), out)
        return call

    def _call_for(self, event: dict[str, Any], out: list[ModelStreamEvent]) -> _Call:
        """The call an arguments event belongs to: by ``item_id``, then ``output_index``."""
        call = self._by_item.get(event.get("item_id")) if event.get("item_id") else None
        if call is None and event.get("output_index") is not None:
            call = self._by_item.get(("output", event["output_index"]))
        if call is None:  # no output_item.added came for it: start it here
            item = {"id": event.get("item_id"), "call_id": event.get("call_id"), "name": event.get("name")}
            call = self._start(item, event.get("output_index"), out)
        return call

    def _catch_up(self, call: _Call, arguments: Any, out: list[ModelStreamEvent]) -> None:
        """Emit what the whole ``arguments`` has beyond the deltas seen so far."""
        if arguments is None or arguments == "":
            return
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        seen = call.arguments
        if text == seen:
            return
        if text.startswith(seen):
            rest = text[len(seen) :]
            call.parts.append(rest)
            out.append(ToolCallArgsDelta(call.id, rest, call.index))
        else:  # the deltas disagree with the whole: the whole wins
            call.parts = [text]

    def _ready(self, call: _Call, arguments: Any, out: list[ModelStreamEvent]) -> None:
        self._catch_up(call, arguments, out)
        if call.ready:
            return
        call.ready = True
        raw = call.arguments
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except (ValueError, RecursionError):
            parsed = None
        out.append(ToolCallReady(call.id, call.name, parsed, raw))

    def _reasoning_delta(self, event: dict[str, Any], out: list[ModelStreamEvent]) -> None:
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta:
            return
        part = (
            event.get("type"),
            event.get("item_id") or event.get("output_index"),
            event.get("summary_index", event.get("content_index")),
        )
        if part != self._reasoning_part:
            if self._reasoning:  # parse_response joins parts and items with a blank line
                delta = "\n\n" + delta
            self._reasoning_part = part
        self._reasoning.append(delta)
        out.append(ReasoningDelta(delta))

    def _finish(self, data: Any, out: list[ModelStreamEvent]) -> None:
        """The final event: parse its response; emit what the deltas missed; then ResponseComplete."""
        response = self._parse(data)
        message = response.message
        self._catch_up_text(TextDelta, "".join(self._text), message.content, out)
        self._catch_up_text(ReasoningDelta, "".join(self._reasoning), message.reasoning, out)
        by_id = {call.id: call for call in self._calls}
        for call in message.tool_calls:
            streamed = by_id.get(call.id)
            if streamed is None:
                streamed = _Call(call.id, call.name, len(self._calls))
                self._calls.append(streamed)
                out.append(ToolCallStarted(call.id, call.name, streamed.index))
            self._ready(streamed, call.arguments, out)
        self.response = response
        out.append(ResponseComplete(response))

    @staticmethod
    def _catch_up_text(
        kind: type[TextDelta] | type[ReasoningDelta], seen: str, final: str | None, out: list[ModelStreamEvent]
    ) -> None:
        if final and len(final) > len(seen) and final.startswith(seen):
            out.append(kind(final[len(seen) :]))

    def _failed(self, response: Any) -> ProviderError:
        error = response.get("error") if isinstance(response, dict) else None
        if not isinstance(error, dict) or not error.get("message"):
            status = response.get("status") if isinstance(response, dict) else None
            error = {**(error or {}), "message": f"the response failed (status {status or 'unknown'}) without a message"}
        return self._typed(error)

    def _error(self, event: dict[str, Any]) -> ProviderError:
        error = event.get("error")
        if not isinstance(error, dict):
            error = {k: event[k] for k in ("message", "code", "param") if event.get(k) is not None}
            if isinstance(event.get("error"), str):
                error.setdefault("message", event["error"])
        return self._typed(error)

    def _typed(self, error: dict[str, Any]) -> ProviderError:
        """``chunk_error``'s exception; a string code OpenAI documents picks the error class."""
        exc = self._chunk_error({"error": error})
        code = error.get("code") or error.get("type")
        status = ERROR_CODE_STATUS.get(code) if isinstance(code, str) else None
        if status is None or exc.status != 200:
            return exc
        return error_class_for_status(status)(
            exc.message,
            status=status,
            provider=exc.provider,
            code=exc.code,
            type=exc.type,
            request_id=exc.request_id,
            body=exc.body,
        )

    def partial(self) -> ModelResponse:
        """The response assembled from what arrived so far (no usage, no finish reason)."""
        calls = [ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in self._calls]
        message = AssistantMessage(
            content="".join(self._text) or None,
            tool_calls=calls,
            reasoning="".join(self._reasoning) or None,
            refusal="".join(self._refusal) or None,
        )
        return ModelResponse(message, usage=Usage(requests=1), model_name=self.model_name, response_id=self.response_id)

    def ended_early(self, why: str) -> StreamEndedEarly:
        """The error for a stream that ended before its final event, with :meth:`partial` on it."""
        return StreamEndedEarly(
            f"the stream ended early ({why}), after {self.events} events, without response.completed",
            partial=self.partial(),
            provider=self._provider,
        )


_Handler = Callable[[ResponsesStreamAssembler, dict[str, Any], list[ModelStreamEvent]], None]
_HANDLERS: dict[str, _Handler] = {
    "response.function_call_arguments.delta": ResponsesStreamAssembler._on_arguments_delta,
    "response.reasoning_summary_text.delta": ResponsesStreamAssembler._reasoning_delta,
    "response.reasoning_text.delta": ResponsesStreamAssembler._reasoning_delta,
    "response.refusal.delta": ResponsesStreamAssembler._on_refusal_delta,
    "response.output_item.added": ResponsesStreamAssembler._on_item_added,
    "response.function_call_arguments.done": ResponsesStreamAssembler._on_arguments_done,
    "response.output_item.done": ResponsesStreamAssembler._on_item_done,
    "response.created": ResponsesStreamAssembler._on_progress,
    "response.in_progress": ResponsesStreamAssembler._on_progress,
    "response.queued": ResponsesStreamAssembler._on_progress,
    **dict.fromkeys(_FINAL, ResponsesStreamAssembler._on_final),
    "response.failed": ResponsesStreamAssembler._on_failed,
    "error": ResponsesStreamAssembler._on_error,
}
"""What :meth:`ResponsesStreamAssembler.feed` does with each event ``type`` but text deltas (which it
handles itself, first); other types are ignored."""
