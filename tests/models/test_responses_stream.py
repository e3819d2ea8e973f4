"""Responses API streaming over a real loopback server: typed SSE events → agentkit events.

Every stream is built the way OpenAI sends it (``response.created``, ``output_item.added``,
deltas, ``output_item.done``, ``response.completed`` with the whole response object), then
served whole, one byte at a time and in random slices, with and without SSE ``event:`` lines
(OpenRouter sends none): the events and the final response must be the same every time, and
the final response must be exactly ``parse_response`` of the completed response object.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from agentkit import Agent, ModelSettings, tool
from agentkit._http import sse as _sse
from agentkit.errors import (
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    StreamEndedEarly,
)
from agentkit.events import (
    FinalOutput,
    PartialOutput,
    ReasoningDelta,
    ResponseComplete,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
)
from agentkit.messages import UserMessage
from agentkit.models import FallbackModel, OpenAIResponses, OpenRouterResponses
from agentkit.models._responses_stream import ResponsesStreamAssembler
from agentkit.models.base import ModelRequest, events_from_response
from tests.support.server import Reply
from tests.support.specs import assert_valid_request

KEY = "sk-responses-stream-secret-4242"
USAGE = {
    "input_tokens": 36,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 87,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 123,
}


@tool
def get_weather(city: str) -> str:
    """Get the weather.

    Args:
        city: City name.
    """
    return f"Sunny in {city}"


# -- building realistic streams ---------------------------------------------------------------


def response(*output: dict[str, Any], status: str = "completed", usage: dict[str, Any] | None = USAGE, **extra: Any):
    """A whole Responses API response object (what ``response.completed`` carries)."""
    body = {
        "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
        "object": "response",
        "created_at": 1741476542,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": "gpt-4o-2024-08-06",
        "output": list(output),
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {},
    }
    body.update(extra)
    return body


def message(*texts: str, refusal: str | None = None, id: str = "msg_67ccd2bf17f0819081ff3bb2cf6508e6") -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "output_text", "text": t, "annotations": [], "logprobs": []} for t in texts]
    if refusal is not None:
        content.append({"type": "refusal", "refusal": refusal})
    return {"type": "message", "id": id, "status": "completed", "role": "assistant", "content": content}


def function_call(name: str, arguments: str, call_id: str, id: str) -> dict[str, Any]:
    return {"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": arguments, "status": "completed"}


def reasoning(*summaries: str, id: str = "rs_6876cf02e0bc8192b74af0fb64b715ff") -> dict[str, Any]:
    return {"type": "reasoning", "id": id, "summary": [{"type": "summary_text", "text": s} for s in summaries]}


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def wire_events(final: dict[str, Any], *, size: int = 4) -> tuple[list[dict[str, Any]], list[Any]]:
    """The events OpenAI streams for ``final`` (text and arguments in ``size``-character deltas),
    and the agentkit events they must become (without the closing ResponseComplete)."""
    events: list[dict[str, Any]] = []
    expected: list[Any] = []
    state = {"reasoning": False, "calls": 0}

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    start = {**final, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    for n, item in enumerate(final["output"]):
        where = {"item_id": item["id"], "output_index": n}
        if item["type"] == "message":
            emit("response.output_item.added", output_index=n, item={**item, "status": "in_progress", "content": []})
            for c, part in enumerate(item["content"]):
                key = "text" if part["type"] == "output_text" else "refusal"
                emit("response.content_part.added", **where, content_index=c, part={**part, key: ""})
                for piece in pieces(part[key], size):
                    if key == "text":
                        emit("response.output_text.delta", **where, content_index=c, delta=piece, logprobs=[])
                        expected.append(TextDelta(piece))
                    else:
                        emit("response.refusal.delta", **where, content_index=c, delta=piece)
                emit(
                    f"response.{'output_text' if key == 'text' else 'refusal'}.done", **where, content_index=c, **{key: part[key]}
                )
                emit("response.content_part.done", **where, content_index=c, part=part)
        elif item["type"] == "function_call":
            index = state["calls"]
            state["calls"] += 1
            emit("response.output_item.added", output_index=n, item={**item, "status": "in_progress", "arguments": ""})
            expected.append(ToolCallStarted(item["call_id"], item["name"], index))
            for piece in pieces(item["arguments"], size):
                emit("response.function_call_arguments.delta", **where, delta=piece, obfuscation="x7Kq")
                expected.append(ToolCallArgsDelta(item["call_id"], piece, index))
            emit("response.function_call_arguments.done", **where, arguments=item["arguments"])
            parsed = json.loads(item["arguments"])
            expected.append(ToolCallReady(item["call_id"], item["name"], parsed, item["arguments"]))
        elif item["type"] == "reasoning":
            emit("response.output_item.added", output_index=n, item={**item, "summary": []})
            for s, part in enumerate(item["summary"]):
                emit("response.reasoning_summary_part.added", **where, summary_index=s, part={**part, "text": ""})
                for i, piece in enumerate(pieces(part["text"], size)):
                    emit("response.reasoning_summary_text.delta", **where, summary_index=s, delta=piece)
                    expected.append(ReasoningDelta(("\n\n" if i == 0 and state["reasoning"] else "") + piece))
                state["reasoning"] = True
                emit("response.reasoning_summary_text.done", **where, summary_index=s, text=part["text"])
                emit("response.reasoning_summary_part.done", **where, summary_index=s, part=part)
        emit("response.output_item.done", output_index=n, item=item)
    emit(f"response.{final['status']}", response=final)
    return events, expected


def sse(events: list[dict[str, Any]], *, names: bool = True, done: bool = False, comments: bool = False) -> bytes:
    """SSE bytes: OpenAI's ``event:`` + ``data:`` lines, or OpenRouter's ``data:`` only (with comments)."""
    out = []
    for event in events:
        if comments:
            out.append(": OPENROUTER PROCESSING\n\n")
        if names:
            out.append(f"event: {event['type']}\n")
        out.append(f"data: {json.dumps(event, ensure_ascii=False)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def split(payload: bytes, how: str) -> list[bytes]:
    """``payload`` whole, one byte at a time, or in random slices (seeded by ``how``)."""
    if how == "whole":
        return [payload]
    if how == "bytes":
        return [payload[i : i + 1] for i in range(len(payload))]
    rng = random.Random(how)
    out, i = [], 0
    while i < len(payload):
        n = rng.randint(1, 64)
        out.append(payload[i : i + n])
        i += n
    return out


def stream_reply(payload: bytes, how: str = "whole", **kw: Any) -> Reply:
    return Reply(chunks=split(payload, how), content_type="text/event-stream", **kw)


def _model(server, cls=OpenAIResponses, **kw):
    return cls("gpt-4o", api_key=KEY, base_url=server.url + "/v1", **kw)


_TLS = ssl.create_default_context()  # shared: httpx builds a fresh one (~50 ms) for every client otherwise


@pytest.fixture
async def make():
    """``make(server, cls=OpenAIResponses, **options)``: a model on a fast client, closed at teardown."""
    clients: list[httpx.AsyncClient] = []

    def build(server, cls=OpenAIResponses, **kw):
        clients.append(httpx.AsyncClient(verify=_TLS))
        return _model(server, cls, http_client=clients[-1], **kw)

    yield build
    for client in clients:
        await client.aclose()


def _sent(server):
    """The /responses bodies the server received, each checked against OpenAI's CreateResponse schema."""
    bodies = server.bodies("/responses")
    for body in bodies:
        assert_valid_request(body, "openai", "responses")
    return bodies


