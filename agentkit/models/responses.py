"""The Responses API client (``POST {base}/responses``): OpenAI's, OpenRouter's, or any server's.

The agent loop is the same as with chat completions; only the wire format differs:

* **System messages.** The system messages at the start of the conversation (the agent's
  ``instructions``) are sent as the top-level ``instructions`` string, the field the Responses
  API defines for exactly this; OpenAI and OpenRouter both accept it, and the recorded traffic
  echoes it back (``"instructions": null`` when there were none). ``instructions`` cannot say
  *where* in a conversation it applies, so a system message that comes later is sent in place
  as a ``{"role": "system", ...}`` input item, keeping the order of the conversation.
* **Messages.** User messages are ``{"role": "user", "content": ...}`` items (content parts
  become ``input_text`` / ``input_image`` / ``input_file`` / ``input_audio``, checked against
  the client's :class:`~._content_map.MediaRules`); assistant text is ``{"role": "assistant", "content": text}``; each tool
  call a ``function_call`` item and each tool result a ``function_call_output`` item, linked by
  ``call_id``. Item ``id`` s (``fc_...``, ``msg_...``) are never sent back, only ``call_id``,
  and reasoning items are not echoed (agentkit keeps only their summary text).
* **Tools** are flat (``{"type": "function", "name", "parameters", "strict", ...}``). The
  Responses API treats an omitted ``strict`` as *true* (chat completions as false), so a tool
  that did not ask for strict mode is sent with ``"strict": false`` to mean the same thing on
  both APIs.
* **Structured output** goes in ``text.format`` (``json_schema``); ``max_tokens`` is sent as
  ``max_output_tokens`` (OpenAI rejects values below 16). Settings the API does not accept are
  dropped with a warning, or raise :class:`~agentkit.errors.UserError` with
  ``strict_settings=True``. ``extra_body`` is merged last; ``extra_headers`` are sent.
* **store.** This client is stateless: it sends the whole conversation every turn and never
  uses ``previous_response_id``. OpenAI stores every response by default (``store`` defaults
  to true, kept for 30 days), which would only retain data nobody reads back, so
  :class:`OpenAIResponses` sends ``"store": false`` (valid per the spec; it works because no
  stored item is referenced by id). Ask for storage with ``extra_body={"store": True}``.
  :class:`OpenRouterResponses` does not send ``store``: OpenRouter's Responses API keeps no
  state whatever the field says.

* **Streaming.** :meth:`ResponsesModel.stream` sends ``"stream": true`` (the Responses API has
  no ``stream_options`` for usage: it is always in the final event) and reads the typed events
  (``_responses_stream.py``); the final response is :meth:`~ResponsesModel.parse_response` of
  the ``response.completed`` event's response object, so it equals the non-streamed answer.

HTTP (retries, typed errors, key redaction) is :class:`~._http.HTTPClient`, shared with the
chat-completions client.
"""

from __future__ import annotations

import contextlib
import json
import math
import uuid
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from typing_extensions import Unpack

from .. import _providers
from .._http.client import MALFORMED, ClientOptions
from .._http.sse import SSEReader
from ..errors import StreamEndedEarly, UserError
from ..events import ModelStreamEvent
from ..messages import AssistantMessage, Message, SystemMessage, ToolCall, ToolMessage, UserMessage
from ..tools import ToolDefinition
from ..usage import Usage
from ._content_map import (
    COMPATIBLE_RESPONSES_MEDIA,
    OPENAI_RESPONSES_MEDIA,
    OPENROUTER_RESPONSES_MEDIA,
    MediaRules,
    PartMapper,
    attachment_note,
    attachments_message,
)
from ._http_model import HTTPModel
from ._responses_stream import ResponsesStreamAssembler
from .base import ModelRequest, ModelResponse, events_from_response
from .openai_chat import text_or_none
from .profiles import warn_dropped
from .providers import openrouter_options

