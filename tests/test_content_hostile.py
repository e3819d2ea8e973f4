"""Hostile and edge inputs to content parts: each is a clear UserError before any request, and
nothing is read or encoded that need not be."""

from __future__ import annotations

import base64
import resource
import sys
from pathlib import Path
from typing import Any

import pytest

from agentkit import Agent, AudioUrl, BinaryContent, DocumentUrl, ImageUrl
from agentkit.errors import UserError
from agentkit.messages import ToolMessage, UserMessage, dump_messages, load_messages
from agentkit.models import Mistral, OpenAI
from agentkit.models._content_map import OPENAI_CHAT_MEDIA, PartMapper
from tests.support.server import Reply, chat_completion

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 16
PDF = b"%PDF-1.7\n" + b"x" * 16


def _offline() -> OpenAI:
    return OpenAI("gpt-4o", api_key="sk-test", base_url="http://127.0.0.1:9/v1")


def test_empty_bytes_are_refused_when_made_and_when_loaded(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="has no bytes"):
        BinaryContent(b"", "image/png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(UserError, match="is empty"):
        BinaryContent.from_path(tmp_path / "empty.png")
    loaded = UserMessage.model_validate({"content": ["x", {"kind": "binary", "data": "", "media_type": "image/png"}]})
    with pytest.raises(UserError, match=r"has no bytes.*nothing was sent"):
        _offline().wire_messages([loaded])


def test_a_file_that_is_not_what_its_name_says(tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_text("I am a text file", encoding="utf-8")
    with pytest.raises(UserError, match=r"'cat.png' is not a valid image/png file"):
        BinaryContent.from_path(tmp_path / "cat.png")
    (tmp_path / "report.pdf").write_bytes(PNG)  # the bytes win over the name
    assert BinaryContent.from_path(tmp_path / "report.pdf").media_type == "image/png"
    (tmp_path / "notes.md").write_text("# notes", encoding="utf-8")  # a name whose bytes we cannot check
    assert BinaryContent.from_path(tmp_path / "notes.md").media_type == "text/markdown"
    # an explicit media type is the caller's word
    assert BinaryContent.from_path(tmp_path / "cat.png", media_type="text/plain").media_type == "text/plain"


def test_from_path_refuses_a_huge_file_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    with huge.open("wb") as f:  # sparse: 3 GB on paper, nothing on disk
        f.truncate(3 * 1024**3)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UserError, match=r"3072\.0 MB: BinaryContent\.from_path reads at most 100\.0 MB \(max_bytes=\)"):
        BinaryContent.from_path(huge)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 50_000 if sys.platform.startswith("linux") else True
    (tmp_path / "small.png").write_bytes(PNG)
    with pytest.raises(UserError, match=r"at most 0\.0 MB"):
        BinaryContent.from_path(tmp_path / "small.png", max_bytes=10)


def test_from_path_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="it is a directory"):
        BinaryContent.from_path(tmp_path)
    with pytest.raises(UserError, match="No such file"):
        BinaryContent.from_path(tmp_path / "missing.png")


@pytest.mark.parametrize("media_type", ["", "png", "image", "image/", "/png", "image/png/x", 5])
def test_a_media_type_must_be_one(media_type: Any) -> None:
    with pytest.raises(UserError, match="is not a media type"):
        BinaryContent(PNG, media_type)


