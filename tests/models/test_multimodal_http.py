"""Multimodal runs over real sockets: image prompts with structured output and streaming, and tools
that return images, against the loopback server (every request body checked against the spec)."""

from __future__ import annotations

import base64
import json
from typing import Any

from pydantic import BaseModel

from agentkit import Agent, BinaryContent, ImageUrl, tool
from agentkit.messages import ToolMessage, UserMessage, dump_messages, load_messages
from agentkit.models import Mistral, OpenAI, OpenRouter
from tests.support.server import Reply, call, chat_completion
from tests.support.sse import sse, text_stream

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 16
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


class Invoice(BaseModel):
    number: str
    total: float


def test_structured_output_from_an_image_prompt(loopback: Any) -> None:
    answer = json.dumps({"number": "INV-7", "total": 42.5})
    server = loopback([Reply(body=chat_completion(answer))], spec="mistral")
    model = Mistral("mistral-large-2512", api_key="sk-test", base_url=server.url + "/v1")
    agent = Agent(model, output_type=Invoice, output_mode="native", instructions="Read the invoice.")
    result = agent.run_sync(["Extract the invoice.", BinaryContent(PNG, "image/png", filename="invoice.png")])
    assert result.output == Invoice(number="INV-7", total=42.5)
    (sent,) = server.bodies("/chat/completions")
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["messages"][1]["content"] == [
        {"type": "text", "text": "Extract the invoice."},
        {"type": "image_url", "image_url": DATA_URL},
    ]


def test_structured_output_by_tool_from_an_image_prompt(loopback: Any) -> None:
    final = call("final_result", {"number": "INV-8", "total": 3}, id="call_9")
    server = loopback([Reply(body=chat_completion(tool_calls=[final]))], spec="openai")
    agent = Agent(OpenAI("gpt-4o", api_key="sk-test", base_url=server.url + "/v1"), output_type=Invoice, output_mode="tool")
    result = agent.run_sync(["Extract.", ImageUrl("https://x.test/invoice.jpg", detail="high")])
    assert result.output == Invoice(number="INV-8", total=3)
    (sent,) = server.bodies("/chat/completions")
    assert sent["messages"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "https://x.test/invoice.jpg", "detail": "high"},
    }


async def test_streaming_an_image_prompt(loopback: Any) -> None:
    stream = Reply(chunks=[sse(text_stream("A cat ", "on a mat."))], content_type="text/event-stream")
    server = loopback([stream], spec="openrouter")
    model = OpenRouter("mistralai/mistral-large-2512", api_key="sk-test", base_url=server.url + "/v1")
    agent = Agent(model)
    async with agent.run_stream(["What is in this picture?", BinaryContent(PNG, "image/png")]) as run:
        pieces = [piece async for piece in run.text()]
    assert "".join(pieces) == "A cat on a mat."
    (sent,) = server.bodies("/chat/completions")
    assert sent["stream"] is True
    assert sent["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": DATA_URL}}


@tool
def render_chart(title: str) -> list[Any]:
    """Render a chart.

    Args:
        title: The chart's title.
    """
    return [f"Chart {title!r} rendered.", BinaryContent(PNG, "image/png", filename="chart.png")]


def _tool_run(loopback: Any, model_cls: Any, spec: str, model_name: str) -> tuple[Any, list[dict[str, Any]]]:
    replies = [
        Reply(body=chat_completion(tool_calls=[call("render_chart", {"title": "sales"}, id="abcdef123")])),
        Reply(body=chat_completion("The chart shows growth.")),
    ]
    server = loopback(replies, spec=spec)
    model = model_cls(model_name, api_key="sk-test", base_url=server.url + "/v1")
    result = Agent(model, tools=[render_chart]).run_sync("Chart the sales.")
    return result, server.bodies("/chat/completions")


def test_a_tool_image_follows_the_tool_result_in_a_user_message_for_openai(loopback: Any) -> None:
    result, (_, second) = _tool_run(loopback, OpenAI, "openai", "gpt-4o")
    assert result.output == "The chart shows growth."
    tool_message = next(m for m in result.messages if isinstance(m, ToolMessage))
    assert tool_message.content == "Chart 'sales' rendered."
    assert tool_message.attachments == [BinaryContent(PNG, "image/png", filename="chart.png")]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool", "user"]
    assert second["messages"][2]["content"] == "Chart 'sales' rendered.\n(see the attached image)"
    assert second["messages"][3]["content"] == [
        {"type": "text", "text": "Attached by tool render_chart (call abcdef123):"},
        {"type": "image_url", "image_url": {"url": DATA_URL}},
    ]
    assert load_messages(dump_messages(result.messages)) == result.messages


def test_a_tool_image_goes_in_the_tool_result_for_mistral(loopback: Any) -> None:
    _result, (_, second) = _tool_run(loopback, Mistral, "mistral", "mistral-large-2512")
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool"]
    assert second["messages"][2]["content"] == [
        {"type": "text", "text": "Chart 'sales' rendered."},
        {"type": "image_url", "image_url": DATA_URL},
    ]


def test_a_run_continued_from_stored_messages_sends_the_image_again(loopback: Any) -> None:
    server = loopback([Reply(body=chat_completion("A cat.")), Reply(body=chat_completion("Grey."))], spec="openai")
    agent = Agent(OpenAI("gpt-4o", api_key="sk-test", base_url=server.url + "/v1"))
    first = agent.run_sync(["What is it?", BinaryContent(PNG, "image/png")])
    stored = load_messages(dump_messages(first.messages))
    assert isinstance(stored[0], UserMessage)
    agent.run_sync("What colour?", messages=stored)
    _, second = server.bodies("/chat/completions")
    assert second["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": DATA_URL}}


async def test_responses_api_streams_structured_output_from_an_image(loopback: Any) -> None:
    from agentkit.models import OpenRouterResponses
    from tests.models.test_responses_stream import message, response, stream_reply, wire_events
    from tests.models.test_responses_stream import sse as responses_sse
    from tests.support.specs import assert_valid_request

    events, _ = wire_events(response(message(json.dumps({"number": "INV-9", "total": 7.5}))))
    server = loopback([stream_reply(responses_sse(events, names=False, comments=True))], spec=None)
    model = OpenRouterResponses("mistralai/mistral-large-2512", api_key="sk-test", base_url=server.url + "/v1")
    agent = Agent(model, output_type=Invoice)
    async with agent.run_stream(["Extract the invoice.", BinaryContent(PNG, "image/png")]) as run:
        async for _ in run:
            pass
    assert run.result.output == Invoice(number="INV-9", total=7.5)
    (sent,) = server.bodies("/responses")
    assert_valid_request(sent, "openrouter", "responses")
    assert sent["stream"] is True and sent["text"]["format"]["type"] == "json_schema"
    assert sent["input"][0]["content"][1] == {"type": "input_image", "image_url": DATA_URL, "detail": "auto"}