__all__ = ["ResponsesModel", "OpenAIResponses", "OpenRouterResponses", "parse_responses_usage"]

OPENAI_RESPONSES_UNSUPPORTED = frozenset(
    {
        "top_k",
        "min_p",
        "top_a",
        "repetition_penalty",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "stop",
        "logit_bias",
        "logprobs",
    }
)
"""Settings OpenAI's ``CreateResponse`` has no field for."""

OPENROUTER_RESPONSES_UNSUPPORTED = frozenset({"min_p", "top_a", "repetition_penalty", "seed", "stop", "logit_bias", "logprobs"})
"""Settings OpenRouter's Responses API has no field for (it does take top_k and the penalties)."""


class ResponsesModel(HTTPModel):
    """A model behind a Responses API endpoint (OpenAI, OpenRouter, vLLM, Ollama, ...).

    Args:
        model_name: the provider's model id.
        base_url: the API root (``.../v1``); ``/responses`` is appended.
        api_key: sent as ``Authorization: Bearer ...``; never shown in reprs or errors.
        provider: the provider's name, for errors and warnings.
        unsupported: settings the server does not accept; dropped with a warning (an error
            with ``strict_settings=True``). Empty by default: every setting is sent.
        store: the ``store`` value to send (None: not sent; ``extra_body`` overrides it).
        media: the content parts the server takes (types, sizes, where a tool's images go);
            see :class:`~._content_map.MediaRules`.
        api_key_env: the environment variable holding the key when ``api_key`` is None, read at
            the first request if it is not set yet (a missing key raises
            :class:`~agentkit.errors.MissingAPIKeyError` then, before sending anything).
        context_length: the model's context length in tokens (default: the known one for
            ``model_name``, else unknown); a request that cannot fit it raises
            :class:`~agentkit.errors.ContextLengthExceeded` before it is sent.
        **options: :class:`~agentkit._http.client.ClientOptions` — ``headers`` (extra headers
            for every request), ``http_client`` (an ``httpx.AsyncClient`` of yours),
            ``max_retries`` (on 408/429/5xx/connection errors; 0 turns them off),
            ``retry_rate_limits``, ``timeout`` (seconds, or an ``httpx.Timeout``),
            ``strict_settings`` (raise instead of warning when a setting is not accepted),
            ``max_retry_wait``, ``idle_timeout``, ``transport``, ``request_deadline`` (seconds
            for the whole request, retries and stream included), ``max_response_bytes``,
            ``max_stream_bytes``, ``max_event_bytes``.
    """

    def __init__(
        self,
        model_name: str,
        *,
        base_url: str,
        api_key: str | None = None,
        provider: str = "openai-compatible",
        unsupported: frozenset[str] = frozenset(),
        store: bool | None = None,
        api_key_env: str | None = None,
        context_length: int | None = None,
        media: MediaRules = COMPATIBLE_RESPONSES_MEDIA,
        **options: Unpack[ClientOptions],
    ) -> None:
        self.unsupported = unsupported
        self.store = store
        self.media = media
        super().__init__(
            model_name,
            base_url=base_url,
            api_key=api_key,
            provider=provider,
            options=options,
            api_key_env=api_key_env,
            context_length=context_length,
        )

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send one Responses API request and parse the answer."""
        body = self.build_body(request)
        data = await self._http.post_json("/responses", body, request.settings.extra_headers)
        return self.parse_response(data)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        """Stream one Responses API request (SSE), yielding events as they arrive.

        The last event is :class:`~agentkit.events.ResponseComplete` with what
        :meth:`parse_response` makes of the final event's response object (the answer
        :meth:`request` would have returned). A ``response.failed`` or ``error`` event raises the
        typed :class:`~agentkit.errors.ProviderError`; a stream that ends without its final
        event raises :class:`~agentkit.errors.StreamEndedEarly` with what arrived.
        """
        body = self.build_body(request, stream=True)
        async with self._http.stream("/responses", body, request.settings.extra_headers) as response:
            reader = SSEReader(response, self._http)
            if not reader.is_sse:  # a server that ignored stream=true and answered with one JSON body
                for event in events_from_response(self.parse_response(await reader.json_body())):
                    yield event
                return
            assembler = ResponsesStreamAssembler(self.parse_response, self._http.chunk_error, self.provider)
            try:
                async with contextlib.aclosing(reader.payloads()) as payloads:
                    async for name, chunk in payloads:
                        if isinstance(chunk, dict) and "type" not in chunk and name not in ("", "message"):
                            chunk["type"] = name  # dispatch is on the JSON type; the SSE name only fills a gap
                        try:
                            events = assembler.feed(chunk)
                        except MALFORMED as e:
                            raise self._http.malformed("a stream event is not a Responses API event", chunk, e) from None
                        for event in events:
                            yield event
                        if assembler.done:
                            break
            except StreamEndedEarly as e:
                raise assembler.ended_early(e.message) from None
            if not assembler.done:
                raise assembler.ended_early("[DONE] came first" if reader.saw_done else "the body ended")

    # -- request -------------------------------------------------------------------------
    def build_body(self, request: ModelRequest, *, stream: bool = False) -> dict[str, Any]:
        """The JSON body this model would send for ``request`` (with ``"stream": true`` when ``stream``;
        a request that cannot fit the known context length raises
        :class:`~agentkit.errors.ContextLengthExceeded` here, before it is sent)."""
        self._check_context(request)
        settings = request.settings
        instructions, items = self.wire_input(request.messages)
        body: dict[str, Any] = {"model": self.model_name}
        if instructions is not None:
            body["instructions"] = instructions
        body["input"] = items
        if request.tools:
            self._body_tools(body, request)
        if request.output is not None:
            self._body_output(body, request)
        self._body_settings(body, request)
        if self.store is not None:
            body["store"] = self.store
        if stream:
            body["stream"] = True
        if settings.extra_body:
            body.update(settings.extra_body)
        return body

    @staticmethod
    def _body_output(body: dict[str, Any], request: ModelRequest) -> None:
        output = request.output
        if output is None:  # (build_body checks first)
            return
        fmt: dict[str, Any] = {"type": "json_schema", "name": output.name, "schema": output.schema, "strict": output.strict}
        if output.description:
            fmt["description"] = output.description
        body["text"] = {"format": fmt}

    def _body_settings(self, body: dict[str, Any], request: ModelRequest) -> None:
        """The settings (``max_tokens`` as ``max_output_tokens``); those not accepted are dropped with a warning (or raise)."""
        dropped = []
        for key, value in request.settings.request_fields().items():
            if key in self.unsupported:
                dropped.append(key)
                continue
            body["max_output_tokens" if key == "max_tokens" else key] = value
        if dropped:
            if self.strict_settings:
                raise UserError(
                    f"{self.provider}'s Responses API does not accept {', '.join(dropped)}; remove them from ModelSettings."
                )
            warn_dropped(f"{self.provider} (Responses API)", dropped)

    def wire_input(self, messages: Sequence[Message]) -> tuple[str | None, list[dict[str, Any]]]:
        """Neutral messages → ``(instructions, input items)``.

        The leading system messages become ``instructions`` (joined by blank lines); later
        ones stay in place as system items.
        """
        lead: list[str] = []
        for m in messages:
            if not isinstance(m, SystemMessage):
                break
            lead.append(m.content)
        mapper = PartMapper(self.media)
        items: list[dict[str, Any]] = []
        follow: list[ToolMessage] = []  # results whose parts go in a user item after the outputs
        for m in messages[len(lead) :]:
            if follow and not isinstance(m, ToolMessage):
                items.append(attachments_message(follow, mapper))
                follow = []
            if isinstance(m, ToolMessage):
                items.append({"type": "function_call_output", "call_id": m.tool_call_id, "output": _output(m, mapper, follow)})
            elif isinstance(m, AssistantMessage):
                items.extend(_assistant_items(m))
            elif isinstance(m, UserMessage):
                items.append({"role": "user", "content": mapper.user_content(m.content)})
            elif isinstance(m, SystemMessage):
                items.append({"role": "system", "content": m.content})
            else:  # pragma: no cover - Message is a closed union
                raise UserError(f"not a message: {m!r}")
        if follow:
            items.append(attachments_message(follow, mapper))
        return ("\n\n".join(lead) if lead else None), items

    def _wire_tool(self, tool: ToolDefinition) -> dict[str, Any]:
        item: dict[str, Any] = {"type": "function", "name": tool.name}
        if tool.description:
            item["description"] = tool.description
        item["parameters"] = tool.parameters
        item["strict"] = bool(tool.strict)  # omitted means strict here, unlike chat completions
        return item

    def _wire_tool_choice(self, choice: str) -> Any:
        return choice if choice in ("auto", "none", "required") else {"type": "function", "name": choice}

    # -- response ------------------------------------------------------------------------
    def parse_response(self, data: Any) -> ModelResponse:
        """A decoded Responses API answer → :class:`ModelResponse`.

        Raises :class:`~agentkit.errors.ResponseParseError` (with the start of the answer) when
        ``data`` is not a response object: no output list, a field of the wrong type, a token
        count that is not a number.
        """
        output = data.get("output") if isinstance(data, dict) else None
        if not isinstance(output, list):
            raise self._http.malformed("the response has no output list", data)
        try:
            return self._parse(data, output)
        except MALFORMED as e:  # one check for every field (pydantic's ValidationError is a ValueError)
            raise self._http.malformed("the response is not a Responses API response", data, e) from None

    def _parse(self, data: dict[str, Any], output: list[Any]) -> ModelResponse:
        texts: list[str] = []
        refusals: list[str] = []
        thoughts: list[str] = []
        calls: list[ToolCall] = []
        for item in output:
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind == "message":
                for part in item.get("content") or ():
                    if not isinstance(part, dict):
                        continue
                    if part.get("type") == "output_text":
                        texts.append(str(part.get("text") or ""))
                    elif part.get("type") == "refusal":
                        refusals.append(str(part.get("refusal") or ""))
            elif kind == "function_call":
                calls.append(_tool_call(item, len(calls)))
            elif kind == "reasoning":
                parts = item.get("summary") or item.get("content") or ()
                text = "\n\n".join(str(p.get("text") or "") for p in parts if isinstance(p, dict) and p.get("text"))
                if text:
                    thoughts.append(text)
        assistant = AssistantMessage(
            content="".join(texts) if texts else None,
            tool_calls=calls,
            reasoning="\n\n".join(thoughts) or None,
            refusal="".join(refusals) or None,
        )
        return ModelResponse(
            message=assistant,
            usage=parse_responses_usage(data.get("usage")),
            finish_reason=_finish_reason(data, bool(calls)),
            model_name=text_or_none(data.get("model")),
            response_id=text_or_none(data.get("id")),
        )


class OpenAIResponses(ResponsesModel):
    """OpenAI's Responses API. Key from ``api_key`` or ``OPENAI_API_KEY`` (checked at the first
    request); base URL from ``base_url``, ``OPENAI_BASE_URL`` or the public endpoint. Sends ``"store": false`` (see the
    module docs); settings the API has no field for are dropped with a warning (an error with
    ``strict_settings=True``)."""

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        context_length: int | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        endpoint = _providers.endpoint("openai")
        super().__init__(
            model_name,
            base_url=endpoint.base_url(base_url),
            api_key=api_key,
            api_key_env=endpoint.key_env,
            provider="openai",
            unsupported=OPENAI_RESPONSES_UNSUPPORTED,
            store=False,
            media=OPENAI_RESPONSES_MEDIA,
            context_length=context_length,
            **options,
        )


class OpenRouterResponses(ResponsesModel):
    """OpenRouter's (stateless) Responses API.

    Key from ``api_key`` or ``OPENROUTER_API_KEY`` (checked at the first request); base URL from
    ``base_url``, ``OPENROUTER_BASE_URL`` or the public endpoint. ``app_url`` / ``app_name`` (or
    ``OPENROUTER_APP_URL`` / ``OPENROUTER_APP_NAME``) are sent as ``HTTP-Referer`` / ``X-Title``.
    :class:`~agentkit.settings.OpenRouterSettings` fields (``models``, ``provider``,
    ``reasoning``, ``plugins``, ...) are sent as they are.
    """

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        base_url: str | None = None,
        app_url: str | None = None,
        app_name: str | None = None,
        *,
        context_length: int | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        endpoint = _providers.endpoint("openrouter")
        super().__init__(
            model_name,
            base_url=endpoint.base_url(base_url),
            api_key=api_key,
            api_key_env=endpoint.key_env,
            provider="openrouter",
            unsupported=OPENROUTER_RESPONSES_UNSUPPORTED,
            media=OPENROUTER_RESPONSES_MEDIA,
            context_length=context_length,
            **openrouter_options(app_url, app_name, options),
        )


def _output(m: ToolMessage, mapper: PartMapper, follow: list[ToolMessage]) -> Any:
    """A tool result's ``output``: its text, or text and parts (``input_image`` / ``input_file``)."""
    if not m.attachments:
        return m.content
    if mapper.rules.tool_attachments == "inline":
        return ([mapper.part(m.content)] if m.content else []) + [mapper.tool_part(p) for p in m.attachments]
    follow.append(m)
    note = attachment_note(m.attachments)
    return f"{m.content}\n{note}" if m.content else note