REQUEST = ModelRequest([UserMessage(content="Weather in Paris?")])


async def collect(model, request=REQUEST) -> tuple[list[Any], BaseException | None]:
    events: list[Any] = []
    try:
        async for event in model.stream(request):
            events.append(event)
    except Exception as e:
        return events, e
    return events, None


# -- the same events and response, however the bytes are split ---------------------------------

SCENARIOS = {
    "text": response(message("Bonjour ! Il fait 22 °C à Paris 🌞, et demain aussi.")),
    "tool_call": response(function_call("get_weather", '{"city": "Paris", "unit": "c"}', "call_YfwRsW8sUx", "fc_67ccd2bf")),
    "parallel_calls": response(
        function_call("get_weather", '{"city": "Paris"}', "call_paris", "fc_1"),
        function_call("get_weather", '{"city": "Rome"}', "call_rome", "fc_2"),
    ),
    "reasoning_then_text": response(
        reasoning("**Checking the forecast**\n\nThey ask about Paris.", "Answer briefly."),
        message("Sunny, 22 °C."),
        usage={
            "input_tokens": 120,
            "input_tokens_details": {"cached_tokens": 64},
            "output_tokens": 300,
            "output_tokens_details": {"reasoning_tokens": 256},
            "total_tokens": 420,
        },
        model="o4-mini-2025-04-16",
    ),
    "text_and_call": response(message("Let me check."), function_call("get_weather", '{"city": "Lyon"}', "call_lyon", "fc_3")),
    "refusal": response(message(refusal="I'm sorry, I can't help with that.")),
    "incomplete": response(
        message("The weather in Paris is"),
        status="incomplete",
        incomplete_details={"reason": "max_output_tokens"},
    ),
}
SPLITS = ["whole", "bytes", "random-1", "random-2"]


