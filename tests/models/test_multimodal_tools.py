"""Tools that return images, end to end against the loopback server, for every provider: the exact
wire shape (parts in the tool result, or a text tool result followed by a user message with the
parts) validated against that provider's request spec, Mistral's message-order rule kept, a list
mixing text and several images, and a streamed run."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from agentkit import Agent, BinaryContent, ImageUrl, tool
from agentkit.messages import ToolMessage, dump_messages, load_messages
from agentkit.models import Mistral, OpenAI, OpenAICompatible, OpenAIResponses, OpenRouter, OpenRouterResponses
from tests.models.test_responses import call_item, response, text_item
from tests.support.server import Reply, call, chat_completion
from tests.support.specs import assert_valid_request
from tests.support.sse import sse, text_stream, tool_call_stream

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x02" * 16
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
JPEG_URL = "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
REMOTE = "https://example.test/photo.webp"


@tool
def snapshot(count: int) -> list[Any]:
    """Take pictures.

    Args:
        count: How many.
    """
    return ["Two pictures and a link:", BinaryContent(PNG, "image/png", filename="a.png"), "taken at noon",
            BinaryContent(JPEG, "image/jpeg"), ImageUrl(REMOTE)]  # fmt: skip


CHAT = [
    (OpenAI, "gpt-4o", "openai", "user_message"),
    (OpenRouter, "openai/gpt-4o", "openrouter", "inline"),
    (OpenRouter, "mistralai/mistral-large-2512", "openrouter", "inline"),
    (Mistral, "mistral-large-2512", "mistral", "inline"),
    (OpenAICompatible, "qwen2.5-vl", "openai", "user_message"),
]


def _chat_run(loopback: Any, cls: Any, name: str, spec: str, stream: bool = False) -> tuple[Any, dict[str, Any]]:
    first = call("snapshot", {"count": 2}, id="abcdef123")
    if stream:
        replies = [
            Reply(chunks=[sse(tool_call_stream("snapshot", '{"count": 2}', "abcdef123"))], content_type="text/event-stream"),
            Reply(chunks=[sse(text_stream("Two ", "cats."))], content_type="text/event-stream"),
        ]
    else:
        replies = [Reply(body=chat_completion(tool_calls=[first])), Reply(body=chat_completion("Two cats."))]
    server = loopback(replies, spec=spec)
    kwargs: dict[str, Any] = {"base_url": server.url + "/v1", "api_key": "sk-test"}
    model = cls(name, **kwargs)
    agent = Agent(model, tools=[snapshot])
    if stream:
        import asyncio

        async def go() -> Any:
            async with agent.run_stream("Take two.") as run:
                async for _ in run.text():
                    pass
            return run.result

        result = asyncio.run(go())
    else:
        result = agent.run_sync("Take two.")
    _, second = server.bodies("/chat/completions")
    assert_valid_request(second, spec, "chat")
    return result, second


def _expected_parts(dialect: str) -> list[dict[str, Any]]:
    if dialect == "mistral":
        return [{"type": "image_url", "image_url": PNG_URL}, {"type": "image_url", "image_url": JPEG_URL},
                {"type": "image_url", "image_url": REMOTE}]  # fmt: skip
    return [{"type": "image_url", "image_url": {"url": u}} for u in (PNG_URL, JPEG_URL, REMOTE)]


@pytest.mark.parametrize(("cls", "name", "spec", "shape"), CHAT, ids=[f"{c[0].__name__}-{c[1]}" for c in CHAT])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_tool_returning_text_and_several_images_per_chat_provider(
    loopback: Any, cls: Any, name: str, spec: str, shape: str, stream: bool
) -> None:
    result, sent = _chat_run(loopback, cls, name, spec, stream)
    assert result.output == "Two cats."
    message = next(m for m in result.messages if isinstance(m, ToolMessage))
    assert message.content == "Two pictures and a link:\ntaken at noon"
    assert len(message.attachments) == 3
    assert load_messages(dump_messages(result.messages)) == result.messages
    dialect = "mistral" if cls is Mistral else "openai"
    roles = [m["role"] for m in sent["messages"]]
    tool_message = sent["messages"][2]
    if shape == "inline":
        assert roles == ["user", "assistant", "tool"]
        text = {"type": "text", "text": "Two pictures and a link:\ntaken at noon"}
        assert tool_message["content"] == [text, *_expected_parts(dialect)]
        return
    assert roles == ["user", "assistant", "tool", "user"]
    assert tool_message["content"] == "Two pictures and a link:\ntaken at noon\n(see the 3 attached images)"
    assert sent["messages"][3]["content"] == [
        {"type": "text", "text": "Attached by tool snapshot (call abcdef123):"},
        *_expected_parts(dialect),
    ]


def test_mistral_order_rule_holds_for_images_in_a_user_message_after_tool_results(loopback: Any) -> None:
    """Where a Mistral model gets tool images in a user message (a compatible server with Mistral's
    rules), an empty assistant turn separates tool and user (Mistral refuses tool -> user)."""
    from dataclasses import replace

    from agentkit.models.profiles import MISTRAL

    profile = replace(MISTRAL, media=replace(MISTRAL.media, tool_attachments="user_message"))
    first = call("snapshot", {"count": 2}, id="abcdef123")
    server = loopback([Reply(body=chat_completion(tool_calls=[first])), Reply(body=chat_completion("ok"))], spec="mistral")
    model = Mistral("mistral-large-2512", api_key="sk-test", base_url=server.url + "/v1")
    model.profile = profile
    Agent(model, tools=[snapshot]).run_sync("Take two.")
    _, second = server.bodies("/chat/completions")
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool", "assistant", "user"]


@pytest.mark.parametrize(("cls", "spec"), [(OpenAIResponses, "openai"), (OpenRouterResponses, "openrouter")])
def test_a_tool_returning_images_on_the_responses_api(loopback: Any, cls: Any, spec: str) -> None:
    first = Reply(body=response(call_item("snapshot", {"count": 2}, call_id="call_7")))
    replies = [first, Reply(body=response(text_item("Two.")))]
    server = loopback(replies, spec=None)
    agent = Agent(cls("gpt-4o", api_key="sk-test", base_url=server.url + "/v1"), tools=[snapshot])
    assert agent.run_sync("Take two.").output == "Two."
    _, second = server.bodies("/responses")
    assert_valid_request(second, spec, "responses")
    output = next(i for i in second["input"] if i.get("type") == "function_call_output")
    assert output["call_id"] == "call_7"
    assert output["output"] == [
        {"type": "input_text", "text": "Two pictures and a link:\ntaken at noon"},
        {"type": "input_image", "image_url": PNG_URL, "detail": "auto"},
        {"type": "input_image", "image_url": JPEG_URL, "detail": "auto"},
        {"type": "input_image", "image_url": REMOTE, "detail": "auto"},
    ]


def test_a_tool_image_the_provider_cannot_take_is_named_not_sent_and_the_run_goes_on(
    loopback: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A prompt's bad part is the caller's UserError; a tool's (an MCP server's TIFF, say) is not
    the caller's to fix mid-run: the model is told in its place, and the run goes on."""

    @tool
    def scan() -> list[Any]:
        """Scan."""
        return ["scanned", BinaryContent(b"II*\x00" + b"\0" * 16, "image/tiff", filename="page.tif"), ImageUrl(REMOTE)]

    replies = [Reply(body=chat_completion(tool_calls=[call("scan", {}, id="c1")])), Reply(body=chat_completion("ok"))]
    for cls, spec in ((OpenAI, "openai"), (Mistral, "mistral")):
        server = loopback(replies, spec=spec)
        agent = Agent(cls("gpt-4o", api_key="sk-test", base_url=server.url + "/v1"), tools=[scan])
        assert agent.run_sync("Scan it.").output == "ok"
        _, second = server.bodies("/chat/completions")
        parts = second["messages"][-1]["content"]
        note = "[image: page.tif] not sent: " + cls("x", api_key="k").profile.media.api + " cannot take image/tiff images"
        assert any(p.get("type") == "text" and p["text"].startswith(note) for p in parts)
        assert parts[-1]["type"] == "image_url"  # the other image still goes
    assert "was not sent" in caplog.text


def test_openai_responses_takes_the_file_types_its_guide_lists_and_chat_only_pdfs(loopback: Any) -> None:
    from agentkit.errors import UserError

    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    files = [BinaryContent(b"a,b\n1,2\n", "text/csv", filename="t.csv"), BinaryContent(b"PK\x03\x04", docx, filename="r.docx")]
    server = loopback([Reply(body=response(text_item("Read.")))], spec=None)
    agent = Agent(OpenAIResponses("gpt-4o", api_key="sk-test", base_url=server.url + "/v1"))
    assert agent.run_sync(["Read these.", *files]).output == "Read."
    (sent,) = server.bodies("/responses")
    assert_valid_request(sent, "openai", "responses")
    assert [p.get("filename") for p in sent["input"][0]["content"][1:]] == ["t.csv", "r.docx"]
    with pytest.raises(UserError, match="cannot take application/zip files"):
        agent.run_sync(["Read.", BinaryContent(b"PK\x03\x04", "application/zip")])
    chat = Agent(OpenAI("gpt-4o", api_key="sk-test", base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(UserError, match="cannot take text/csv files"):
        chat.run_sync(["Read.", files[0]])
