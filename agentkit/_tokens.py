"""Prompt-token estimates without a tokenizer: UTF-8 bytes per token, per-message overheads, tool
definitions; calibrated by the ``prompt_tokens`` a provider reported for earlier requests.

:class:`TokenCounter` is public through :mod:`agentkit.history`; it lives here, below the models,
because an HTTP model uses one for its context-length check (:func:`check_context_length`).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .content import UserContent
from .errors import ContextLengthExceeded
from .messages import AssistantMessage, Message, ToolMessage

if TYPE_CHECKING:
    from ._exchange import ModelRequest
    from .tools import ToolDefinition

__all__ = ["TokenCounter", "check_context_length"]

IMAGE_TOKENS = 768
"""What one image part counts for (OpenAI's cost of a 512-pixel tile in high detail, rounded up)."""

_MIN_SCALE, _MAX_SCALE = 0.2, 5.0
_TOLERANCE_CALIBRATED = 0.1
_TOLERANCE_UNCALIBRATED = 0.4


def text_bytes(text: str) -> int:
    """The UTF-8 length of ``text`` (``len`` for ASCII, which ``str.isascii`` tells in O(1))."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def _parts_bytes(parts: Sequence[UserContent]) -> tuple[int, int]:
    """(bytes of text, number of media parts) of a user message's parts. Each image, document or
    audio part counts as ``IMAGE_TOKENS``: providers count them by pixels, pages or seconds, which
    no byte size tells, and a guess must not refuse a request that fits."""
    size = parts_count = 0
    for part in parts:
        if isinstance(part, str):
            size += text_bytes(part)
        else:
            parts_count += 1
    return size, parts_count


@dataclass
class _Record:
    """One recorded request: its messages and tools (kept by reference), the uncalibrated
    estimate and what the provider reported."""

    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...]
    schema: dict[str, Any] | None
    raw: float
    reported: int


class TokenCounter:
    """Estimates how many prompt tokens a request costs, without a tokenizer and without network.

    The uncalibrated estimate counts UTF-8 bytes (``bytes_per_token`` of them per token), a fixed
    overhead per message, per tool call and per request, and the tool definitions (their name,
    description and JSON schema). :meth:`record` tells it what the provider reported for a request
    it sent; from then on :meth:`estimate`:

    * scales its raw estimate by the ratio reported/estimated over the last records (the ratio is
      per tokenizer, so use one counter per model);
    * for a request that extends a recorded one (the same tools, the recorded messages as its
      prefix: the next turn of the same run), starts from the reported count and estimates only
      the messages added since.

    The processors of :mod:`agentkit.history` record into their counter by themselves: at each
    request they see the run's usage, and the ``prompt_tokens`` added since the request before
    is what the provider counted for the messages they sent then.

    Args:
        bytes_per_token: UTF-8 bytes of text per token before calibration.
        message_overhead: tokens each message costs besides its text (role, separators).
        call_overhead: tokens each tool call costs besides its name, arguments and id.
        request_overhead: tokens each request costs once (the reply's priming).
        tool_overhead: tokens each tool definition costs besides its JSON.
        window: how many recent records the calibration ratio is taken over.
    """

    def __init__(
        self,
        *,
        bytes_per_token: float = 3.5,
        message_overhead: float = 4.0,
        call_overhead: float = 3.0,
        request_overhead: float = 3.0,
        tool_overhead: float = 8.0,
        window: int = 16,
    ) -> None:
        if bytes_per_token <= 0 or window < 1:
            raise ValueError("bytes_per_token must be positive and window at least 1")
        self.bytes_per_token = bytes_per_token
        self.message_overhead = message_overhead
        self.call_overhead = call_overhead
        self.request_overhead = request_overhead
        self.tool_overhead = tool_overhead
        self._records: deque[_Record] = deque(maxlen=window)
        self._tools_cache: tuple[tuple[ToolDefinition, ...], float, int] | None = None

    # -- the uncalibrated estimate ------------------------------------------------------------
    def message_cost(self, message: Message) -> float:
        """The raw (uncalibrated) tokens of one message, its overhead included."""
        bpt = self.bytes_per_token
        cost = self.message_overhead
        if isinstance(message, AssistantMessage):
            if message.content:
                cost += text_bytes(message.content) / bpt
            for call in message.tool_calls:
                size = text_bytes(call.name) + text_bytes(call.arguments) + text_bytes(call.id)
                cost += self.call_overhead + size / bpt
        elif isinstance(message, ToolMessage):  # a tool's images and files count as a prompt's do
            cost += (text_bytes(message.content) + text_bytes(message.tool_call_id)) / bpt
            cost += len(message.attachments) * IMAGE_TOKENS
        elif isinstance(message.content, str):
            cost += text_bytes(message.content) / bpt
        else:
            size, images = _parts_bytes(message.content)
            cost += size / bpt + images * IMAGE_TOKENS
        return cost

    def message_costs(self, messages: Sequence[Message]) -> list[float]:
        """:meth:`message_cost` of each message (uncalibrated)."""
        return [self.message_cost(m) for m in messages]

    def fixed_cost(self, tools: Sequence[ToolDefinition] = (), output_schema: dict[str, Any] | None = None) -> float:
        """The raw tokens of a request besides its messages: the request overhead, the tool
        definitions (computed once per tuple of tools) and a ``response_format`` schema."""
        cost = self.request_overhead
        if tools:
            cost += self._tools(tools)[0]
        if output_schema is not None:
            cost += self._json_bytes(output_schema) / self.bytes_per_token
        return cost

    def _tools(self, tools: Sequence[ToolDefinition]) -> tuple[float, int]:
        """(raw tokens, UTF-8 bytes) of tool definitions; computed once per tuple (an agent sends the same one every turn)."""
        cached = self._tools_cache
        if cached is not None and cached[0] is tools:
            return cached[1], cached[2]
        sizes = [self._json_bytes([t.name, t.description, t.parameters]) for t in tools]
        cost = sum(self.tool_overhead + size / self.bytes_per_token for size in sizes)
        if isinstance(tools, tuple):
            self._tools_cache = (tools, cost, sum(sizes))
        return cost, sum(sizes)

    @staticmethod
    def _json_bytes(value: Any) -> int:
        return text_bytes(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str))

    def raw(
        self, messages: Sequence[Message], tools: Sequence[ToolDefinition] = (), output_schema: dict[str, Any] | None = None
    ) -> float:
        """The uncalibrated estimate of a request's prompt tokens."""
        return self.fixed_cost(tools, output_schema) + sum(self.message_costs(messages))

    # -- calibration --------------------------------------------------------------------------
    def record(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        prompt_tokens: int,
        *,
        output_schema: dict[str, Any] | None = None,
    ) -> None:
        """What the provider reported (``usage.prompt_tokens``) for a request of these messages and
        tools. Counts of zero or less (a provider that reports no usage) are ignored."""
        if not isinstance(prompt_tokens, int) or isinstance(prompt_tokens, bool) or prompt_tokens <= 0:
            return
        kept = tuple(messages)
        raw = self.raw(kept, tools, output_schema)
        if raw > 0:
            self._records.append(_Record(kept, tuple(tools), output_schema, raw, prompt_tokens))

    @property
    def samples(self) -> int:
        """How many reported counts the calibration rests on (0: uncalibrated)."""
        return len(self._records)

    @property
    def scale(self) -> float:
        """Reported tokens per estimated token over the recent records (1.0 before any)."""
        records = self._records
        if not records:
            return 1.0
        ratio = sum(r.reported for r in records) / sum(r.raw for r in records)
        return min(max(ratio, _MIN_SCALE), _MAX_SCALE)

    def estimate(
        self, messages: Sequence[Message], tools: Sequence[ToolDefinition] = (), *, output_schema: dict[str, Any] | None = None
    ) -> int:
        """The estimated prompt tokens of a request of ``messages`` and ``tools`` (calibrated when
        counts were recorded; see the class docstring)."""
        costs = self.message_costs(messages)
        raw = self.fixed_cost(tools, output_schema) + sum(costs)
        scale = self.scale
        anchor = self._anchor(messages, tools, output_schema)
        if anchor is not None:
            added = sum(costs[len(anchor.messages) :])
            return round(anchor.reported + scale * added)
        return round(scale * raw)

    def _anchor(
        self, messages: Sequence[Message], tools: Sequence[ToolDefinition], schema: dict[str, Any] | None
    ) -> _Record | None:
        """The latest record whose request ``messages`` extends (same tools, its messages a prefix)."""
        for record in reversed(self._records):
            sent = record.messages
            if len(sent) > len(messages) or record.schema != schema:
                continue
            if record.tools is not tools and record.tools != tuple(tools):
                continue
            if all(a is b or a == b for a, b in zip(sent, messages[: len(sent)], strict=True)):
                return record
        return None

    def __repr__(self) -> str:
        return f"TokenCounter(bytes_per_token={self.bytes_per_token}, samples={self.samples}, scale={self.scale:.3f})"


def _upper_bound(request: ModelRequest) -> int:
    """A quick bound on a request's prompt tokens: one per character (a token is at least one byte;
    non-ASCII characters are rare enough), plus the overheads. Costs a pass of ``len`` calls."""
    size = 16
    for m in request.messages:
        size += 16
        if isinstance(m, AssistantMessage):
            size += len(m.content or "") + sum(len(c.arguments) + len(c.name) + len(c.id) + 8 for c in m.tool_calls)
        elif isinstance(m, ToolMessage):
            size += len(m.content) + len(m.tool_call_id) + len(m.attachments) * IMAGE_TOKENS
        elif isinstance(m.content, str):
            size += len(m.content)
        else:
            text, images = _parts_bytes(m.content)
            size += text + images * IMAGE_TOKENS
    return size


def check_context_length(request: ModelRequest, limit: int, counter: TokenCounter, model: str, provider: str) -> None:
    """Raise :class:`~agentkit.errors.ContextLengthExceeded` when ``request`` cannot fit ``limit``.

    Near-free for requests far below the limit: one character is at most about one token, so a
    request whose characters fit is let through without an estimate. Closer to the limit the
    counter estimates it, and the request is refused only when even the low end of the estimate
    (10 % below when the counter is calibrated, 40 % below before) is over the limit: a request
    the provider might accept is never refused here.
    """
    reserve = request.settings.max_tokens or 0
    available = limit - reserve
    if _upper_bound(request) + (counter._tools(request.tools)[1] + 16 * len(request.tools) if request.tools else 0) <= available:
        return
    schema = request.output.schema if request.output is not None else None
    estimate = counter.estimate(request.messages, request.tools, output_schema=schema)
    tolerance = _TOLERANCE_CALIBRATED if counter.samples else _TOLERANCE_UNCALIBRATED
    if estimate * (1 - tolerance) <= available:
        return
    answer = f" plus max_tokens={reserve}" if reserve else ""
    raise ContextLengthExceeded(
        f"The request is about {estimate:,} tokens{answer}; {model}'s context length is {limit:,}. "
        "Trim the history (agentkit.history.fit_context() as a history processor), or use a model with a longer context.",
        estimate=estimate,
        limit=limit,
        max_tokens=request.settings.max_tokens,
        provider=provider,
    )