@pytest.mark.parametrize("how", SPLITS)
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_every_split_gives_the_same_events_and_response(loopback, make, name, how):
    final = SCENARIOS[name]
    events, expected = wire_events(final)
    if how == "random-1":  # OpenRouter: no event: lines, comments, [DONE]
        payload = sse(events, names=False, done=True, comments=True)
    else:  # OpenAI: event: lines, no [DONE]
        payload = sse(events)
    server = loopback([stream_reply(payload, how)], spec=None)
    model = make(server)
    got, error = await collect(model)
    assert error is None
    assert got[:-1] == expected
    assert got[-1] == ResponseComplete(model.parse_response(final))
    _check_consistent(got)
    assert got[-1].response.usage.requests == 1
    assert len(_sent(server)) == 1


async def test_openrouter_style_one_byte_at_a_time(loopback, make):
    """No event: lines, comment lines between events, [DONE] at the end; split to single bytes."""
    events, expected = wire_events(SCENARIOS["text_and_call"])
    server = loopback([stream_reply(sse(events, names=False, done=True, comments=True), "bytes")], spec=None)
    model = make(server, OpenRouterResponses)
    got, error = await collect(model)
    assert error is None
    assert got == [*expected, ResponseComplete(model.parse_response(SCENARIOS["text_and_call"]))]


def _check_consistent(events: list[Any]) -> None:
    """The deltas add up to the final message; each call starts, streams, then is ready once."""
    final = events[-1].response.message
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    thoughts = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert text == (final.content or "")
    assert thoughts == (final.reasoning or "")
    for index, call in enumerate(final.tool_calls):
        mine = [e for e in events if getattr(e, "tool_call_id", None) == call.id]
        assert mine[0] == ToolCallStarted(call.id, call.name, index)
        assert "".join(e.delta for e in mine if isinstance(e, ToolCallArgsDelta)) == call.arguments
        assert all(e.index == index for e in mine if isinstance(e, ToolCallArgsDelta))
        assert mine[-1] == ToolCallReady(call.id, call.name, json.loads(call.arguments), call.arguments)


def test_scenarios_stream_for_real():
    """Many deltas per answer, not one replayed message."""
    events, expected = wire_events(SCENARIOS["text"])
    assert sum(isinstance(e, TextDelta) for e in expected) > 10
    assert {e["type"] for e in events} >= {"response.created", "response.output_text.delta", "response.completed"}


async def test_usage_and_reasoning_come_from_the_completed_response(loopback, make):
    final = SCENARIOS["reasoning_then_text"]
    server = loopback([stream_reply(sse(wire_events(final)[0]), "random-7")], spec=None)
    events, error = await collect(make(server))
    assert error is None
    done = events[-1].response
    assert done.usage.prompt_tokens == 120 and done.usage.completion_tokens == 300 and done.usage.total_tokens == 420
    assert done.usage.details == {"cached_tokens": 64, "reasoning_tokens": 256}
    assert done.message.reasoning == "**Checking the forecast**\n\nThey ask about Paris.\n\nAnswer briefly."
    assert done.message.content == "Sunny, 22 °C."
    assert (done.finish_reason, done.model_name, done.response_id) == ("stop", "o4-mini-2025-04-16", final["id"])
    assert [type(e).__name__ for e in events[:2]] == ["ReasoningDelta", "ReasoningDelta"]


async def test_incomplete_and_refusal(loopback, make):
    server = loopback([stream_reply(sse(wire_events(SCENARIOS[name])[0])) for name in ("incomplete", "refusal")], spec=None)
    model = make(server)
    cut, _ = await collect(model)
    assert cut[-1].finish_reason == "length" and cut[-1].response.message.content == "The weather in Paris is"
    refused, _ = await collect(model)
    assert refused[-1].response.message.refusal == "I'm sorry, I can't help with that."
    assert refused[-1].response.message.content is None
    assert refused[:-1] == []