def test_media_types_are_made_canonical() -> None:
    assert BinaryContent(PNG, "IMAGE/PNG").media_type == "image/png"
    assert BinaryContent(PDF, "application/pdf; charset=binary").media_type == "application/pdf"
    assert BinaryContent(PNG, "image/jpg").media_type == "image/jpeg"
    # a loaded part with an odd spelling is mapped canonically, not refused or sent as is
    loaded = BinaryContent.model_validate({"data": base64.b64encode(PNG).decode(), "media_type": "Image/PNG"})
    wire = PartMapper(OPENAI_CHAT_MEDIA).part(loaded)
    assert wire["image_url"]["url"].startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("file:///etc/passwd", "is not an http"),
        ("javascript:alert(1)", "is not an http"),
        ("", "is not an http"),
        ("cat.png", "BinaryContent.from_path"),
        ("ftp://example.com/cat.png", "is not an http"),
        ("https://", "is not an http"),
        ("data:image/png;base64,!!!not base64", "does not hold valid base64"),
        ("data:image/png;base64,abc", "does not hold valid base64"),  # not a multiple of 4
        ("data:image/png,rawbytes", "data:<media type>;base64,<data>"),
        ("data:image/png;base64", "data:<media type>;base64,<data>"),
        ("data:image/png;base64,", "data:<media type>;base64,<data>"),
        ("data:;base64,AAAA", "data:<media type>;base64,<data>"),
    ],
)
@pytest.mark.parametrize("part", [ImageUrl, DocumentUrl, AudioUrl])
def test_urls_must_be_http_or_base64_data(part: Any, url: str, match: str) -> None:
    with pytest.raises(UserError, match=match):
        part(url)


def test_loaded_parts_with_bad_urls_are_refused_before_sending() -> None:
    for raw in ({"kind": "image-url", "url": "file:///etc/passwd"}, {"kind": "document-url", "url": "data:x"}):
        message = UserMessage.model_validate({"content": ["look", raw]})  # stored data still loads
        with pytest.raises(UserError, match=r"nothing was sent|is not an http|data:<media type>"):
            Mistral("mistral-large-2512", api_key="sk-test").wire_messages([message])


def test_a_bad_detail_is_a_user_error() -> None:
    with pytest.raises(UserError, match="detail must be 'auto', 'low' or 'high'"):
        ImageUrl("https://example.com/a.png", detail="ultra")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prompt", "match"),
    [
        (["x", {"type": "image_url", "image_url": {"url": "https://x/a.png"}}], "item #1 is of type dict"),
        (["x", 3], "item #1 is of type int"),
        (["x", None], "item #1 is of type NoneType"),
        (["x", ["nested"]], "item #1 is of type list"),
        (["x", b"raw"], "item #1 is of type bytes"),
        (b"raw", "not bytes"),
        ((p for p in ["x"]), "not generator"),
    ],
)
def test_prompts_with_non_parts_are_user_errors(prompt: Any, match: str) -> None:
    with pytest.raises(UserError, match=match):
        Agent("test").run_sync(prompt)


async def test_a_refused_part_sends_nothing_and_loses_nothing(loopback: Any) -> None:
    server = loopback([Reply(body=chat_completion("fine"))], spec="openai")
    agent = Agent(OpenAI("gpt-4o", api_key="sk-test", base_url=server.url + "/v1"))
    ogg = BinaryContent(b"OggS" + b"\0" * 20, "audio/ogg")
    with pytest.raises(UserError, match="cannot take audio/ogg audio"):
        await agent.run(["Transcribe.", ogg])
    assert server.requests == []
    # the same agent and part go on working with a provider that takes OGG
    assert (await agent.run(["Transcribe.", PDF_PART])).output == "fine"


PDF_PART = BinaryContent(PDF, "application/pdf", filename="a.pdf")


def test_openai_counts_pdfs_against_32_mb_per_request() -> None:
    mb = 1024 * 1024
    big = BinaryContent(b"%PDF-" + b"\0" * (20 * mb), "application/pdf", filename="big.pdf")
    other = BinaryContent(b"%PDF-" + b"\1" * (20 * mb), "application/pdf", filename="other.pdf")
    mapper = PartMapper(OPENAI_CHAT_MEDIA)
    mapper.part(big)  # 20 MB alone is fine
    with pytest.raises(UserError, match=r"files of the request together is 40\.0 MB.*32\.0 MB of files per request"):
        mapper.part(other)


def test_binary_content_repr_eq_hash_and_round_trips() -> None:
    part = BinaryContent(PNG * 1000, "image/png", filename="cat.png")
    assert "\\x89" not in repr(part) and "iVBOR" not in repr(part) and len(repr(part)) < 100
    assert str([part]) == f"[{part!r}]"
    same = BinaryContent(PNG * 1000, "image/png", filename="cat.png")
    assert part == same and hash(part) == hash(same) and len({part, same}) == 1
    assert part != BinaryContent(PNG * 1000, "image/png") and part != ImageUrl("https://x.test/a.png")
    messages = [UserMessage(content=["look", part]), ToolMessage(tool_call_id="c", content="", attachments=[part])]
    text = dump_messages(messages)
    assert text.count(part.base64) == 2 and len(text) < 2 * len(part.base64) + 500  # base64 once per part, no more
    assert load_messages(text) == messages


