"""The one chat-completions client: neutral request → provider body → neutral response.

Every OpenAI-compatible provider (OpenAI, OpenRouter, Mistral, vLLM, llama.cpp, Ollama) goes
through :class:`OpenAIChatModel`; what differs between them is a :class:`~.profiles.Profile`.
"""

from __future__ import annotations

import functools
import json
import math
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from typing import Any

import httpx
from typing_extensions import Unpack

from .._http.client import MALFORMED, ClientOptions
from .._http.sse import SSEReader
from ..errors import ProviderError, StreamEndedEarly, UserError
from ..events import ModelStreamEvent, ResponseComplete
from ..messages import AssistantMessage, Message, SystemMessage, ToolCall, ToolMessage, UserMessage
from ..tools import ToolDefinition
from ..usage import Usage
from ._content_map import PartMapper, attachment_note, attachments_message
from ._http_model import HTTPModel
from ._stream import ChatStreamAssembler
from .base import ModelRequest, ModelResponse, events_from_response
from .profiles import OPENAI_COMPATIBLE, Profile, warn_dropped

__all__ = ["OpenAIChatModel", "parse_usage"]


class OpenAIChatModel(HTTPModel):
    """A model behind a chat-completions endpoint, speaking the dialect its profile describes.

    Args:
        model_name: the provider's model id.
        base_url: the API root (``.../v1``); ``/chat/completions`` is appended.
        api_key: sent as ``Authorization: Bearer ...``; never shown in reprs or errors.
        profile: the provider dialect (see :mod:`agentkit.models.profiles`).
        provider: the provider's name, for errors (default: the profile's).
        api_key_env: the environment variable holding the key when ``api_key`` is None, read at
            the first request if it is not set yet (a missing key raises
            :class:`~agentkit.errors.MissingAPIKeyError` then, before sending anything).
        context_length: the model's context length in tokens (default: the known one for
            ``model_name``, else unknown); a request that cannot fit it raises
            :class:`~agentkit.errors.ContextLengthExceeded` before it is sent.
        **options: :class:`~agentkit._http.client.ClientOptions` — headers, http_client,
            max_retries, retry_rate_limits, max_retry_wait, timeout, idle_timeout,
            strict_settings, transport, request_deadline, max_response_bytes,
            max_stream_bytes, max_event_bytes.
    """

    def __init__(
        self,
        model_name: str,
        *,
        base_url: str,
        api_key: str | None = None,
        profile: Profile = OPENAI_COMPATIBLE,
        provider: str | None = None,
        api_key_env: str | None = None,
        context_length: int | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self.profile = profile
        self._format_form = 0  # which response_format form: 0 the json_schema one, n the profile's fallback n
        super().__init__(
            model_name,
            base_url=base_url,
            api_key=api_key,
            provider=provider or profile.name,
            options=options,
            api_key_env=api_key_env,
            context_length=context_length,
        )

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send one chat-completions request and parse the answer."""
        form, body = self._format_form, self.build_body(request)
        refused = functools.partial(self._refuses_format, body=body, form=form)  # not retried: the next form is sent
        try:
            data = await self._http.post_json("/chat/completions", body, request.settings.extra_headers, final=refused)
        except ProviderError as error:
            if not self._format_rejected(error, body, form):
                raise
            data = await self._http.post_json("/chat/completions", self.build_body(request), request.settings.extra_headers)
        return self.parse_response(data)

    @asynccontextmanager
    async def _open_stream(self, request: ModelRequest) -> AsyncIterator[httpx.Response]:
        """The open streaming response (sent again in the next response_format form if the server rejects one)."""
        form, body = self._format_form, self.build_body(request, stream=True)
        headers = request.settings.extra_headers
        refused = functools.partial(self._refuses_format, body=body, form=form)
        async with AsyncExitStack() as stack:
            try:
                response = await stack.enter_async_context(self._http.stream("/chat/completions", body, headers, final=refused))
            except ProviderError as error:
                if not self._format_rejected(error, body, form):
                    raise
                retry = self.build_body(request, stream=True)
                response = await stack.enter_async_context(self._http.stream("/chat/completions", retry, headers))
            yield response

    def _refuses_format(self, error: ProviderError, body: dict[str, Any], form: int) -> bool:
        """Whether ``error`` is the server refusing ``body``'s response_format (sent in ``form``) while the
        profile has another form to try. (llama-cpp-python refuses ``json_schema`` with an HTTP 500: the
        HTTP client asks this before it retries, so the next form goes out at once instead.)"""
        status = error.status
        if "response_format" not in body or form >= len(self.profile.response_format_fallbacks) or status is None:
            return False
        return (status in (400, 422) or status >= 500) and "response_format" in str(error.message)

    def _format_rejected(self, error: ProviderError, body: dict[str, Any], form: int) -> bool:
        """:meth:`_refuses_format`; when it is, this and later requests use the next form."""
        if not self._refuses_format(error, body, form):
            return False
        self._format_form = max(self._format_form, form + 1)
        return True

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        """Stream one chat-completions request (SSE), yielding events as chunks arrive."""
        assembler = ChatStreamAssembler(self._http.chunk_error, parse_usage, self.provider)
        async with self._open_stream(request) as response:
            reader = SSEReader(response, self._http)
            if not reader.is_sse:  # a server that ignored stream=true and answered with one JSON body
                for event in events_from_response(self.parse_response(await reader.json_body())):
                    yield event
                return
            try:
                async with aclosing(reader.payloads()) as payloads:
                    async for _name, chunk in payloads:
                        try:
                            events = assembler.feed(chunk)
                        except MALFORMED as e:
                            raise self._http.malformed("a stream chunk is not a chat-completion chunk", chunk, e) from None
                        for event in events:
                            yield event
            except StreamEndedEarly as e:
                if not assembler.complete:  # a finish reason already arrived: what broke was only the tail
                    partial = self._finish(assembler, True)[1]
                    raise StreamEndedEarly(
                        f"{e.message}, after {assembler.chunks} chunks", partial=partial, provider=self.provider
                    ) from None
        ready, final = self._finish(assembler, reader.saw_done)
        for event in ready:
            yield event
        yield ResponseComplete(final)

    def _finish(self, assembler: ChatStreamAssembler, saw_done: bool) -> tuple[list[ModelStreamEvent], ModelResponse]:
        """``assembler.finish``; what the chunks held that is not a response (a usage count that is
        not a number, say) raises ``ResponseParseError``."""
        try:
            return assembler.finish(saw_done=saw_done)
        except MALFORMED as e:
            raise self._http.malformed(
                f"the stream's {assembler.chunks} chunks do not make a chat completion", {"usage": assembler.raw_usage}, e
            ) from None

    # -- request -------------------------------------------------------------------------
    def build_body(self, request: ModelRequest, *, stream: bool = False) -> dict[str, Any]:
        """The JSON body this model would send for ``request`` (a request that cannot fit the known
        context length raises :class:`~agentkit.errors.ContextLengthExceeded` here, before it is sent)."""
        self._check_context(request)
        profile = self.profile
        settings = request.settings
        body: dict[str, Any] = {"model": self.model_name, "messages": self.wire_messages(request.messages)}
        if request.tools:
            self._body_tools(body, request)
        if request.output is not None:
            self._body_output(body, request)
            if self._format_form:
                body["response_format"] = self.profile.response_format_fallbacks[self._format_form - 1](body["response_format"])
        self._body_settings(body, request)
        if stream:
            body["stream"] = True
            if profile.stream_usage_option:
                body["stream_options"] = {"include_usage": True}
        if settings.extra_body:
            body.update(settings.extra_body)
        if profile.allowed_fields is not None:
            self._body_allowed_only(body)
        return body

    @staticmethod
    def _body_output(body: dict[str, Any], request: ModelRequest) -> None:
        output = request.output
        if output is None:  # (build_body checks first)
            return
        schema: dict[str, Any] = {"name": output.name, "schema": output.schema, "strict": output.strict}
        if output.description:
            schema["description"] = output.description
        body["response_format"] = {"type": "json_schema", "json_schema": schema}

    def _body_settings(self, body: dict[str, Any], request: ModelRequest) -> None:
        """The settings under the profile's names; those it does not accept are dropped with a warning (or raise)."""
        profile = self.profile
        dropped = []
        for key, value in request.settings.request_fields().items():
            if key in profile.unsupported:
                dropped.append(key)
                continue
            wire = profile.max_tokens_field if key == "max_tokens" else profile.renames.get(key, key)
            body[wire] = value
        if dropped:
            if self.strict_settings:
                raise UserError(f"{self.provider} does not accept {', '.join(dropped)}; remove them from ModelSettings.")
            warn_dropped(self.provider, dropped)

    def _body_allowed_only(self, body: dict[str, Any]) -> None:
        """Drop (with a warning, or raise for) the fields the profile does not allow."""
        allowed = self.profile.allowed_fields
        extra = [k for k in body if allowed is not None and k not in allowed]
        if extra:
            if self.strict_settings:
                raise UserError(f"{self.provider} does not accept {', '.join(extra)}.")
            warn_dropped(self.provider, extra)
            for key in extra:
                del body[key]

    def wire_messages(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        """Neutral messages → the provider's message dicts (content parts mapped and checked, ids
        mapped, order fixed). A part the provider cannot take raises
        :class:`~agentkit.errors.UserError` here, before anything is sent."""
        mapper = PartMapper(self.profile.media)
        out: list[dict[str, Any]] = []
        follow: list[ToolMessage] = []  # tool results whose parts go in a user message after the tool results
        for m in messages:
            if follow and not isinstance(m, ToolMessage):
                out.append(attachments_message(follow, mapper))
                follow = []
            if isinstance(m, ToolMessage):
                out.append(self._wire_tool_message(m, mapper, follow))
            elif isinstance(m, AssistantMessage):
                out.append(self._wire_assistant(m))
            elif isinstance(m, UserMessage):
                out.append({"role": "user", "content": mapper.user_content(m.content)})
            elif isinstance(m, SystemMessage):
                out.append({"role": "system", "content": m.content})
            else:  # pragma: no cover - Message is a closed union
                raise UserError(f"not a message: {m!r}")
        if follow:
            out.append(attachments_message(follow, mapper))
        if self.profile.fix_messages is not None:
            out = self.profile.fix_messages(out)
        return out

    def _wire_tool_message(self, m: ToolMessage, mapper: PartMapper, follow: list[ToolMessage]) -> dict[str, Any]:
        map_id = self.profile.map_tool_call_id
        content: Any = m.content
        if m.attachments and self.profile.media.tool_attachments == "inline":
            content = ([{"type": "text", "text": m.content}] if m.content else []) + [mapper.tool_part(p) for p in m.attachments]
        elif m.attachments:
            note = attachment_note(m.attachments)
            content = f"{m.content}\n{note}" if m.content else note
            follow.append(m)
        return {"role": "tool", "tool_call_id": map_id(m.tool_call_id) if map_id else m.tool_call_id, "content": content}

    def _wire_assistant(self, m: AssistantMessage) -> dict[str, Any]:
        map_id = self.profile.map_tool_call_id
        d: dict[str, Any] = {"role": "assistant"}
        if m.content is not None or not m.tool_calls or self.profile.tool_call_content == "empty":
            d["content"] = m.content or ""
        if m.prefix and self.profile.supports_prefix:
            d["prefix"] = True
        if m.tool_calls:
            d["tool_calls"] = [
                {
                    "id": map_id(c.id) if map_id else c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments if c.arguments.strip() else "{}"},
                }
                for c in m.tool_calls
            ]
        return d

    def _wire_tool(self, tool: ToolDefinition) -> dict[str, Any]:
        function: dict[str, Any] = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
        if tool.strict is not None and self.profile.send_tool_strict:
            function["strict"] = tool.strict
        return {"type": "function", "function": function}

    def _wire_tool_choice(self, choice: str) -> Any:
        if choice in ("auto", "none", "required"):
            return self.profile.tool_choice_map.get(choice, choice)
        return {"type": "function", "function": {"name": choice}}

    # -- response ------------------------------------------------------------------------
    def parse_response(self, data: Any) -> ModelResponse:
        """A decoded chat-completions answer → :class:`ModelResponse`.

        Raises :class:`~agentkit.errors.ResponseParseError` (with the start of the answer) when
        ``data`` is not a chat completion: no choices, a field of the wrong type, a token count
        that is not a number.
        """
        try:
            choice = data["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise self._http.malformed("the response has no choices", data) from None
        try:
            return self._parse(data, choice)
        except MALFORMED as e:  # one check for every field (pydantic's ValidationError is a ValueError)
            raise self._http.malformed("the response is not a chat completion", data, e) from None

    def _parse(self, data: dict[str, Any], choice: dict[str, Any]) -> ModelResponse:
        message = choice.get("message")
        if not isinstance(message, dict):  # not an empty answer: no answer at all
            raise ValueError(f"the choice has no message object (got {type(message).__name__})")
        content, reasoning = _split_content(message.get("content"))
        reasoning = message.get("reasoning") or message.get("reasoning_content") or reasoning
        calls = [_tool_call(c, i) for i, c in enumerate(message.get("tool_calls") or ())]
        details: dict[str, Any] = {}
        for source, key in ((data, "provider"), (choice, "native_finish_reason"), (message, "reasoning_details")):
            value = source.get(key)
            if value:
                details[key] = value
        assistant = AssistantMessage(
            content=content,
            tool_calls=calls,
            reasoning=reasoning or None,
            refusal=message.get("refusal") or None,
            provider_details=details,
        )
        return ModelResponse(
            message=assistant,
            usage=parse_usage(data.get("usage")),
            finish_reason=text_or_none(choice.get("finish_reason")),
            model_name=text_or_none(data.get("model")),
            response_id=text_or_none(data.get("id")),
        )


def _split_content(content: Any) -> tuple[str | None, str | None]:
    """``content`` as a string, "", null, or a list of text/thinking chunks → (text, reasoning)."""
    if content is None or isinstance(content, str):
        return content, None
    if not isinstance(content, list):
        return str(content), None
    texts: list[str] = []
    thoughts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            kind = part.get("type")
            if kind == "text":
                texts.append(str(part.get("text", "")))
            elif kind in ("thinking", "reasoning"):
                inner = part.get("thinking", part.get("text", ""))
                thoughts.append(_split_content(inner)[0] or "" if isinstance(inner, list) else str(inner))
    return "".join(texts), ("".join(thoughts) or None)


def _tool_call(raw: Any, position: int) -> ToolCall:
    function = raw.get("function")
    if not isinstance(function, dict):
        if function is not None:
            raise TypeError(f"a tool call's function is {type(function).__name__}, not an object")
        function = {}
    arguments = function.get("arguments")
    if arguments is None:
        arguments = ""
    elif not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    call_id = raw.get("id") or f"call_{position}_{uuid.uuid4().hex[:12]}"
    return ToolCall(id=str(call_id), name=str(function.get("name") or ""), arguments=arguments)


def text_or_none(value: Any) -> str | None:
    """A string field of an answer: None and strings as they are, anything else as text."""
    return value if value is None or isinstance(value, str) else str(value)


def parse_usage(raw: Any) -> Usage:
    """A provider's ``usage`` object → :class:`Usage` (one request).

    A count that is not a number raises ``ValueError`` / ``TypeError`` / ``OverflowError``
    (:meth:`OpenAIChatModel.parse_response` turns them into ``ResponseParseError``).
    """
    if not isinstance(raw, dict):
        return Usage(requests=1)
    prompt = int(raw.get("prompt_tokens") or 0)
    completion = int(raw.get("completion_tokens") or 0)
    usage = Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(raw.get("total_tokens") or prompt + completion),
        requests=1,
    )
    cost = raw.get("cost")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost):
        usage.cost = float(cost)
    for group in ("prompt_tokens_details", "completion_tokens_details"):
        values = raw.get(group)
        if isinstance(values, dict):
            for key, value in values.items():
                if isinstance(value, int) and not isinstance(value, bool) and value:
                    usage.details[key] = usage.details.get(key, 0) + value
    cached = raw.get("num_cached_tokens")
    if isinstance(cached, int) and not isinstance(cached, bool) and cached:
        usage.details["cached_tokens"] = cached
    return usage
