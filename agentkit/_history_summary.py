"""summarize_older: the older turns replaced by one summary message that another model writes.

Internal to :mod:`agentkit.history`, which re-exports :func:`summarize_older` and
:class:`SummarizeOlder`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Union

from ._history_cuts import Layout, layout
from ._history_run import run_facts
from ._tokens import TokenCounter
from .content import part_label
from .context import RunContext
from .errors import UserError
from .messages import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage
from .settings import ModelSettings
from .usage import Usage

if TYPE_CHECKING:
    from .models.base import Model

__all__ = ["SummarizeOlder", "summarize_older", "is_summary", "SUMMARY_PREFIX", "SUMMARY_INSTRUCTIONS"]

SUMMARY_PREFIX = "[Summary of the earlier conversation, which is not shown]"
"""The first line of a summary message (:func:`is_summary` looks for it)."""

# the default instructions of the summarizing model (not in the API pages: a long string renders as one long line)
SUMMARY_INSTRUCTIONS = (
    "You condense the earlier part of a conversation between a user and an AI assistant that uses tools, "
    "so that the assistant can carry on without the full transcript. Keep every fact, decision, name, number, "
    "identifier, file and tool result the rest of the conversation may need, what the user asked for and what is "
    "still open. Write concise notes in the language of the conversation. Do not address the user and do not add "
    "anything that is not in the transcript."
)

_MEMO = 8192  # message digests kept (by identity: a run's history keeps the same objects)


def is_summary(message: Message) -> bool:
    """Whether ``message`` is a summary written by :func:`summarize_older`."""
    return (
        isinstance(message, (UserMessage, SystemMessage))
        and isinstance(message.content, str)
        and message.content.startswith(SUMMARY_PREFIX)
    )


class SummarizeOlder:
    """The history processor :func:`summarize_older` returns (see there).

    Attributes:
        usage: what the summarizing model used, summed (not counted in the runs' usage).
        calls: how many summaries it wrote.
    """

    def __init__(
        self,
        model: Model | str,
        *,
        keep_last: int = 4,
        budget: int | None = None,
        max_turns: int | None = None,
        instructions: str = SUMMARY_INSTRUCTIONS,
        role: Literal["user", "system"] = "user",
        counter: TokenCounter | None = None,
        settings: ModelSettings | None = None,
        keep_first_user: bool = True,
        keep_system: bool = True,
        max_message_chars: int = 4000,
        cache_size: int = 64,
    ) -> None:
        for name, value in (("keep_last", keep_last), ("max_message_chars", max_message_chars), ("cache_size", cache_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"summarize_older({name}=...) must be a positive int, not {value!r}.")
        if budget is not None and (not isinstance(budget, int) or budget < 1):
            raise UserError(f"summarize_older(budget=...) must be a positive int or None, not {budget!r}.")
        if max_turns is not None and (not isinstance(max_turns, int) or max_turns <= keep_last):
            raise UserError(f"summarize_older(max_turns=...) must be an int above keep_last ({keep_last}), not {max_turns!r}.")
        if role not in ("user", "system"):
            raise UserError(f"summarize_older(role=...) must be 'user' or 'system', not {role!r}.")
        self._model_spec: Union[Model, str] = model
        self._model: Model | None = None
        self.keep_last = keep_last
        self.budget = budget
        self.max_turns = max_turns if max_turns is not None else 2 * keep_last
        self.instructions = instructions
        self.role = role
        self.counter = counter
        self.settings = settings
        self.keep_first_user = keep_first_user
        self.keep_system = keep_system
        self.max_message_chars = max_message_chars
        self.usage = Usage()
        self.calls = 0
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size
        self._inflight: dict[str, asyncio.Future[str]] = {}
        self._memo: OrderedDict[int, tuple[Message, bytes]] = OrderedDict()
        self._own = TokenCounter()

    # -- the processor ------------------------------------------------------------------------
    async def __call__(self, ctx: RunContext[Any] | None, messages: list[Message]) -> list[Message]:
        """The messages to send: the older turns as one summary message when the history is over
        the size, the summary cached by the messages it summarizes."""
        lay = layout(messages, keep_system=self.keep_system, keep_first_user=self.keep_first_user)
        if len(lay.turns) <= self.keep_last:
            return list(messages)
        cut = lay.turns[-self.keep_last]
        keys = self._keys(messages, lay, cut)
        done = next((t for t in reversed(lay.turns) if t in keys and keys[t] in self._cache), None)
        previous = self._cache[keys[done]] if done is not None else None
        view = list(messages) if done is None or previous is None else self._view(messages, lay, done, previous)
        if not self._over(ctx, view, lay, done) or (done is not None and cut <= done):
            return view
        start = done if done is not None else 0
        # the first summary also reads the pinned first user message (kept as is, but the context of the rest)
        part = [
            messages[i]
            for i in range(start, cut)
            if i not in lay.pinned or (done is None and isinstance(messages[i], UserMessage))
        ]
        summary = await self._summary(keys[cut], previous, part)
        return self._view(messages, lay, cut, summary)

    def _over(self, ctx: RunContext[Any] | None, view: list[Message], lay: Layout, done: int | None) -> bool:
        """Whether the history as it would be sent is over the size (the budget, else max_turns)."""
        if self.budget is not None:
            facts = run_facts(ctx)
            counter = self.counter or facts.counter or self._own
            return counter.estimate(view, facts.tools, output_schema=facts.output_schema) > self.budget
        turns = [t for t in lay.turns if done is None or t >= done]
        return len(turns) > self.max_turns

    def _view(self, messages: Sequence[Message], lay: Layout, cut: int, summary: str) -> list[Message]:
        content = f"{SUMMARY_PREFIX}\n{summary}"
        message: Message = UserMessage(content=content) if self.role == "user" else SystemMessage(content=content)
        return lay.keep(messages, cut, extra=[message])

    # -- the cache ----------------------------------------------------------------------------
    def _keys(self, messages: Sequence[Message], lay: Layout, upto: int) -> dict[int, str]:
        """The cache key of the summarized part for each turn start up to ``upto``: a hash of the
        messages before it (but the leading system messages, which are kept as they are)."""
        pinned = {i for i in lay.pinned if isinstance(messages[i], SystemMessage)}  # the first user message is part of the key
        starts = {t for t in lay.turns if t <= upto}
        running = hashlib.sha256()
        keys: dict[int, str] = {}
        for i in range(upto + 1):
            if i in starts:
                keys[i] = running.hexdigest()
            if i < upto and i not in pinned:
                running.update(self._digest(messages[i]))
        return keys

    def _digest(self, message: Message) -> bytes:
        memo = self._memo
        found = memo.get(id(message))
        if found is not None and found[0] is message:
            return found[1]
        digest = hashlib.sha256(message.model_dump_json().encode()).digest()
        memo[id(message)] = (message, digest)
        if len(memo) > _MEMO:
            memo.popitem(last=False)
        return digest

    async def _summary(self, key: str, previous: str | None, part: Sequence[Message]) -> str:
        """The summary for ``key``: cached, being written (awaited), or written now."""
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        pending = self._inflight.get(key)
        if pending is not None and pending.get_loop() is loop:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = loop.create_future()
        self._inflight[key] = future
        try:
            text = await self._write(previous, part)
        except BaseException as e:
            if isinstance(e, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(e)
                future.exception()  # retrieved: the waiters (if any) get it, nobody else must
            raise
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
        future.set_result(text)
        self._cache[key] = text
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return text

    async def _write(self, previous: str | None, part: Sequence[Message]) -> str:
        """Ask the summarizing model."""
        from .models import ModelRequest, infer_model

        if self._model is None:
            self._model = infer_model(self._model_spec)
        request = ModelRequest(
            messages=[SystemMessage(content=self.instructions), UserMessage(content=self.transcript(previous, part))],
            settings=self.settings or ModelSettings(),
        )
        response = await self._model.request(request)
        self.usage.add(response.usage)
        if response.usage.requests == 0:
            self.usage.requests += 1
        self.calls += 1
        text = (response.message.content or "").strip()
        if not text:
            raise ValueError("the summarizing model answered with no text")
        return text

    def transcript(self, previous: str | None, part: Sequence[Message]) -> str:
        """The text the summarizing model is asked to condense."""
        names = {c.id: c.name for m in part if isinstance(m, AssistantMessage) for c in m.tool_calls}
        lines = []
        if previous:
            lines += ["Summary of what came before:", previous, "", "What came next:"]
        for m in part:
            lines.append(self._line(m, names))
        return "\n".join(lines) + "\n\nWrite the summary of all of the above."

    def _line(self, m: Message, names: dict[str, str]) -> str:
        limit = self.max_message_chars

        def cut(text: str) -> str:
            return text if len(text) <= limit else f"{text[:limit]} [... {len(text) - limit} characters cut]"

        if isinstance(m, AssistantMessage):
            said = [f"Assistant: {cut(m.content)}"] if m.content else []
            said += [f"Assistant called {c.name}({cut(c.arguments)})" for c in m.tool_calls]
            return "\n".join(said) or "Assistant: (no text)"
        if isinstance(m, ToolMessage):
            returned = " ".join([m.content, *(part_label(p) for p in m.attachments)]).strip()  # images named, never base64
            return f"Tool {m.name or names.get(m.tool_call_id, 'result')} returned: {cut(returned)}"
        label = "User" if isinstance(m, UserMessage) else "System"
        text = m.content if isinstance(m.content, str) else " ".join(part_label(p) for p in m.content)
        return f"{label}: {cut(text)}"

    def __repr__(self) -> str:
        return f"summarize_older({self._model_spec!r}, keep_last={self.keep_last}, budget={self.budget})"


def summarize_older(
    model: Model | str,
    *,
    keep_last: int = 4,
    budget: int | None = None,
    max_turns: int | None = None,
    instructions: str = SUMMARY_INSTRUCTIONS,
    role: Literal["user", "system"] = "user",
    counter: TokenCounter | None = None,
    settings: ModelSettings | None = None,
    keep_first_user: bool = True,
    keep_system: bool = True,
) -> SummarizeOlder:
    """A history processor that replaces the older turns by a summary another model writes.

    When the history is over the size — its estimate over ``budget`` tokens when one is given,
    else more than ``max_turns`` turns (default ``2 * keep_last``) — everything before the last
    ``keep_last`` turns (but the system message(s) and the first user message, unless told
    otherwise) is sent as one message: ``SUMMARY_PREFIX`` and the summary, a user message
    (``role="system"`` for a system one), placed after the kept first messages.

    ``model`` writes the summaries: any agentkit model or model string, e.g. a cheaper one than
    the agent's, with ``instructions`` as its system message and ``settings`` for its request.
    A summary is cached by the messages it replaces, so it is written once and reused by the
    requests after it; when more turns grow old, the next summary condenses the previous one and
    the turns since (one call per ``max_turns - keep_last`` turns without a budget).
    """
    return SummarizeOlder(
        model,
        keep_last=keep_last,
        budget=budget,
        max_turns=max_turns,
        instructions=instructions,
        role=role,
        counter=counter,
        settings=settings,
        keep_first_user=keep_first_user,
        keep_system=keep_system,
    )