async def test_interleaved_parallel_calls_are_told_apart_by_item_id(loopback, make):
    """Argument deltas of two calls interleaved; one event keyed by output_index only."""
    final = SCENARIOS["parallel_calls"]
    a, b = final["output"]
    start = {**final, "status": "in_progress", "output": [], "usage": None}
    events = [
        {"type": "response.created", "response": start},
        {"type": "response.output_item.added", "output_index": 0, "item": {**a, "arguments": "", "status": "in_progress"}},
        {"type": "response.output_item.added", "output_index": 1, "item": {**b, "arguments": "", "status": "in_progress"}},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_2", "output_index": 1, "delta": '{"city": '},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 0, "delta": '{"city": '},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '"Paris"}'},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_2", "output_index": 1, "delta": '"Rome"}'},
        {"type": "response.output_item.done", "output_index": 1, "item": b},
        {"type": "response.output_item.done", "output_index": 0, "item": a},
        {"type": "response.completed", "response": final},
    ]
    server = loopback([stream_reply(sse(events, names=False), "bytes")], spec=None)
    got, error = await collect(make(server))
    assert error is None
    assert got[:-1] == [
        ToolCallStarted("call_paris", "get_weather", 0),
        ToolCallStarted("call_rome", "get_weather", 1),
        ToolCallArgsDelta("call_rome", '{"city": ', 1),
        ToolCallArgsDelta("call_paris", '{"city": ', 0),
        ToolCallArgsDelta("call_paris", '"Paris"}', 0),
        ToolCallArgsDelta("call_rome", '"Rome"}', 1),
        ToolCallReady("call_rome", "get_weather", {"city": "Rome"}, '{"city": "Rome"}'),
        ToolCallReady("call_paris", "get_weather", {"city": "Paris"}, '{"city": "Paris"}'),
    ]
    assert got[-1].response == _model(server).parse_response(final)
    assert got[-1].finish_reason == "tool_calls"


async def test_whole_items_without_deltas_are_caught_up(loopback, make):
    """A server that sends no deltas (only whole items, or only the final object) still yields every event."""
    final = SCENARIOS["text_and_call"]
    text_item, call_item = final["output"]
    items_only = [
        {"type": "response.output_item.done", "output_index": 0, "item": text_item},
        {"type": "response.output_item.done", "output_index": 1, "item": call_item},
        {"type": "response.completed", "response": final},
    ]
    server = loopback(
        [stream_reply(sse(items_only)), stream_reply(sse([{"type": "response.completed", "response": final}]))], spec=None
    )
    model = make(server)
    want = events_from_response(model.parse_response(final))
    for _ in range(2):
        got, error = await collect(model)
        assert error is None
        _check_consistent(got)
        assert sorted(map(repr, got)) == sorted(map(repr, want))


# -- errors -------------------------------------------------------------------------------------