def _assistant_items(m: AssistantMessage) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    text = m.content or (m.refusal if not m.tool_calls else None)
    if text:
        items.append({"role": "assistant", "content": text})
    for c in m.tool_calls:
        arguments = c.arguments if c.arguments.strip() else "{}"
        items.append({"type": "function_call", "call_id": c.id, "name": c.name, "arguments": arguments})
    return items


def _tool_call(raw: dict[str, Any], position: int) -> ToolCall:
    arguments = raw.get("arguments")
    if arguments is None:
        arguments = ""
    elif not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    call_id = raw.get("call_id") or raw.get("id") or f"call_{position}_{uuid.uuid4().hex[:12]}"
    return ToolCall(id=str(call_id), name=str(raw.get("name") or ""), arguments=arguments)


_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _finish_reason(data: dict[str, Any], has_calls: bool) -> str | None:
    """``status`` / ``incomplete_details`` → a chat-style finish reason (stop, tool_calls, length, ...)."""
    status = data.get("status")
    if status == "completed" or (status is None and data.get("output")):
        return "tool_calls" if has_calls else "stop"
    if status == "incomplete":
        details = data.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return _INCOMPLETE.get(str(reason), str(reason)) if reason else "incomplete"
    return str(status) if status is not None else None


def parse_responses_usage(raw: Any) -> Usage:
    """A Responses API ``usage`` object → :class:`Usage` (one request)."""
    if not isinstance(raw, dict):
        return Usage(requests=1)
    prompt = int(raw.get("input_tokens") or 0)
    completion = int(raw.get("output_tokens") or 0)
    usage = Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(raw.get("total_tokens") or prompt + completion),
        requests=1,
    )
    cost = raw.get("cost")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost):
        usage.cost = float(cost)
    for group in ("input_tokens_details", "output_tokens_details"):
        values = raw.get(group)
        if isinstance(values, dict):
            for key, value in values.items():
                if isinstance(value, int) and not isinstance(value, bool) and value:
                    usage.details[key] = usage.details.get(key, 0) + value
    return usage
