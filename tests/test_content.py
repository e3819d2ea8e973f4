"""Content parts: the types, media-type sniffing, prompts of parts, JSON round trips, sessions, old dict parts."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import agentkit
from agentkit import Agent, AudioUrl, BinaryContent, DocumentUrl, ImageUrl, UserError, dump_messages, load_messages
from agentkit.content import part_label, sniff_media_type
from agentkit.messages import AssistantMessage, ToolMessage, UserMessage
from agentkit.sessions import InMemorySession, SQLiteSession

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
SAMPLES = {
    "image/png": PNG,
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF",
    "image/gif": b"GIF89a\x01\x00\x01\x00",
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "application/pdf": b"%PDF-1.7\n%\xe2\xe3",
    "audio/wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "audio/mpeg": b"ID3\x04\x00\x00\x00\x00",
    "audio/ogg": b"OggS\x00\x02\x00\x00",
    "audio/flac": b"fLaC\x00\x00\x00\x22",
    "audio/mp4": b"\x00\x00\x00\x20ftypM4A \x00\x00",
    "audio/aiff": b"FORM\x00\x00\x00\x20AIFFCOMM",
}


def test_the_part_types_are_public_and_documented() -> None:
    for name in ("ImageUrl", "DocumentUrl", "AudioUrl", "BinaryContent"):
        assert name in agentkit.__all__
        assert getattr(agentkit, name).__doc__


@pytest.mark.parametrize(("media_type", "data"), SAMPLES.items())
def test_media_type_is_sniffed_from_the_bytes_not_the_name(media_type: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "misnamed.txt"  # the name says text: the bytes win
    path.write_bytes(data)
    part = BinaryContent.from_path(path)
    assert part.media_type == media_type
    assert part.filename == "misnamed.txt"
    assert part.data == data


def test_mp3_frames_without_a_tag_and_the_name_as_fallback() -> None:
    assert sniff_media_type(b"\xff\xfb\x90\x64\x00") == "audio/mpeg"
    assert sniff_media_type(b"\xff\xf1\x50\x80") == "audio/aac"  # ADTS
    assert sniff_media_type(b"plain words", "notes.md") == "text/markdown"
    assert sniff_media_type(b"plain words", "data.csv") == "text/csv"
    assert sniff_media_type(b"\x00\x01\x02") == "application/octet-stream"


def test_from_path_errors_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Cannot read"):
        BinaryContent.from_path(tmp_path / "missing.png")


def test_base64_is_encoded_once_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = base64.b64encode
    monkeypatch.setattr(agentkit.content.base64, "b64encode", lambda data: calls.append(1) or real(data))
    part = BinaryContent(PNG, "image/png")
    assert part.base64 == part.base64 == real(PNG).decode()
    assert part.data_url == "data:image/png;base64," + real(PNG).decode()
    assert len(calls) == 1


def test_positional_and_keyword_construction() -> None:
    assert ImageUrl("https://x/cat.jpg", "low") == ImageUrl(url="https://x/cat.jpg", detail="low")
    assert DocumentUrl("https://x/a%20b.pdf").filename == "a b.pdf"
    assert DocumentUrl("https://x/").filename == "document.pdf"
    assert AudioUrl("https://x/a.wav").url == "https://x/a.wav"
    with pytest.raises(ValueError):
        ImageUrl("https://x", detail="huge")  # type: ignore[arg-type]


def test_repr_does_not_print_the_bytes() -> None:
    part = BinaryContent(b"x" * 10_000, "image/png", filename="big.png")
    assert repr(part) == str(part) == "BinaryContent(<10000 bytes>, media_type='image/png', filename='big.png')"
    assert part_label(part) == "[image: big.png]"
    assert part_label(ImageUrl("https://x/c.png")) == "[image: https://x/c.png]"


def conversation() -> list[agentkit.Message]:
    return [
        UserMessage(
            content=[
                "What is in these?",
                BinaryContent(PNG, "image/png", filename="cat.png"),
                ImageUrl("https://example.com/dog.jpg", detail="high"),
                DocumentUrl("https://example.com/report.pdf"),
                AudioUrl("https://example.com/a.wav"),
                BinaryContent(b"%PDF-1.4", "application/pdf"),
            ]
        ),
        AssistantMessage(content="Let me look."),
        ToolMessage(tool_call_id="c1", content="the chart", attachments=[BinaryContent(PNG, "image/png")]),
    ]


def test_parts_round_trip_through_json_with_bytes_as_base64() -> None:
    messages = conversation()
    text = dump_messages(messages)
    raw = json.loads(text)
    assert raw[0]["content"][1] == {
        "kind": "binary",
        "data": base64.b64encode(PNG).decode(),
        "media_type": "image/png",
        "filename": "cat.png",
    }
    assert raw[0]["content"][2] == {"kind": "image-url", "url": "https://example.com/dog.jpg", "detail": "high"}
    assert (
        "attachments"
        not in json.loads(dump_messages([AssistantMessage(content="x"), ToolMessage(tool_call_id="1", content="")]))[1]
    )
    loaded = load_messages(text)
    assert loaded == messages
    again = loaded[0].content[1]  # type: ignore[union-attr]
    assert isinstance(again, BinaryContent) and again._b64 is not None  # loaded parts keep their base64: no encoding later


def test_old_dict_parts_still_load() -> None:
    """Sessions and logs written when content parts were wire dicts passed as is."""
    old = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                {"type": "image_url", "image_url": "https://x/y.png"},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
                {"type": "document_url", "document_url": "https://x/z.pdf"},
            ],
        }
    ]
    (message,) = load_messages(json.dumps(old))
    assert isinstance(message, UserMessage)
    assert message.content == [
        "What is this?",
        ImageUrl("data:image/png;base64,iVBORw0KGgo=", "low"),
        ImageUrl("https://x/y.png"),
        BinaryContent(b"RIFF", "audio/wav"),
        BinaryContent(b"%PDF-", "application/pdf", filename="a.pdf"),
        DocumentUrl("https://x/z.pdf"),
    ]
    with pytest.raises(ValueError):
        UserMessage.model_validate({"content": [{"type": "hologram"}]})


async def test_parts_round_trip_through_sessions(tmp_path: Path) -> None:
    for session in (InMemorySession(), SQLiteSession(tmp_path / "s.db", "mm")):
        async with session:
            await session.add_messages(conversation())
            assert await session.get_messages() == conversation()


@pytest.mark.parametrize("method", ["run_sync", "run", "run_stream", "iter"])
async def test_a_prompt_is_a_list_of_strings_and_parts(method: str) -> None:
    agent = Agent("test")
    prompt = ["What is in this picture?", BinaryContent(PNG, "image/png")]
    if method == "run_sync":
        result = await __import__("asyncio").to_thread(agent.run_sync, prompt)
    elif method == "run":
        result = await agent.run(prompt)
    elif method == "run_stream":
        async with agent.run_stream(prompt) as stream:
            async for _ in stream:
                pass
        result = stream.result
    else:
        async with agent.iter(prompt) as run:
            async for _ in run:
                pass
        result = run.result
    assert result.messages[0] == UserMessage(content=prompt)


def test_bad_prompts_are_user_errors() -> None:
    agent = Agent("test")
    for prompt, match in ((5, "not int"), ([b"raw"], "item #0 is of type bytes"), ([], "empty list"), ({"a": 1}, "not dict")):
        with pytest.raises(UserError, match=match):
            agent.run_sync(prompt)  # type: ignore[arg-type]


def test_run_many_takes_prompts_of_parts(tmp_path: Path) -> None:
    agent = Agent("test")
    image = BinaryContent(PNG, "image/png", filename="cat.png")
    results = tmp_path / "results.jsonl"
    items = agent.run_many_sync(
        [["Describe", image], {"prompt": ["Again", ImageUrl("https://x.test/d.png")], "id": "two"}], results=str(results)
    )
    assert [item.ok for item in items] == [True, True]
    assert items[0].prompt == ["Describe", image] and items[1].id == "two"
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted(line["prompt"][1] for line in lines) == [
        "[image: cat.png]",
        "[image: https://x.test/d.png]",
    ]  # labels, no bytes
    again = agent.run_many_sync(
        [["Describe", image], {"prompt": ["Again", ImageUrl("https://x.test/d.png")], "id": "two"}], results=str(results)
    )
    assert all(item.skipped for item in again)  # the same bytes give the same default id