CREATED = {"type": "response.created", "response": response(status="in_progress", usage=None)}
DELTA = {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hel"}


@pytest.mark.parametrize(
    ("error", "cls", "status"),
    [
        ({"code": "rate_limit_exceeded", "message": "Rate limit reached for gpt-4o.", "param": None}, RateLimitError, 429),
        ({"code": "server_error", "message": "The server had an error.", "param": None}, ProviderUnavailableError, 500),
        ({"code": "ERR_SOMETHING", "message": "Something went wrong", "param": None}, ProviderError, 200),
        ({"code": 502, "message": "Upstream died mid-answer"}, ProviderUnavailableError, 502),  # OpenRouter: HTTP codes
        ({"code": "context_length_exceeded", "message": f"too long (key {KEY})"}, BadRequestError, 400),
    ],
)
async def test_error_event_raises_the_typed_error(loopback, make, error, cls, status):
    event = {"type": "error", "sequence_number": 2, **error}
    server = loopback([stream_reply(sse([CREATED, DELTA, event]), "random-5")], spec=None)
    events, e = await collect(make(server))
    assert events == [TextDelta("Hel")]  # what arrived before the error was yielded
    assert type(e) is cls
    assert e.status == status and e.code == error["code"]
    assert e.message.startswith(error["message"].split(" (key")[0])
    assert e.provider == "openai"
    assert KEY not in str(e) and KEY not in repr(e) and KEY not in json.dumps(e.body)


async def test_an_error_object_inside_an_error_event(loopback, make):
    event = {"type": "error", "error": {"type": "invalid_request_error", "code": "invalid_prompt", "message": "Bad prompt."}}
    server = loopback([stream_reply(sse([event], names=False))], spec=None)
    _, e = await collect(make(server, OpenRouterResponses))
    assert type(e) is BadRequestError and e.message == "Bad prompt." and e.type == "invalid_request_error"


@pytest.mark.parametrize(
    ("error", "cls", "words"),
    [
        ({"code": "server_error", "message": "The model failed to generate a response."}, ProviderUnavailableError, "failed to"),
        ({"code": "rate_limit_exceeded", "message": "Slow down."}, RateLimitError, "Slow down."),
        (None, ProviderError, "the response failed (status failed)"),
    ],
)
async def test_response_failed_raises_the_typed_error(loopback, make, error, cls, words):
    failed = {"type": "response.failed", "response": response(status="failed", error=error, usage=None)}
    server = loopback([stream_reply(sse([CREATED, DELTA, failed]), "bytes")], spec=None)
    events, e = await collect(make(server))
    assert events == [TextDelta("Hel")]
    assert type(e) is cls and words in e.message


async def test_an_error_before_any_event_lets_fallback_try_the_next_model(loopback, make):
    limited = {"type": "error", "code": "rate_limit_exceeded", "message": "Rate limit reached."}
    bad = loopback([stream_reply(sse([CREATED, limited]))], spec=None)
    good = loopback([stream_reply(sse(wire_events(SCENARIOS["text"])[0]))], spec=None)
    events, error = await collect(FallbackModel(make(bad), make(good)))
    assert error is None
    assert events[-1].response.message.content == SCENARIOS["text"]["output"][0]["content"][0]["text"]


@pytest.mark.parametrize("how", ["whole", "bytes", "random-9"])
async def test_a_stream_that_ends_early_raises_with_what_arrived(loopback, make, how):
    events, _ = wire_events(SCENARIOS["text_and_call"], size=3)
    cut_at = next(i for i, e in enumerate(events) if e["type"] == "response.function_call_arguments.delta") + 2
    server = loopback([stream_reply(sse(events[:cut_at]), how), stream_reply(sse(events[:cut_at], done=True), how)], spec=None)
    model = make(server)
    for why in ("the body ended", "[DONE] came first"):
        got, e = await collect(model)
        assert isinstance(e, StreamEndedEarly) and why in str(e)
        assert not any(isinstance(x, ResponseComplete) for x in got)
        partial = e.partial.message
        assert partial.content == "Let me check."
        assert [(c.id, c.name, c.arguments) for c in partial.tool_calls] == [("call_lyon", "get_weather", '{"city')]
        assert e.partial.response_id == SCENARIOS["text_and_call"]["id"] and e.partial.finish_reason is None
        assert "".join(x.text for x in got if isinstance(x, TextDelta)) == partial.content


async def test_a_connection_cut_mid_body_raises_stream_ended_early(loopback, make):
    payload = sse(wire_events(SCENARIOS["text"])[0])
    server = loopback([Reply(body=payload, content_type="text/event-stream", cut_after=len(payload) // 2)], spec=None)
    got, e = await collect(make(server))
    assert isinstance(e, StreamEndedEarly) and "connection broke" in str(e)
    assert e.partial.message.content and SCENARIOS["text"]["output"][0]["content"][0]["text"].startswith(
        e.partial.message.content
    )
    assert got and all(isinstance(x, TextDelta) for x in got)


async def test_an_idle_stream_times_out(loopback, make):
    events = wire_events(SCENARIOS["text"])[0]
    server = loopback(
        [Reply(chunks=[sse(events[:4]), sse(events[4:])], chunk_delay=1.0, content_type="text/event-stream")], spec=None
    )
    _, e = await collect(make(server, idle_timeout=0.2))
    assert isinstance(e, APITimeoutError) and "idle" in str(e)


async def test_events_after_the_final_one_are_ignored(loopback, make):
    final = SCENARIOS["text"]
    events = [*wire_events(final)[0], DELTA, {"type": "error", "message": "late"}]
    server = loopback([stream_reply(sse(events) + b"data: not json\n\ndata: [DONE]\n\n")], spec=None)
    got, e = await collect(make(server))
    assert e is None and got[-1].response == _model(server).parse_response(final)


async def test_the_sse_event_name_fills_in_a_missing_type(loopback, make):
    """Dispatch is on the JSON type; a server that puts the name only on the event: line still works."""
    final = SCENARIOS["text"]
    untyped = [{k: v for k, v in e.items() if k != "type"} for e in wire_events(final)[0]]
    payload = "".join(
        f"event: {e['type']}\ndata: {json.dumps(u)}\n\n" for e, u in zip(wire_events(final)[0], untyped, strict=True)
    )
    server = loopback([stream_reply(payload.encode())], spec=None)
    model = make(server)
    got, e = await collect(model)
    assert e is None and got == [*wire_events(final)[1], ResponseComplete(model.parse_response(final))]


async def test_the_connection_is_kept_for_the_next_request(loopback, make):
    """After the final event the rest of the body ([DONE]) is read, so the connection goes back to the pool."""
    payload = sse(wire_events(SCENARIOS["text"])[0], done=True)
    server = loopback([stream_reply(payload, "random-4") for _ in range(3)], spec=None)
    model = make(server)
    for _ in range(3):
        got, e = await collect(model)
        assert e is None and isinstance(got[-1], ResponseComplete)
        await asyncio.sleep(0.05)
        assert server.open_connections == 1


async def test_a_server_that_stalls_after_the_final_event_does_not_hold_the_run(loopback, make, monkeypatch):
    monkeypatch.setattr(_sse, "DRAIN_TIMEOUT", 0.1)
    payload = sse(wire_events(SCENARIOS["text"])[0])
    server = loopback(
        [Reply(chunks=[payload, b"data: [DONE]\n\n"], chunk_delay=2.0, content_type="text/event-stream")], spec=None
    )
    started = time.perf_counter()
    got, e = await collect(make(server))
    assert e is None and isinstance(got[-1], ResponseComplete)
    assert time.perf_counter() - started < 1.0


async def test_a_body_that_cannot_be_decoded(loopback, make):
    reply = Reply(chunks=[b"not gzip at all"], content_type="text/event-stream", headers={"content-encoding": "gzip"})
    server = loopback([reply], spec=None)
    _, e = await collect(make(server))
    assert isinstance(e, StreamEndedEarly) and "DecodingError" in str(e) and e.partial.message.content is None


async def test_a_chunk_that_is_not_json(loopback, make):
    server = loopback([stream_reply(b'data: {"type": "response.created"\n\n')], spec=None)
    _, e = await collect(make(server))
    assert type(e).__name__ == "ResponseParseError" and "not JSON" in str(e)


# -- the request and the HTTP around it ---------------------------------------------------------


async def test_request_body_asks_for_a_stream_and_nothing_else(loopback, make):
    events = wire_events(SCENARIOS["tool_call"])[0]
    server = loopback([stream_reply(sse(events)), stream_reply(sse(events))], spec=None)
    request = ModelRequest(
        [UserMessage(content="Weather in Paris?")],
        (get_weather.definition,),
        ModelSettings(tool_choice="auto", max_tokens=64, extra_headers={"x-trace": "42"}),
    )
    await collect(make(server), request)
    await collect(make(server, OpenRouterResponses), request)
    openai, openrouter = _sent(server)
    for body in (openai, openrouter):
        assert body["stream"] is True and "stream_options" not in body
        assert body["max_output_tokens"] == 64 and body["tools"][0]["name"] == "get_weather"
    assert openai["store"] is False and "store" not in openrouter
    assert {k: v for k, v in openai.items() if k != "stream"} == _model(server).build_body(request)
    assert server.requests[0].headers["x-trace"] == "42"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_failures_before_the_first_byte_are_retried(loopback, make):
    events = wire_events(SCENARIOS["text"])[0]
    busy = Reply(503, {"error": {"message": "overloaded", "type": "server_error"}}, headers={"retry-after": "0"})
    server = loopback([busy, stream_reply(sse(events))], spec=None)
    got, e = await collect(make(server, max_retries=1))
    assert e is None and got[-1].response.message.content
    assert len(server.requests) == 2


async def test_http_errors_are_typed_and_redacted(loopback, make):
    server = loopback(
        [Reply(401, {"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}})], spec=None
    )
    _, e = await collect(make(server))
    assert isinstance(e, AuthenticationError) and e.code == "invalid_api_key" and KEY not in str(e)


async def test_a_server_that_ignores_stream_answers_with_json(loopback, make):
    final = SCENARIOS["text_and_call"]
    server = loopback([Reply(body=final)], spec=None)
    model = make(server)
    got, e = await collect(model)
    assert e is None and got == events_from_response(model.parse_response(final))


def test_the_assembler_is_pure():
    """Fed the decoded events directly, it gives what the wire gives."""
    final = SCENARIOS["reasoning_then_text"]
    events, expected = wire_events(final, size=1)
    model = OpenAIResponses("gpt-4o", api_key=KEY, base_url="http://127.0.0.1:9/v1")
    assembler = ResponsesStreamAssembler(model.parse_response, model._http.chunk_error, "openai")
    got = [e for event in events for e in assembler.feed(event)]
    assert got == [*expected, ResponseComplete(model.parse_response(final))]
    assert assembler.done and assembler.feed(DELTA) == []


# -- through the agent --------------------------------------------------------------------------


async def test_agent_run_stream_with_a_tool(loopback, make):
    call = response(function_call("get_weather", '{"city": "Paris"}', "call_w", "fc_w"))
    answer = response(message("It is sunny in Paris."))
    server = loopback([stream_reply(sse(wire_events(c)[0]), "random-3") for c in (call, answer)], spec=None)
    agent = Agent(make(server), tools=[get_weather], instructions="Be brief.")
    async with agent.run_stream("Weather in Paris?") as stream:
        events = [event async for event in stream]
        result = stream.result
    kinds = [type(e).__name__ for e in events]
    for kind in ("TextDelta", "ToolCallStarted", "ToolCallArgsDelta", "ToolCallReady", "ToolResult", "FinalOutput"):
        assert kind in kinds
    assert kinds.index("ToolCallStarted") < kinds.index("ToolResult") < kinds.index("TextDelta") < kinds.index("FinalOutput")
    assert [e for e in events if isinstance(e, ToolResult)] == [ToolResult("call_w", "get_weather", "Sunny in Paris", False, 1)]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "It is sunny in Paris."
    assert [e.turn for e in events if isinstance(e, ResponseComplete)] == [1, 2]
    assert isinstance(events[-1], FinalOutput) and events[-1].output == "It is sunny in Paris."
    assert result.output == "It is sunny in Paris."
    assert result.usage.requests == 2 and result.usage.total_tokens == 2 * USAGE["total_tokens"]
    first, second = _sent(server)
    assert first["stream"] is second["stream"] is True and first["instructions"] == "Be brief."
    assert [i.get("type") for i in second["input"][1:]] == ["function_call", "function_call_output"]
    assert second["input"][2] == {"type": "function_call_output", "call_id": "call_w", "output": "Sunny in Paris"}


async def test_agent_streams_structured_output_as_partial_output(loopback, make):
    class City(BaseModel):
        name: str
        country: str
        population: int

    text = json.dumps({"name": "Paris", "country": "France", "population": 2102650})
    server = loopback([stream_reply(sse(wire_events(response(message(text)), size=5)[0]), "bytes")], spec=None)
    agent = Agent(make(server), output_type=City)
    async with agent.run_stream("Biggest French city?") as stream:
        events = [event async for event in stream]
    partials = [e for e in events if isinstance(e, PartialOutput)]
    assert len(partials) >= 3
    assert partials[0].data in ({}, {"name": ""}, {"name": "P"}, {"name": "Pa"}, {"name": "Par"})
    assert partials[-1].data == {"name": "Paris", "country": "France", "population": 2102650}
    assert partials[-1].output == City(name="Paris", country="France", population=2102650)
    assert stream.result.output == City(name="Paris", country="France", population=2102650)
    [body] = _sent(server)
    assert body["stream"] is True and body["text"]["format"]["type"] == "json_schema"


def test_run_stream_sync(loopback):
    server = loopback([stream_reply(sse(wire_events(SCENARIOS["text"])[0]))], spec=None)
    with Agent(_model(server)).run_stream_sync("hi") as stream:
        texts = [e.text for e in stream if isinstance(e, TextDelta)]
    assert "".join(texts) == stream.result.output == SCENARIOS["text"]["output"][0]["content"][0]["text"]
