"""Chat-completions streaming: SSE chunks → typed events → one assembled response.

:class:`ChatStreamAssembler` is pure (no I/O): feed it decoded chunks in order, it returns the
events each one produces and, at the end, the whole :class:`ModelResponse`. That keeps the
dialect quirks testable on their own:

* tool-call deltas are matched by ``id``, then ``index``; ``id``/``type``/``name`` come only in
  the first delta of a call (OpenAI), or whole calls arrive in one delta (Mistral), several in
  one chunk, ``index`` sometimes missing; a call without an ``id`` gets a unique one;
* usage comes from a trailing ``choices: []`` chunk (OpenAI, OpenRouter) or from the last
  content chunk (Mistral); the finish reason from whichever chunk carries it; tool calls are
  detected by presence, not by finish reason;
* a chunk with a top-level ``error`` (OpenRouter, inside an HTTP 200 stream) raises the typed
  provider error.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProviderError, StreamEndedEarly
from ..events import ModelStreamEvent, ReasoningDelta, TextDelta, ToolCallArgsDelta, ToolCallReady, ToolCallStarted
from ..messages import AssistantMessage, ToolCall
from .base import ModelResponse

__all__ = ["ChatStreamAssembler"]


def _text(value: Any) -> Any:
    """A string field: strings (and None) as they are, anything else as text."""
    return value if value is None or isinstance(value, str) else str(value)


@dataclass
class _Call:
    id: str
    position: int
    synthetic_id: bool = False
    name: str = ""
    parts: list[str] = field(default_factory=list)
    started: bool = False


class ChatStreamAssembler:
    """Turns chat-completion chunks into events and, at the end, one :class:`ModelResponse`.

    Events keep one order per tool call: ``ToolCallStarted`` (once its name is known), then its
    ``ToolCallArgsDelta`` fragments; ``finish`` adds one ``ToolCallReady`` per call.

    Args:
        chunk_error: maps a chunk's ``error`` object to the exception to raise.
        parse_usage: maps a ``usage`` object to :class:`~agentkit.usage.Usage`.
        provider: the provider's name, for :class:`~agentkit.errors.StreamEndedEarly`.
    """

    def __init__(
        self,
        chunk_error: Callable[[dict[str, Any]], ProviderError],
        parse_usage: Callable[[Any], Any],
        provider: str = "",
    ) -> None:
        self._chunk_error = chunk_error
        self._parse_usage = parse_usage
        self._provider = provider
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: list[_Call] = []
        self._by_index: dict[Any, _Call] = {}
        self._by_id: dict[Any, _Call] = {}
        self._usage: Any = None
        self._details: dict[str, Any] = {}
        self.finish_reason: str | None = None
        self.model_name: str | None = None
        self.response_id: str | None = None
        self.chunks = 0

    def feed(self, chunk: Any) -> list[ModelStreamEvent]:
        """Take one decoded chunk; return the events it produces (often one text delta)."""
        if not isinstance(chunk, dict):
            return []
        self.chunks += 1
        if chunk.get("error"):
            raise self._chunk_error(chunk)
        if self.response_id is None:
            self.response_id = _text(chunk.get("id"))
            self.model_name = _text(chunk.get("model"))
        if chunk.get("provider"):
            self._details["provider"] = chunk["provider"]
        usage = chunk.get("usage")
        if usage:
            self._usage = usage
        choices = chunk.get("choices")
        if not choices:
            return []
        choice = choices[0]
        if choice.get("finish_reason"):
            self.finish_reason = _text(choice["finish_reason"])
        if choice.get("native_finish_reason"):
            self._details["native_finish_reason"] = choice["native_finish_reason"]
        delta = choice.get("delta")
        if not delta:
            return []
        return self._delta(delta)

    def _delta(self, delta: dict[str, Any]) -> list[ModelStreamEvent]:
        """The events of one choice's ``delta``: text, reasoning, tool-call fragments."""
        events: list[ModelStreamEvent] = []
        content = delta.get("content")
        if content:
            if isinstance(content, str):
                self._text.append(content)
                events.append(TextDelta(content))
            else:
                self._content_parts(content, events)
        reasoning = delta.get("reasoning") or delta.get("reasoning_content")
        if reasoning:
            if not isinstance(reasoning, str):
                raise TypeError(f"reasoning is {type(reasoning).__name__}, not text")
            self._reasoning.append(reasoning)
            events.append(ReasoningDelta(reasoning))
        details = delta.get("reasoning_details")
        if details:
            kept = self._details.setdefault("reasoning_details", [])
            if isinstance(details, list):
                kept.extend(details)
            else:
                kept.append(details)
        if delta.get("refusal"):
            self._details["refusal"] = self._details.get("refusal", "") + delta["refusal"]  # TypeError unless text
        tool_calls = delta.get("tool_calls")
        if tool_calls:
            several = len(tool_calls) > 1
            for position, raw in enumerate(tool_calls):
                self._tool_delta(raw, position if several else -1, events)
        return events

    def _content_parts(self, content: Any, events: list[ModelStreamEvent]) -> None:
        for part in content if isinstance(content, list) else [content]:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text" and part.get("text"):
                text = _text(part["text"])
                self._text.append(text)
                events.append(TextDelta(text))
            elif kind in ("thinking", "reasoning"):
                inner = part.get("thinking", part.get("text", ""))
                texts = [p.get("text", "") for p in inner if isinstance(p, dict)] if isinstance(inner, list) else [inner]
                for text in texts:
                    if text:
                        text = _text(text)
                        self._reasoning.append(text)
                        events.append(ReasoningDelta(text))

    def _tool_delta(self, raw: Any, position: int, events: list[ModelStreamEvent]) -> None:
        if not isinstance(raw, dict):
            return
        function = raw.get("function")
        if not isinstance(function, dict):
            if function is not None:
                raise TypeError(f"a tool call's function is {type(function).__name__}, not an object")
            function = {}
        call_id = raw.get("id")
        name = function.get("name")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"a tool call's name is {type(name).__name__}, not text")
        arguments = function.get("arguments")
        call = self._find(raw.get("index"), call_id, name, position)
        if call is None:
            if not (call_id or name or arguments):
                return  # an empty delta with nothing to attach to
            call = self._new_call(raw.get("index"), call_id)
        elif call_id and call.synthetic_id and not call.started:
            call.id, call.synthetic_id = call_id, False  # no event has used the made-up id yet
            self._by_id[call_id] = call
        if arguments is not None and arguments != "":
            call.parts.append(arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False))
            if call.started:
                events.append(ToolCallArgsDelta(call.id, call.parts[-1], call.position))
        if name and not call.started:
            call.name = name
            call.started = True
            events.append(ToolCallStarted(call.id, name, call.position))
            if call.parts:  # arguments that came before the name
                events.append(ToolCallArgsDelta(call.id, "".join(call.parts), call.position))

    def _find(self, index: Any, call_id: Any, name: Any, position: int) -> _Call | None:
        """The call a delta continues, or None when it starts a new one.

        By ``id`` first (whole calls, re-sent ids), then by ``index``, unless the delta starts a
        call with another id there (Ollama numbers parallel calls all 0). With neither known: a
        named delta starts a call; a nameless fragment continues the call at its position in the
        chunk (when the chunk holds several), else the latest call.
        """
        if call_id is not None:
            call = self._by_id.get(call_id)
            if call is not None:
                return call
        if index is not None:
            call = self._by_index.get(index)
            if call is not None and name and call_id and call.started and not call.synthetic_id:
                return None  # a new id and name at a used index: a new call
            return call
        if name or not self._calls:
            return None
        return self._calls[position] if 0 <= position < len(self._calls) else self._calls[-1]

    def _new_call(self, index: Any, call_id: Any) -> _Call:
        position = len(self._calls)
        if call_id:
            call = _Call(id=str(call_id), position=position)
            self._by_id[call_id] = call
        else:
            call = _Call(id=f"call_{position}_{uuid.uuid4().hex[:12]}", position=position, synthetic_id=True)
        self._calls.append(call)
        if index is not None:
            self._by_index[index] = call
        return call

    @property
    def raw_usage(self) -> Any:
        """The last ``usage`` object received, as sent (None before any)."""
        return self._usage

    @property
    def complete(self) -> bool:
        """Whether a finish reason has arrived."""
        return self.finish_reason is not None

    def finish(self, *, saw_done: bool) -> tuple[list[ModelStreamEvent], ModelResponse]:
        """End of stream: the ready events for each tool call, and the assembled response.

        Raises :class:`~agentkit.errors.StreamEndedEarly` when the stream ended with neither
        ``[DONE]`` nor a finish reason (what arrived is on the exception's ``partial``).
        """
        events: list[ModelStreamEvent] = []
        calls = []
        for call in self._calls:
            arguments = "".join(call.parts)
            calls.append(ToolCall(id=call.id, name=call.name, arguments=arguments))
            try:
                parsed = json.loads(arguments) if arguments.strip() else {}
            except (ValueError, RecursionError):
                parsed = None
            events.append(ToolCallReady(call.id, call.name, parsed, arguments))
        details = dict(self._details)
        refusal = details.pop("refusal", None)
        message = AssistantMessage(
            content="".join(self._text) if self._text or not calls else None,
            tool_calls=calls,
            reasoning="".join(self._reasoning) or None,
            refusal=refusal,
            provider_details=details,
        )
        response = ModelResponse(
            message=message,
            usage=self._parse_usage(self._usage),
            finish_reason=self.finish_reason,
            model_name=self.model_name,
            response_id=self.response_id,
        )
        if not saw_done and not self.complete:
            raise StreamEndedEarly(
                f"the stream ended early, after {self.chunks} chunks, with neither [DONE] nor a finish reason",
                partial=response,
                provider=self._provider,
            )
        return events, response
