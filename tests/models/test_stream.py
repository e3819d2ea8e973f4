"""Chat-completions streaming at the model level: SSE bytes → typed events → one ModelResponse.

Recorded streams (Mistral, OpenAI, OpenRouter) are replayed from the loopback server in awkward
network pieces (1 byte, random sizes, whole) and must give identical events and responses; a
property test renders generated streams to bytes and splits them anywhere; edge cases and faults
(comments, whole and fragmented calls, error chunks, cuts, idle servers, non-JSON chunks) run
over real sockets; leaving a stream early closes its response.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit import ModelSettings, tool
from agentkit._http import sse as _sse
from agentkit.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    ResponseParseError,
    StreamEndedEarly,
)
from agentkit.events import (
    ModelStreamEvent,
    ReasoningDelta,
    ResponseComplete,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallReady,
    ToolCallStarted,
)
from agentkit.messages import UserMessage
from agentkit.models import Mistral, OpenAI, OpenAICompatible, OpenRouter
from agentkit.models.base import ModelRequest, ModelResponse
from agentkit.usage import Usage
from tests.support.replay import load
from tests.support.server import Reply, chat_completion
from tests.support.sse import chunk, sse, text_stream

SECRET = "sk-stream-secret-7f3a9c"
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
SSE = "text/event-stream"


# --- helpers ----------------------------------------------------------------------------------


def pieces(data: bytes, split: str) -> list[bytes]:
    """``data`` cut for the network: ``whole``, ``bytes`` (1 byte each) or ``random`` (seeded sizes)."""
    if split == "whole":
        return [data]
    if split == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(f"{split}:{len(data)}")
    out, i = [], 0
    while i < len(data):
        size = rng.choice((1, 2, 3, 5, 8, 13, 31, 64, 200))
        out.append(data[i : i + size])
        i += size
    return out


SPLITS = ("whole", "bytes", "random")


async def collect(model: Any, request: ModelRequest = REQUEST) -> tuple[list[ModelStreamEvent], ProviderError | None]:
    """The events a stream yields, and the error it ended with (None when it completed)."""
    events: list[ModelStreamEvent] = []
    try:
        async for event in model.stream(request):
            events.append(event)
    except ProviderError as error:
        return events, error
    return events, None


async def complete(model: Any, request: ModelRequest = REQUEST) -> tuple[list[ModelStreamEvent], ModelResponse]:
    events, error = await collect(model, request)
    assert error is None, repr(error)
    assert isinstance(events[-1], ResponseComplete)
    assert not any(isinstance(e, ResponseComplete) for e in events[:-1])
    return events, events[-1].response


def text_of(events: list[ModelStreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def assert_secret_free(error: BaseException) -> None:
    texts = [str(error), repr(error), *map(str, error.args)]
    for attr in ("message", "body", "partial"):
        texts.append(repr(getattr(error, attr, None)))
    assert not any(SECRET in t for t in texts), texts


def model_for(server: Any, **options: Any) -> OpenAICompatible:
    return OpenAICompatible("loopback-model", base_url=server.url + "/v1", api_key=SECRET, **options)


def sse_reply(body: bytes | list[dict[str, Any]], **kw: Any) -> Reply:
    data = body if isinstance(body, bytes) else sse(body)
    return Reply(chunks=[data], content_type=SSE, **kw)


def recorded_stream(name: str) -> tuple[dict[str, Any], bytes]:
    interaction = load(name)["interactions"][0]
    return interaction["request"]["body"], interaction["response"]["body_text"].encode()


async def replay_in_every_split(loopback: Any, name: str, make_model: Any, spec: str, request: ModelRequest) -> Any:
    """Serve a recording in every split; the results (events, error) must be identical. Returns
    the first result, the server and the recorded request body."""
    recorded_body, data = recorded_stream(name)
    server = loopback([Reply(chunks=pieces(data, split), content_type=SSE) for split in SPLITS], spec=spec)
    model = make_model(server.url + "/v1")
    results = []
    for _ in SPLITS:
        events, error = await collect(model, request)
        results.append((events, None if error is None else (type(error), str(error), error.code)))
    await model.aclose()
    for split, result in zip(SPLITS[1:], results[1:], strict=True):
        assert result == results[0], f"{split} differs from whole"
    return results[0], server, recorded_body


# --- 1. recorded streams, replayed in awkward pieces ------------------------------------------


async def test_mistral_recording_every_split(loopback):
    request = ModelRequest(messages=[UserMessage(content="Say hello!")])
    (events, error), server, recorded_body = await replay_in_every_split(
        loopback,
        "test_mistral_chat_model_complete_usage.json",
        lambda url: Mistral("mistral-large-latest", api_key=SECRET, base_url=url),
        "mistral",
        request,
    )
    assert error is None
    assert all(isinstance(e, TextDelta) for e in events[:-1]) and len(events) == 34
    text = "Hello! How are you doing today? It's great to have you here. How can I assist you? Let's have a friendly chat. 😊"
    assert text_of(events) == text
    response = events[-1].response
    assert response.message.content == text and response.message.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.usage == Usage(prompt_tokens=7, completion_tokens=33, total_tokens=40, requests=1)
    assert (response.model_name, response.response_id) == ("mistral-large-latest", "0179eddf4c4e422ab9b08c2b33899392")
    bodies = server.bodies("/chat/completions")
    assert bodies == [recorded_body] * 3  # stream: true, and no stream_options for Mistral
    assert all(b["stream"] is True and "stream_options" not in b for b in bodies)


@tool(strict=True)
def plus(a: int, b: int) -> int:
    """Sum two numbers."""
    return a + b


async def test_openai_forced_tool_call_recording_every_split(loopback):
    request = ModelRequest(
        messages=[UserMessage(content="Use the tool to sum 1 and 2")],
        tools=(plus.definition,),
        settings=ModelSettings(tool_choice="plus", parallel_tool_calls=False),
    )
    (events, error), server, recorded_body = await replay_in_every_split(
        loopback,
        "test_openai_chat_model_complete_function_call_openai_strict.json",
        lambda url: OpenAI("gpt-4o", api_key=SECRET, base_url=url),
        "openai",
        request,
    )
    assert error is None
    call_id = "call_1XGyax6Ww7s0YMqhwsUUTVVA"
    fragments = ['{"', "a", '":', "1", ',"', "b", '":', "2", "}"]
    assert events[:-1] == [
        ToolCallStarted(call_id, "plus", 0),
        *(ToolCallArgsDelta(call_id, f, 0) for f in fragments),
        ToolCallReady(call_id, "plus", {"a": 1, "b": 2}, '{"a":1,"b":2}'),
    ]
    response = events[-1].response
    assert response.finish_reason == "stop"  # a forced call ends with "stop": detected by presence
    assert [(c.id, c.name, c.arguments) for c in response.message.tool_calls] == [(call_id, "plus", '{"a":1,"b":2}')]
    assert response.message.content is None
    assert response.usage == Usage(prompt_tokens=71, completion_tokens=9, total_tokens=80, requests=1)  # the choices: [] chunk
    assert response.model_name == "gpt-4o-2024-08-06"
    for body in server.bodies("/chat/completions"):
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
        for key in ("messages", "model", "parallel_tool_calls", "stream", "stream_options", "tool_choice"):
            assert body[key] == recorded_body[key], key
        assert body["tools"][0]["function"]["name"] == "plus" and body["tools"][0]["function"]["strict"] is True


async def test_openrouter_stream_error_recording_every_split(loopback):
    request = ModelRequest(messages=[UserMessage(content="Hello there")], settings=ModelSettings(max_tokens=10))
    (events, error), server, _ = await replay_in_every_split(
        loopback,
        "test_openrouter_stream_error.json",
        lambda url: OpenRouter("minimax/minimax-m2:free", api_key=SECRET, base_url=url),
        "openrouter",
        request,
    )
    assert events == [ReasoningDelta("We need"), ReasoningDelta(" to respond to a greeting. The user")]
    assert error is not None
    error_type, message, code = error
    assert error_type is BadRequestError and code == 400  # the chunk's code picks the class, not HTTP 200
    assert "Token limit reached" in message and "openrouter" in message
    for body in server.bodies("/chat/completions"):
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


# --- 2. property: generated streams split anywhere assemble identically -------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
_args = st.dictionaries(st.text("abcxyz", min_size=1, max_size=4), st.one_of(st.integers(), _text, st.booleans()), max_size=3)
_usage = st.builds(
    lambda p, c: {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)


@st.composite
def chat_streams(draw: st.DrawFn) -> dict[str, Any]:
    """A chat stream: its chunks, and what they should assemble to."""
    chunks: list[dict[str, Any]] = []
    expected: dict[str, Any] = {"text": "", "reasoning": "", "calls": [], "usage": None}
    if draw(st.booleans()):
        chunks.append(chunk({"role": "assistant", "content": ""}))
    for kind, piece in draw(st.lists(st.tuples(st.sampled_from(["content", "reasoning"]), _text), max_size=6)):
        chunks.append(chunk({kind: piece}))
        expected["text" if kind == "content" else "reasoning"] += piece
    style = draw(st.sampled_from(["none", "openai", "mistral"]))
    calls = [
        (f"call_{i}_{draw(st.text('abcdef0123456789', min_size=4, max_size=4))}", draw(st.sampled_from(["f", "g"])), args)
        for i, args in enumerate(draw(st.lists(st.one_of(st.none(), _args), min_size=1, max_size=3)))
    ]
    usage = draw(st.one_of(st.none(), _usage))
    finish = "stop" if style == "none" else "tool_calls"
    if style == "openai":
        for i, (call_id, name, args) in enumerate(calls):
            text = "" if args is None else json.dumps(args)
            first = {"index": i, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
            chunks.append(chunk({"tool_calls": [first]}))
            cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=4))) | {0, len(text)})
            for a, b in itertools.pairwise(cuts):
                chunks.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": text[a:b]}}]}))
            expected["calls"].append((call_id, name, text))
        chunks.append(chunk({}, finish_reason=finish))
        if usage is not None:
            chunks.append(chunk(None, usage=usage))
    elif style == "mistral":  # whole calls, no index, all in one chunk with the finish reason and usage
        wire = []
        for call_id, name, args in calls:
            text = "" if args is None else json.dumps(args)
            wire.append({"id": call_id, "function": {"name": name, "arguments": text}})
            expected["calls"].append((call_id, name, text))
        chunks.append(chunk({"content": "", "tool_calls": wire}, finish_reason=finish, usage=usage))
    else:
        chunks.append(chunk({}, finish_reason=finish, usage=usage))
    expected["usage"] = usage
    expected["finish_reason"] = finish
    return {
        "chunks": chunks,
        "expected": expected,
        "newline": draw(st.sampled_from(["\n", "\r\n"])),
        "ascii": draw(st.booleans()),
        "layout": [draw(st.tuples(st.integers(0, 5), st.booleans(), st.booleans(), st.integers(0, 3))) for _ in chunks],
    }


def _structural_cuts(text: str) -> list[int]:
    """Offsets just after a ``,`` or ``:`` outside strings: a newline there keeps the JSON valid."""
    cuts, in_string, escaped = [], False, False
    for i, c in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in ",:":
            cuts.append(i + 1)
    return cuts


def render(stream: dict[str, Any]) -> bytes:
    """SSE text for a generated stream: comments, ``event:`` lines, multi-line ``data:``, CRLF or LF."""
    nl = stream["newline"]
    out = []
    for c, (comments, event_line, no_space, multiline) in zip(stream["chunks"], stream["layout"], strict=True):
        out.append(f": keep-alive{nl}{nl}" * (comments % 3))
        payload = json.dumps(c, separators=(",", ":"), ensure_ascii=stream["ascii"])
        lines = [payload]
        if multiline:  # split the payload over several data: lines at JSON-whitespace-safe points
            cuts = _structural_cuts(payload)[:: max(1, 7 - multiline)][:multiline]
            lines = [payload[a:b] for a, b in itertools.pairwise([0, *cuts, len(payload)])]
        event = "event: message" + nl if event_line else ""
        if comments >= 3:
            event += ": inside an event" + nl
        out.append(event + "".join(("data:" if no_space else "data: ") + line + nl for line in lines) + nl)
    out.append(f"data: [DONE]{nl}{nl}")
    return "".join(out).encode()


async def _stream_over_mock(body_pieces: list[bytes]) -> tuple[list[ModelStreamEvent], ModelResponse]:
    async def content() -> AsyncIterator[bytes]:
        for piece in body_pieces:
            yield piece

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": SSE}, content=content())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        model = OpenAICompatible("mock", base_url="http://mock.invalid/v1", api_key=SECRET, http_client=client)
        return await complete(model)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=chat_streams(), data=st.data())
def test_generated_streams_split_anywhere_assemble_identically(stream, data):
    body = render(stream)
    if data.draw(st.booleans(), label="byte by byte"):
        split = pieces(body, "bytes")
    else:
        cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(body) - 1)), max_size=30), label="cuts")))
        split = [body[a:b] for a, b in itertools.pairwise([0, *cuts, len(body)])]
    assert b"".join(split) == body

    async def both() -> tuple[Any, Any]:
        return await _stream_over_mock([body]), await _stream_over_mock(split)

    (whole_events, whole), (split_events, response) = asyncio.run(both())
    assert split_events == whole_events
    assert response == whole

    expected = stream["expected"]
    assert response.message.content == (expected["text"] if expected["text"] or not expected["calls"] else None)
    assert response.message.reasoning == (expected["reasoning"] or None)
    assert [(c.id, c.name, c.arguments) for c in response.message.tool_calls] == expected["calls"]
    assert response.finish_reason == expected["finish_reason"]
    usage = expected["usage"] or {}
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (
        usage.get("prompt_tokens", 0),
        usage.get("completion_tokens", 0),
    )
    started = [(e.tool_call_id, e.name, e.index) for e in whole_events if isinstance(e, ToolCallStarted)]
    assert started == [(c[0], c[1], i) for i, c in enumerate(expected["calls"])]
    for call_id, _, arguments in expected["calls"]:
        assert (
            "".join(e.delta for e in whole_events if isinstance(e, ToolCallArgsDelta) and e.tool_call_id == call_id) == arguments
        )


# --- 3. edge cases over the loopback server ---------------------------------------------------


async def test_openrouter_comments_between_events_and_sse_syntax(loopback):
    comment = b": OPENROUTER PROCESSING\n\n"
    body = comment * 3 + comment.join(sse([c], done=False) for c in text_stream("Hel", "lo"))
    last = json.dumps(chunk({"content": "!"})).encode()
    cut = last.index(b'"object"')  # after a comma: a newline there is JSON whitespace
    body += b"event: message\r\ndata: " + last[:cut] + b"\r\n: a comment inside the event\r\ndata:" + last[cut:] + b"\r\n\r\n"
    body += comment + b"data: [DONE]\n\n"
    server = loopback([sse_reply(body)])
    events, response = await complete(model_for(server))
    # the "!" chunk comes after the usage chunk here, and still counts
    assert text_of(events) == "Hello!" and response.message.content == "Hello!"
    assert response.usage.total_tokens == 12 and response.finish_reason == "stop"


async def test_several_whole_calls_in_one_chunk_without_index(loopback):
    """Mistral: every call whole in one delta, no index, "" arguments, finish and usage in the same chunk."""
    calls = [
        {"id": "aaaaaaaaa", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "bbbbbbbbb", "function": {"name": "get_time", "arguments": ""}},
        {"id": "ccccccccc", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
    ]
    usage = {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}
    server = loopback(
        [
            sse_reply(
                [chunk({"role": "assistant", "content": ""}), chunk({"content": "", "tool_calls": calls}, "tool_calls", usage)]
            )
        ]
    )
    events, response = await complete(model_for(server))
    assert events[:-1] == [
        ToolCallStarted("aaaaaaaaa", "get_weather", 0),
        ToolCallArgsDelta("aaaaaaaaa", '{"city": "Paris"}', 0),
        ToolCallStarted("bbbbbbbbb", "get_time", 1),
        ToolCallStarted("ccccccccc", "get_weather", 2),
        ToolCallArgsDelta("ccccccccc", '{"city": "Rome"}', 2),
        ToolCallReady("aaaaaaaaa", "get_weather", {"city": "Paris"}, '{"city": "Paris"}'),
        ToolCallReady("bbbbbbbbb", "get_time", {}, ""),  # "" arguments: no arguments
        ToolCallReady("ccccccccc", "get_weather", {"city": "Rome"}, '{"city": "Rome"}'),
    ]
    assert [(c.id, c.arguments) for c in response.message.tool_calls] == [
        ("aaaaaaaaa", '{"city": "Paris"}'),
        ("bbbbbbbbb", ""),
        ("ccccccccc", '{"city": "Rome"}'),
    ]
    assert response.finish_reason == "tool_calls" and response.usage.total_tokens == 42


async def test_tool_call_deltas_without_index_or_id(loopback):
    """No index: fragments continue the latest call; no id either: unique made-up ids, per response."""
    fragments = [
        chunk({"tool_calls": [{"id": "call_A", "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"function": {"arguments": '{"x": '}}]}),
        chunk({"tool_calls": [{"function": {"arguments": "1}"}}]}),
        chunk({"tool_calls": [{"function": {"name": "g", "arguments": "{}"}}]}),  # named, no id: a new call
        chunk({}, "tool_calls"),
    ]
    server = loopback([sse_reply(fragments), sse_reply(fragments)])
    model = model_for(server)
    _, first = await complete(model)
    _, second = await complete(model)
    assert [(c.name, c.arguments) for c in first.message.tool_calls] == [("f", '{"x": 1}'), ("g", "{}")]
    assert first.message.tool_calls[0].id == "call_A"
    made_up = {first.message.tool_calls[1].id, second.message.tool_calls[1].id}
    assert len(made_up) == 2 and all(i.startswith("call_1_") for i in made_up)  # unique across turns


async def test_parallel_calls_interleaved_and_ollama_same_index(loopback):
    interleaved = [
        chunk({"tool_calls": [{"index": 0, "id": "c0", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "c1", "type": "function", "function": {"name": "g", "arguments": '{"b"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": ": 2}"}}]}),
        chunk({}, "tool_calls"),
    ]
    same_index = [  # Ollama numbers every parallel call 0
        chunk({"tool_calls": [{"index": 0, "id": "o1", "function": {"name": "f", "arguments": '{"a": 1}'}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "o2", "function": {"name": "f", "arguments": '{"a": 2}'}}]}),
        chunk({}, "tool_calls"),
    ]
    server = loopback([sse_reply(interleaved), sse_reply(same_index)])
    model = model_for(server)
    events, response = await complete(model)
    assert [(e.tool_call_id, e.delta, e.index) for e in events if isinstance(e, ToolCallArgsDelta)] == [
        ("c1", '{"b"', 1),
        ("c0", '{"a": 1}', 0),
        ("c1", ": 2}", 1),
    ]
    assert [(c.id, c.arguments) for c in response.message.tool_calls] == [("c0", '{"a": 1}'), ("c1", '{"b": 2}')]
    _, response = await complete(model)
    assert [(c.id, c.arguments) for c in response.message.tool_calls] == [("o1", '{"a": 1}'), ("o2", '{"a": 2}')]


async def test_arguments_before_the_name_are_sent_after_the_start(loopback):
    stream = [
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"q": '}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "late_id", "function": {"name": "search", "arguments": '"x"}'}}]}),
        chunk({}, "tool_calls"),
    ]
    server = loopback([sse_reply(stream)])
    events, response = await complete(model_for(server))
    assert events[:-1] == [
        ToolCallStarted("late_id", "search", 0),
        ToolCallArgsDelta("late_id", '{"q": "x"}', 0),  # what came before the start, in one piece
        ToolCallReady("late_id", "search", {"q": "x"}, '{"q": "x"}'),
    ]
    assert response.message.tool_calls[0].id == "late_id"


async def test_usage_only_in_the_trailing_empty_choices_chunk(loopback):
    usage = {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13, "prompt_tokens_details": {"cached_tokens": 4}}
    server = loopback([sse_reply(text_stream("a", "b", usage=usage))])
    events, response = await complete(model_for(server))
    assert text_of(events) == "ab"
    assert response.usage == Usage(
        prompt_tokens=11, completion_tokens=2, total_tokens=13, requests=1, details={"cached_tokens": 4}
    )


async def test_mid_stream_error_chunk_raises_the_typed_error(loopback):
    error = {
        "code": 502,
        "message": f"Upstream error (key {SECRET})",
        "metadata": {"provider_name": "Minimax", "raw": "bad gateway"},
    }
    body = sse([chunk({"content": "par"}), {"id": "gen-1", "error": error, "choices": [{"index": 0, "delta": {}}]}])
    server = loopback([sse_reply(body)])
    events, raised = await collect(model_for(server))
    assert events == [TextDelta("par")]
    assert isinstance(raised, ProviderUnavailableError)
    assert raised.code == 502 and raised.status == 502 and raised.provider == "openai-compatible"
    assert "Upstream error" in raised.message and "bad gateway" in raised.message and "Minimax" in raised.message
    assert_secret_free(raised)
    assert len(server.requests) == 1  # not retried once events went out


@pytest.mark.parametrize("how", ["clean end", "connection cut"])
async def test_stream_cut_before_done_and_finish_reason(loopback, how):
    data = sse([chunk({"role": "assistant", "content": ""}), chunk({"content": "Hello"}), chunk({"content": " wor"})], done=False)
    if how == "clean end":
        reply = sse_reply(data)
    else:  # headers promise more than arrives, then the socket closes
        reply = Reply(body=data + b'data: {"id": ', content_type=SSE, cut_after=len(data) + 5)
    server = loopback([reply])
    events, raised = await collect(model_for(server))
    assert text_of(events) == "Hello wor"
    assert isinstance(raised, StreamEndedEarly) and raised.provider == "openai-compatible"
    assert raised.partial.message.content == "Hello wor" and raised.partial.finish_reason is None
    assert "3 chunks" in str(raised)
    assert_secret_free(raised)
    assert len(server.requests) == 1


@pytest.mark.parametrize("how", ["clean end", "connection cut"])
async def test_finish_reason_without_done_is_accepted(loopback, how):
    data = sse([chunk({"content": "done"}), chunk({}, "stop", {"prompt_tokens": 1, "completion_tokens": 1})], done=False)
    if how == "clean end":
        reply = sse_reply(data)
    else:
        reply = Reply(body=data + b"data: [DO", content_type=SSE, cut_after=len(data) + 4)
    server = loopback([reply])
    events, response = await complete(model_for(server))
    assert text_of(events) == "done" and response.finish_reason == "stop" and response.usage.total_tokens == 2


async def test_json_answer_to_a_stream_request_still_streams(loopback):
    server = loopback(
        [
            Reply(body=chat_completion("plain JSON", usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})),
            Reply(body={"error": {"code": 503, "message": "overloaded"}}, headers={"content-type": "application/json"}),
        ]
    )
    model = model_for(server, max_retries=0)
    events, response = await complete(model)
    assert events[:-1] == [TextDelta("plain JSON")]
    assert response.message.content == "plain JSON" and response.usage.total_tokens == 5
    events, raised = await collect(model)  # an error inside a 200 JSON body is typed too
    assert events == [] and isinstance(raised, ProviderUnavailableError) and raised.message == "overloaded"
    assert server.bodies("/chat/completions")[0]["stream"] is True


@pytest.mark.parametrize("fault", ["idle", "cut"])
async def test_json_answer_that_stalls_or_breaks_is_a_typed_error(loopback, fault):
    body = json.dumps(chat_completion("plain JSON")).encode()
    if fault == "idle":
        reply = Reply(chunks=[body[:30], body[30:]], chunk_delay=30, content_type="application/json")
    else:
        reply = Reply(body=body, content_type="application/json", cut_after=30)
    server = loopback([reply])
    started = time.perf_counter()
    events, raised = await collect(model_for(server, idle_timeout=0.3, max_retries=0))
    assert events == [] and time.perf_counter() - started < 3
    assert isinstance(raised, APITimeoutError if fault == "idle" else APIConnectionError)
    assert_secret_free(raised)


async def test_429_and_503_before_the_stream_are_retried(loopback):
    server = loopback(
        [
            Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0"}),
            Reply(503, {"error": {"message": "busy"}}, headers={"Retry-After": "0"}),
            sse_reply(text_stream("ok")),
            Reply(429, {"error": {"message": f"slow down {SECRET}"}}, headers={"Retry-After": "0"}),
        ]
    )
    events, _ = await complete(model_for(server, max_retries=2))
    assert text_of(events) == "ok" and len(server.requests) == 3
    _, raised = await collect(model_for(server, max_retries=0))
    assert isinstance(raised, RateLimitError) and "slow down" in raised.message
    assert_secret_free(raised)


async def test_idle_stream_times_out_in_bounded_time(loopback):
    first = sse([chunk({"content": "a"})], done=False)
    server = loopback(
        [
            Reply(chunks=[first, sse([chunk({"content": "b"})])], chunk_delay=30, content_type=SSE),  # pauses mid-stream
            Reply(stall=True),  # never answers at all
        ]
    )
    model = model_for(server, idle_timeout=0.3, max_retries=0)
    for expected in ("a", ""):
        started = time.perf_counter()
        events, raised = await collect(model)
        assert time.perf_counter() - started < 3
        assert text_of(events) == expected
        assert isinstance(raised, APITimeoutError) and not isinstance(raised, StreamEndedEarly)
        assert_secret_free(raised)


@pytest.mark.parametrize("line", [f"<html>oops {SECRET}</html>", '{"choices": [null]}', '{"choices": [{"delta": "oops"}]}'])
async def test_a_data_line_that_is_not_a_chunk_is_a_parse_error(loopback, line):
    body = sse([chunk({"content": "a"})], done=False) + f"data: {line}\n\n".encode()
    server = loopback([sse_reply(body)])
    events, raised = await collect(model_for(server))
    assert events == [TextDelta("a")]
    assert isinstance(raised, ResponseParseError)
    assert "not a chat-completion chunk" in str(raised) or "not JSON" in str(raised)
    assert json.dumps(json.loads(line)) in str(raised) if line.startswith("{") else line.replace(SECRET, "***") in str(raised)
    assert_secret_free(raised)


# --- 4. resources -----------------------------------------------------------------------------


async def test_connection_is_reused_after_done(loopback, monkeypatch):
    monkeypatch.setattr(_sse, "DRAIN_TIMEOUT", 0.5)
    server = loopback(
        [
            sse_reply(text_stream("one")),
            sse_reply(text_stream("two")),
            # a server that keeps the body open after [DONE]: the stream still ends at once
            Reply(chunks=[sse(text_stream("three")), b": still here\n\n"], chunk_delay=30, content_type=SSE),
        ]
    )
    model = model_for(server)
    assert text_of((await complete(model))[0]) == "one"
    assert text_of((await complete(model))[0]) == "two"
    assert server.connections_accepted == 1
    started = time.perf_counter()
    assert text_of((await complete(model))[0]) == "three"
    assert time.perf_counter() - started < 2
    await model.aclose()


async def test_closing_a_stream_early_closes_the_response_and_stops_the_server(loopback):
    forever = [sse([chunk({"content": f"w{i} "})], done=False) for i in range(2000)]  # 20 s at 10 ms per chunk
    server = loopback([Reply(chunks=forever, chunk_delay=0.01, content_type=SSE)])
    model = model_for(server)
    started = time.perf_counter()
    agen = model.stream(REQUEST)
    received = [await agen.__anext__() for _ in range(3)]
    assert received == [TextDelta("w0 "), TextDelta("w1 "), TextDelta("w2 ")]
    await agen.aclose()
    for _ in range(300):  # the server's next writes fail once the response is closed
        if server.streams_abandoned:
            break
        await asyncio.sleep(0.01)
    assert server.streams_abandoned == 1
    assert server.chunks_sent < 200
    await model.aclose()
    for _ in range(300):
        if not server.open_connections:
            break
        await asyncio.sleep(0.01)
    assert server.open_connections == 0
    assert time.perf_counter() - started < 5