def test_old_wire_dicts_with_bad_urls_still_load_and_are_refused_before_sending() -> None:
    stored = [
        {"type": "image_url", "image_url": {"url": "file:///tmp/cat.png"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,!!"}},
        {"type": "document_url", "document_url": ""},
    ]
    for raw in stored:
        message = UserMessage.model_validate({"content": ["look", raw]})
        with pytest.raises(UserError):
            Mistral("mistral-large-2512", api_key="sk-test").wire_messages([message])


def test_a_tools_images_count_in_the_token_estimate() -> None:
    from agentkit._tokens import IMAGE_TOKENS, TokenCounter

    counter = TokenCounter()
    plain = ToolMessage(tool_call_id="c", content="chart")
    with_images = ToolMessage(tool_call_id="c", content="chart", attachments=[BinaryContent(PNG, "image/png")] * 2)
    assert counter.message_cost(with_images) == pytest.approx(counter.message_cost(plain) + 2 * IMAGE_TOKENS)


def test_parts_nested_in_a_tools_result_are_parts_not_base64_text() -> None:
    from pydantic import BaseModel

    from agentkit import tool
    from agentkit.testing import ScriptedModel, reply, tool_call

    image = BinaryContent(PNG * 1000, "image/png", filename="chart.png")

    class Report(BaseModel):
        title: str
        chart: BinaryContent

    results: list[Any] = [
        {"chart": image, "points": 3},
        [["nested", image]],
        Report(title="sales", chart=image),
        ["caption", image, {"thumb": image}],
    ]
    texts = [
        '{"chart":"[image: chart.png]","points":3}',
        '[["nested","[image: chart.png]"]]',
        '{"title":"sales","chart":"[image: chart.png]"}',
        'caption\n{"thumb":"[image: chart.png]"}',
    ]
    for value, text in zip(results, texts, strict=True):

        @tool
        def render(returned: Any = value) -> Any:
            """Render."""
            return returned

        model = ScriptedModel([reply(None, tool_call("render", {})), "ok"])
        result = Agent(model, tools=[render]).run_sync("go")
        message = result.messages[2]
        assert isinstance(message, ToolMessage)
        assert message.content == text and image.base64[:50] not in message.content
        assert message.attachments and all(p == image for p in message.attachments)


def test_a_copied_part_with_another_url_is_checked_again() -> None:
    good = ImageUrl("https://example.com/a.png")
    mapper = PartMapper(OPENAI_CHAT_MEDIA)
    mapper.part(good)
    with pytest.raises(UserError, match="is not an http"):
        mapper.part(good.model_copy(update={"url": "file:///etc/passwd"}))


def test_a_history_summary_names_a_tools_images() -> None:
    from agentkit.history import summarize_older
    from agentkit.messages import AssistantMessage, ToolCall

    processor = summarize_older("test")
    part = [
        AssistantMessage(tool_calls=[ToolCall(id="c1", name="render", arguments="{}")]),
        ToolMessage(tool_call_id="c1", content="rendered", attachments=[BinaryContent(PNG, "image/png", filename="c.png")]),
    ]
    text = processor.transcript(None, part)
    assert "Tool render returned: rendered [image: c.png]" in text and "iVBOR" not in text


def test_a_part_over_a_limit_is_refused_before_it_is_encoded() -> None:
    big = BinaryContent(PNG + b"\0" * (21 * 1024 * 1024), "image/png", filename="big.png")
    with pytest.raises(UserError, match=r"An image \(big\.png\) is 21\.0 MB: OpenAI chat completions takes at most 20\.0 MB"):
        PartMapper(OPENAI_CHAT_MEDIA).part(big)
    assert big._b64 is None  # no 28 MB of base64 made for a request that is not sent
