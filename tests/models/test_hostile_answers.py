"""Hostile model answers end in typed errors: whatever a server answers, a model request either
returns a well-typed :class:`ModelResponse` or raises an agentkit error naming the provider.

Generated with hypothesis over JSON shapes: a random JSON value substituted at any position of a
valid answer (or a key removed), for chat completions and the Responses API, whole and streamed,
served by the real loopback server; plus the examples that escaped as ``AttributeError``,
``TypeError``, ``ValueError``, ``OverflowError``, ``RecursionError`` or pydantic's
``ValidationError`` before.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit import Agent
from agentkit.errors import AgentkitError, ProviderError, ResponseParseError
from agentkit.events import (
    ModelStreamEvent,
    ReasoningDelta,
    ResponseComplete,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallReady,
    ToolCallStarted,
)
from agentkit.messages import AssistantMessage, UserMessage, dump_messages, load_messages
from agentkit.models import OpenAICompatible
from agentkit.models.base import ModelRequest, ModelResponse, events_from_response
from agentkit.models.responses import ResponsesModel
from tests.support.server import LoopbackServer, Reply, call, chat_completion
from tests.support.sse import chunk, sse, text_stream, tool_call_stream

PROVIDER = "hostile-test"
SSE = "text/event-stream"
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the server: one for the module, answering whatever a test puts in ``served`` ----------------


served: dict[str, Reply] = {}


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(lambda request: served["reply"]) as running:
        yield running


def chat_model(server: LoopbackServer, transport: str = "aiohttp") -> OpenAICompatible:
    return OpenAICompatible(
        "m",
        base_url=server.url + "/v1",
        provider=PROVIDER,
        max_retries=0,
        transport=transport,  # type: ignore[arg-type]
    )


def responses_model(server: LoopbackServer, transport: str = "aiohttp") -> ResponsesModel:
    return ResponsesModel("m", base_url=server.url + "/v1", provider=PROVIDER, max_retries=0, transport=transport)  # type: ignore[arg-type]


def ask(model: Any, reply: Reply, *, stream: bool = False) -> tuple[list[ModelStreamEvent], ModelResponse | AgentkitError]:
    """Serve ``reply`` and make one request (or stream) on a fresh event loop: the events and the
    response, or the agentkit error it ended in (any other exception fails the test)."""
    served["reply"] = reply

    events: list[ModelStreamEvent] = []

    async def read() -> ModelResponse:
        if not stream:
            response: ModelResponse = await model.request(REQUEST)
            return response
        async for event in model.stream(REQUEST):
            events.append(event)
        assert isinstance(events[-1], ResponseComplete)
        return events[-1].response

    async def go() -> tuple[list[ModelStreamEvent], ModelResponse | AgentkitError]:
        try:
            return events, await asyncio.wait_for(read(), 20)
        except AgentkitError as error:
            return events, error
        finally:
            await model.aclose()

    return asyncio.run(go())


def assert_typed(outcome: ModelResponse | AgentkitError, events: list[ModelStreamEvent] = ()) -> None:  # type: ignore[assignment]
    """A response whose every field has its declared type (and survives a JSON round trip), or a
    provider error that names the provider."""
    if isinstance(outcome, AgentkitError):
        assert isinstance(outcome, ProviderError), repr(outcome)
        assert outcome.provider == PROVIDER and PROVIDER in str(outcome)
        assert isinstance(outcome.message, str) and len(outcome.message) < 2000
        return
    assert isinstance(outcome, ModelResponse)
    message = outcome.message
    assert isinstance(message, AssistantMessage)
    for text in (outcome.finish_reason, outcome.model_name, outcome.response_id, message.content, message.reasoning):
        assert text is None or isinstance(text, str)
    for tool_call in message.tool_calls:
        assert isinstance(tool_call.id, str) and isinstance(tool_call.name, str) and isinstance(tool_call.arguments, str)
    usage = outcome.usage
    for count in (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, *usage.details.values()):
        assert type(count) is int
    assert usage.cost is None or (type(usage.cost) is float and math.isfinite(usage.cost))
    saved = dump_messages([message])  # (NaN and Infinity among provider_details are saved as null)
    assert dump_messages(load_messages(saved)) == saved
    events_from_response(outcome)
    for event in events:
        if isinstance(event, (TextDelta, ReasoningDelta)):
            assert isinstance(event.text, str)
        elif isinstance(event, ToolCallStarted):
            assert isinstance(event.tool_call_id, str) and isinstance(event.name, str)
        elif isinstance(event, ToolCallArgsDelta):
            assert isinstance(event.delta, str)
        elif isinstance(event, ToolCallReady):
            assert isinstance(event.raw_arguments, str) and isinstance(event.name, str)


# --- JSON shapes ----------------------------------------------------------------------------------

TRICKY: list[Any] = ["12k", "", "x", "Infinity", [], {}, [1], [None], 1e308, -1, 0, True, False, None, 2**80]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and ±Infinity included: Python's json writes and reads them
    | st.text(max_size=12)
    | st.sampled_from(TRICKY)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position in a JSON document (the root included)."""
    yield at
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, (*at, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths(inner, (*at, index))


def mutate(document: Any, path: tuple[Any, ...], value: Any, remove: bool) -> Any:
    """``document`` (copied) with ``value`` at ``path``, or the key there removed."""
    document = json.loads(json.dumps(document))
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if remove and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one to three positions replaced by random JSON (or removed)."""
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(document))))
        document = mutate(document, path, draw(json_values), draw(st.booleans()))
    return document


def body(data: Any) -> bytes:
    return json.dumps(data).encode()  # NaN and Infinity as Python writes them


# --- valid answers to start from ---------------------------------------------------------------------

CHAT = chat_completion(
    "Let me check.",
    [call("get_weather", {"city": "Paris"}), call("get_time", "{}", id="call_2")],
    usage={
        "prompt_tokens": 80,
        "completion_tokens": 15,
        "total_tokens": 95,
        "cost": 0.001,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 2},
    },
)
CHAT["choices"][0]["message"]["reasoning"] = "Weather first."
CHAT["choices"][0]["message"]["refusal"] = None
CHAT["choices"][0]["native_finish_reason"] = "tool_calls"
CHAT["provider"] = "Loopback"

RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "status": "completed",
    "model": "gpt-test",
    "incomplete_details": None,
    "output": [
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Weather first."}]},
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}, {"type": "refusal", "refusal": ""}],
        },
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
    ],
    "usage": {
        "input_tokens": 80,
        "output_tokens": 15,
        "total_tokens": 95,
        "input_tokens_details": {"cached_tokens": 3},
        "output_tokens_details": {"reasoning_tokens": 2},
    },
}

CHAT_CHUNKS = [
    chunk({"role": "assistant", "content": "", "reasoning": "Weather "}),
    chunk({"reasoning": "first."}),
    *text_stream("Let me", " check.")[1:-2],
    *tool_call_stream("get_weather", '{"city": "Paris"}')[:-2],
    chunk({}, finish_reason="tool_calls"),
    chunk(None, usage={"prompt_tokens": 80, "completion_tokens": 15, "total_tokens": 95}),
]


def responses_events() -> list[dict[str, Any]]:
    call_item = RESPONSE["output"][2]
    return [
        {"type": "response.created", "response": {**RESPONSE, "status": "in_progress", "output": []}},
        {
            "type": "response.reasoning_summary_text.delta",
            "item_id": "rs_1",
            "output_index": 0,
            "summary_index": 0,
            "delta": "Weather first.",
        },
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1, "content_index": 0, "delta": "Let me"},
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1, "content_index": 0, "delta": " check."},
        {"type": "response.output_item.added", "output_index": 2, "item": {**call_item, "arguments": ""}},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 2, "delta": '{"city": '},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 2, "delta": '"Paris"}'},
        {"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 2, "arguments": '{"city": "Paris"}'},
        {"type": "response.output_item.done", "output_index": 2, "item": call_item},
        {"type": "response.completed", "response": RESPONSE},
    ]


def sse_body(events: list[Any], *, done: bool = True) -> bytes:
    out = b"".join(b"data: " + body(e) + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


def test_the_valid_answers_parse(server: LoopbackServer) -> None:
    _, chat = ask(chat_model(server), Reply(body=body(CHAT), content_type="application/json"))
    assert isinstance(chat, ModelResponse) and chat.message.content == "Let me check." and len(chat.message.tool_calls) == 2
    _, streamed = ask(chat_model(server), Reply(chunks=[sse(CHAT_CHUNKS)], content_type=SSE), stream=True)
    assert isinstance(streamed, ModelResponse) and streamed.message.reasoning == "Weather first."
    assert streamed.message.tool_calls[0].arguments == '{"city": "Paris"}' and streamed.usage.total_tokens == 95
    _, whole = ask(responses_model(server), Reply(body=body(RESPONSE), content_type="application/json"))
    assert isinstance(whole, ModelResponse) and whole.message.tool_calls[0].name == "get_weather"
    _, streamed = ask(responses_model(server), Reply(chunks=[sse_body(responses_events())], content_type=SSE), stream=True)
    assert streamed == whole


# --- generated: any value anywhere ------------------------------------------------------------------


@HYPOTHESIS
@given(answer=mutated(CHAT), transport=st.sampled_from(["aiohttp", "httpx"]))
def test_chat_completions_with_any_value_anywhere(server: LoopbackServer, answer: Any, transport: str) -> None:
    _, outcome = ask(chat_model(server, transport), Reply(body=body(answer), content_type="application/json"))
    assert_typed(outcome)


@HYPOTHESIS
@given(answer=mutated(RESPONSE), transport=st.sampled_from(["aiohttp", "httpx"]))
def test_responses_api_answers_with_any_value_anywhere(server: LoopbackServer, answer: Any, transport: str) -> None:
    _, outcome = ask(responses_model(server, transport), Reply(body=body(answer), content_type="application/json"))
    assert_typed(outcome)


@st.composite
def mutated_stream(draw: st.DrawFn, events: list[Any]) -> list[Any]:
    """``events`` with one changed at random positions, or random JSON values put among them."""
    events = list(events)
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(events) - 1))
        if draw(st.integers(0, 3)) == 0:
            events.insert(index, draw(json_values))
        else:
            events[index] = draw(mutated(events[index]))
    return events


@HYPOTHESIS
@given(events=mutated_stream(CHAT_CHUNKS), done=st.booleans())
def test_chat_streams_with_any_value_anywhere(server: LoopbackServer, events: list[Any], done: bool) -> None:
    seen, outcome = ask(chat_model(server), Reply(chunks=[sse_body(events, done=done)], content_type=SSE), stream=True)
    assert_typed(outcome, seen)


@HYPOTHESIS
@given(events=mutated_stream(responses_events()), done=st.booleans())
def test_responses_api_streams_with_any_value_anywhere(server: LoopbackServer, events: list[Any], done: bool) -> None:
    seen, outcome = ask(responses_model(server), Reply(chunks=[sse_body(events, done=done)], content_type=SSE), stream=True)
    assert_typed(outcome, seen)


@HYPOTHESIS
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode), stream=st.booleans())
def test_any_bytes_at_all(server: LoopbackServer, data: bytes, stream: bool) -> None:
    kind = SSE if stream else "application/json"
    seen, outcome = ask(chat_model(server), Reply(chunks=[data], content_type=kind), stream=stream)
    assert_typed(outcome, seen)


# --- the examples that escaped before ------------------------------------------------------------------


def with_message(**fields: Any) -> dict[str, Any]:
    answer = json.loads(json.dumps(CHAT))
    answer["choices"][0]["message"].update(fields)
    return answer


NESTED = "[" * 100_000 + "]" * 100_000
CHAT_EXAMPLES = {
    "choices: [null]": body({"choices": [None]}),
    "message: 'hi'": body({"choices": [{"message": "hi"}]}),
    "tool_calls: [1]": body(with_message(tool_calls=[1])),
    "tool_calls: 'x'": body(with_message(tool_calls="x")),
    "function: []": body(with_message(tool_calls=[{"id": "c", "function": []}])),
    "reasoning: 1": body(with_message(reasoning=1)),
    "refusal: {}": body(with_message(refusal={"a": 1})),
    "usage.prompt_tokens: '12k'": body({**CHAT, "usage": {"prompt_tokens": "12k"}}),
    "usage.prompt_tokens: Infinity": body({**CHAT, "usage": {"prompt_tokens": float("inf")}}),
    "usage.completion_tokens: NaN": body({**CHAT, "usage": {"completion_tokens": float("nan")}}),
    "arrays nested 100,000 deep": NESTED.encode(),
    "arrays nested 100,000 deep in a field": body(CHAT)[:-1] + b', "x": ' + NESTED.encode() + b"}",
}


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("name", list(CHAT_EXAMPLES))
def test_the_chat_answers_that_escaped_are_parse_errors(server: LoopbackServer, name: str, transport: str) -> None:
    _, outcome = ask(chat_model(server, transport), Reply(body=CHAT_EXAMPLES[name], content_type="application/json"))
    assert isinstance(outcome, ResponseParseError), outcome
    assert outcome.provider == PROVIDER and outcome.status == 200


RESPONSES_EXAMPLES = {
    "output: [null, 1]": {**RESPONSE, "output": [None, 1]},  # items of no known type are skipped
    "message content: 5": {**RESPONSE, "output": [{"type": "message", "content": 5}]},
    "usage.input_tokens: '12k'": {**RESPONSE, "usage": {"input_tokens": "12k"}},
    "usage.output_tokens: -Infinity": {**RESPONSE, "usage": {"output_tokens": float("-inf")}},
    "reasoning summary: 3": {**RESPONSE, "output": [{"type": "reasoning", "summary": 3}]},
}


@pytest.mark.parametrize("name", list(RESPONSES_EXAMPLES))
def test_the_responses_api_answers_that_escaped_are_parse_errors(server: LoopbackServer, name: str) -> None:
    _, outcome = ask(responses_model(server), Reply(body=body(RESPONSES_EXAMPLES[name]), content_type="application/json"))
    if name.startswith("output: [null"):
        assert isinstance(outcome, ModelResponse) and outcome.message.content is None
        return
    assert isinstance(outcome, ResponseParseError), outcome
    assert outcome.provider == PROVIDER


STREAM_EXAMPLES = {
    "delta.reasoning: 1": [chunk({"reasoning": 1}), chunk({}, finish_reason="stop")],
    "delta.content parts with a number": [chunk({"content": [{"type": "text", "text": 5}]}), chunk({}, finish_reason="stop")],
    "a tool call named 7": [chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": 7}}]})],
    "a tool call id that is a list": [chunk({"tool_calls": [{"id": [1], "function": {"name": "f"}}]})],
    "delta.refusal: []": [chunk({"refusal": ["no"]})],
    "usage.prompt_tokens: '12k'": [chunk({"content": "a"}, finish_reason="stop"), chunk(None, usage={"prompt_tokens": "12k"})],
    "choices: 'x'": [{"choices": "x"}],
}


@pytest.mark.parametrize("name", list(STREAM_EXAMPLES))
def test_the_chat_stream_chunks_that_escaped_are_parse_errors(server: LoopbackServer, name: str) -> None:
    _, outcome = ask(chat_model(server), Reply(chunks=[sse_body(STREAM_EXAMPLES[name])], content_type=SSE), stream=True)
    if name == "delta.content parts with a number":  # a number where text goes is taken as its text
        assert isinstance(outcome, ModelResponse) and outcome.message.content == "5"
        return
    assert isinstance(outcome, ResponseParseError), outcome
    assert outcome.provider == PROVIDER and "chat" in outcome.message


def test_a_stream_event_nested_100000_deep_is_a_parse_error(server: LoopbackServer) -> None:
    data = b"data: " + NESTED.encode() + b"\n\n"
    for model in (chat_model(server), responses_model(server)):
        _, outcome = ask(model, Reply(chunks=[data], content_type=SSE), stream=True)
        assert isinstance(outcome, ResponseParseError) and "not JSON" in outcome.message


def test_responses_stream_events_of_the_wrong_shape_are_parse_errors(server: LoopbackServer) -> None:
    bad = [
        {"type": "response.output_item.added", "output_index": [1], "item": {"type": "function_call", "id": [2]}},
        {"type": "response.function_call_arguments.delta", "item_id": {"a": 1}, "delta": "x"},
    ]
    for event in bad:
        _, outcome = ask(responses_model(server), Reply(chunks=[sse_body([event])], content_type=SSE), stream=True)
        assert isinstance(outcome, ResponseParseError) and outcome.provider == PROVIDER, outcome
        assert "Responses API event" in outcome.message


def test_a_parse_error_shows_the_start_of_the_answer_without_the_key(server: LoopbackServer) -> None:
    key = "sk-hostile-secret-0123456789"
    model = OpenAICompatible("m", base_url=server.url + "/v1", api_key=key, provider=PROVIDER, max_retries=0)
    _, outcome = ask(model, Reply(body=body({"choices": [{"message": f"echo {key}"}]}), content_type="application/json"))
    assert isinstance(outcome, ResponseParseError)
    assert '{"choices": [{"message": "echo ***"}]}' in outcome.message and "no message object" in outcome.message
    assert all(key not in text for text in (str(outcome), repr(outcome), str(outcome.body)))


@pytest.mark.parametrize(
    "choice", [{"index": 0, "finish_reason": "stop"}, {"index": 0, "message": None, "finish_reason": "stop"}]
)
async def test_a_choice_without_a_message_is_not_an_empty_answer(loopback, choice) -> None:
    """Found by the chaos soak: `choice.get("message") or {}` made it a successful run with output ''."""
    body = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]}
    server = loopback([Reply(body=body)], spec=None)
    agent = Agent(OpenAICompatible("m", base_url=server.url + "/v1", api_key="sk-test", max_retries=0))
    with pytest.raises(ResponseParseError, match="no message"):
        await agent.run("hi")
