"""Content parts on the wire, per provider: exact shapes, validated against each provider's spec;
parts and formats a provider cannot take, and size limits, refused before any request."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest

import agentkit.content
from agentkit import AudioUrl, BinaryContent, DocumentUrl, ImageUrl, UserError
from agentkit.messages import AssistantMessage, Message, SystemMessage, ToolCall, ToolMessage, UserMessage
from agentkit.models import Mistral, OpenAI, OpenAICompatible, OpenAIResponses, OpenRouter, OpenRouterResponses
from agentkit.models._content_map import MB, MediaRules
from agentkit.models.base import ModelRequest
from agentkit.settings import ModelSettings
from tests.support.specs import assert_valid_request

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
PNG64 = base64.b64encode(PNG).decode()
PDF = b"%PDF-1.4 tiny"
PDF64 = base64.b64encode(PDF).decode()
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "
WAV64 = base64.b64encode(WAV).decode()
OGG = b"OggS\x00\x02"


def chat_models() -> dict[str, Any]:
    return {
        "openai": OpenAI("gpt-4o", api_key="sk-test"),
        "openrouter": OpenRouter("openai/gpt-4o", api_key="sk-test"),
        "mistral": Mistral("mistral-large-2512", api_key="sk-test"),
    }


def body(model: Any, content: list[Any], messages: list[Message] | None = None) -> dict[str, Any]:
    history = [SystemMessage(content="Be brief."), UserMessage(content=content), *(messages or [])]
    return model.build_body(ModelRequest(history, (), ModelSettings()))


def user_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" in body:
        return body["messages"][1]["content"]
    return body["input"][0]["content"]


# --- images -------------------------------------------------------------------------------------


def test_openai_and_openrouter_images_by_url_and_bytes_with_detail() -> None:
    for provider in ("openai", "openrouter"):
        model = chat_models()[provider]
        sent = body(model, ["What is this?", ImageUrl("https://x.test/cat.jpg", detail="low"), BinaryContent(PNG, "image/png")])
        assert_valid_request(sent, provider)
        assert user_parts(sent) == [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}},
        ]


def test_mistral_images_as_image_url_strings_or_objects_with_detail() -> None:
    sent = body(
        chat_models()["mistral"],
        ["Describe", ImageUrl("https://x.test/a.png"), ImageUrl("https://x.test/b.png", "high"), BinaryContent(PNG, "image/png")],
    )
    assert_valid_request(sent, "mistral")
    assert user_parts(sent) == [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": "https://x.test/a.png"},
        {"type": "image_url", "image_url": {"url": "https://x.test/b.png", "detail": "high"}},
        {"type": "image_url", "image_url": f"data:image/png;base64,{PNG64}"},
    ]


def test_responses_api_input_image_and_input_file() -> None:
    for model, spec in (
        (OpenAIResponses("gpt-4o", api_key="sk-test"), "openai"),
        (OpenRouterResponses("openai/gpt-4o", api_key="sk-test"), "openrouter"),
    ):
        sent = body(
            model,
            [
                "Read",
                ImageUrl("https://x.test/a.png", "high"),
                BinaryContent(PNG, "image/png"),
                BinaryContent(PDF, "application/pdf", filename="r.pdf"),
                DocumentUrl("https://x.test/doc.pdf"),
            ],
        )
        assert_valid_request(sent, spec, "responses")
        assert user_parts(sent) == [
            {"type": "input_text", "text": "Read"},
            {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "high"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG64}", "detail": "auto"},
            {"type": "input_file", "filename": "r.pdf", "file_data": f"data:application/pdf;base64,{PDF64}"},
            {"type": "input_file", "file_url": "https://x.test/doc.pdf"},
        ]


# --- documents ----------------------------------------------------------------------------------


def test_pdfs_as_file_parts_for_openai_and_openrouter_and_by_url_only_for_openrouter() -> None:
    pdf = BinaryContent(PDF, "application/pdf", filename="invoice.pdf")
    expected = {"type": "file", "file": {"filename": "invoice.pdf", "file_data": f"data:application/pdf;base64,{PDF64}"}}
    for provider in ("openai", "openrouter"):
        sent = body(chat_models()[provider], ["Sum it", pdf])
        assert_valid_request(sent, provider)
        assert user_parts(sent)[1] == expected
    sent = body(chat_models()["openrouter"], [DocumentUrl("https://x.test/files/report.pdf")])
    assert_valid_request(sent, "openrouter")
    assert user_parts(sent) == [
        {"type": "file", "file": {"filename": "report.pdf", "file_data": "https://x.test/files/report.pdf"}}
    ]
    with pytest.raises(UserError, match=r"OpenAI chat completions cannot take documents by URL .*BinaryContent"):
        body(chat_models()["openai"], [DocumentUrl("https://x.test/report.pdf")])


def test_mistral_documents_as_document_url_by_url_or_base64() -> None:
    sent = body(chat_models()["mistral"], [DocumentUrl("https://x.test/r.pdf"), BinaryContent(PDF, "application/pdf")])
    assert_valid_request(sent, "mistral")
    assert user_parts(sent) == [
        {"type": "document_url", "document_url": "https://x.test/r.pdf"},
        {"type": "document_url", "document_url": f"data:application/pdf;base64,{PDF64}", "document_name": "document.pdf"},
    ]


# --- audio --------------------------------------------------------------------------------------


def test_audio_as_input_audio_per_provider() -> None:
    wav = BinaryContent(WAV, "audio/wav")
    for provider in ("openai", "openrouter"):
        sent = body(chat_models()[provider], ["Transcribe", wav])
        assert_valid_request(sent, provider)
        assert user_parts(sent)[1] == {"type": "input_audio", "input_audio": {"data": WAV64, "format": "wav"}}
    sent = body(chat_models()["mistral"], ["Transcribe", wav])
    assert_valid_request(sent, "mistral")
    assert user_parts(sent)[1] == {"type": "input_audio", "input_audio": WAV64}
    sent = body(
        OpenRouterResponses("openai/gpt-4o-audio", api_key="sk-test"), ["Transcribe", BinaryContent(b"ID3\x04", "audio/mpeg")]
    )
    assert_valid_request(sent, "openrouter", "responses")
    assert user_parts(sent)[1] == {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(b"ID3\x04").decode(), "format": "mp3"},
    }


def test_ogg_goes_to_openrouter_and_mistral_but_not_to_openai_chat() -> None:
    ogg = BinaryContent(OGG, "audio/ogg")
    with pytest.raises(UserError, match=r"OpenAI chat completions cannot take audio/ogg audio \(it takes mp3, wav\)"):
        body(chat_models()["openai"], ["Transcribe", ogg])
    assert user_parts(body(chat_models()["openrouter"], [ogg]))[0]["input_audio"]["format"] == "ogg"
    assert user_parts(body(chat_models()["mistral"], [ogg]))[0] == {
        "type": "input_audio",
        "input_audio": base64.b64encode(OGG).decode(),
    }


def test_refused_parts_name_the_api_and_what_it_takes() -> None:
    cases = [
        (
            OpenAIResponses("gpt-4o", api_key="k"),
            BinaryContent(WAV, "audio/wav"),
            "OpenAI's Responses API cannot take audio/wav audio (it takes no audio)",
        ),
        (chat_models()["openai"], AudioUrl("https://x.test/a.wav"), "OpenAI chat completions cannot take audio by URL"),
        (chat_models()["openrouter"], AudioUrl("https://x.test/a.wav"), "OpenRouter chat completions cannot take audio by URL"),
        (chat_models()["mistral"], AudioUrl("https://x.test/a.wav"), "Mistral chat completions cannot take audio by URL"),
        (
            chat_models()["openai"],
            BinaryContent(b"BM\x00", "image/bmp"),
            "cannot take image/bmp images (it takes GIF, JPEG, PNG, WEBP)",
        ),
        (
            chat_models()["mistral"],
            BinaryContent(b"hello", "text/plain"),
            "cannot take text/plain files (it takes application/pdf)",
        ),
    ]
    for model, part, message in cases:
        with pytest.raises(UserError, match="nothing was sent") as caught:
            body(model, ["x", part])
        assert message in str(caught.value)


def test_data_urls_are_checked_like_bytes_and_sent_without_decoding() -> None:
    with pytest.raises(UserError, match="audio/ogg"):
        body(chat_models()["openai"], [AudioUrl("data:audio/ogg;base64," + base64.b64encode(OGG).decode())])
    sent = body(chat_models()["openai"], [AudioUrl("data:audio/wav;base64," + WAV64)])
    assert user_parts(sent) == [{"type": "input_audio", "input_audio": {"data": WAV64, "format": "wav"}}]


def test_openai_compatible_servers_get_every_part_unchecked_and_audio_urls() -> None:
    model = OpenAICompatible("qwen2-audio", base_url="http://127.0.0.1:1/v1")
    sent = body(model, [AudioUrl("https://x.test/a.flac"), BinaryContent(b"BM\x00", "image/bmp")])
    assert user_parts(sent) == [
        {"type": "audio_url", "audio_url": {"url": "https://x.test/a.flac"}},
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64," + base64.b64encode(b"BM\x00").decode()}},
    ]


# --- limits -------------------------------------------------------------------------------------


def test_size_limits_are_checked_before_sending_and_named() -> None:
    big = BinaryContent(b"\x89PNG\r\n\x1a\n" + bytes(10 * MB), "image/png")
    with pytest.raises(
        UserError,
        match=r"An image \(image/png\) is 10.0 MB: Mistral chat completions takes at most 10.0 MB per image "
        r"\(Mistral's vision and document docs\)",
    ):
        body(chat_models()["mistral"], [big])
    body(chat_models()["openai"], [big])  # OpenAI takes up to 20 MB
    with pytest.raises(UserError, match=r"The number of images in the request is 9: .* at most 8 images per request"):
        body(chat_models()["mistral"], [BinaryContent(PNG, "image/png")] * 9)
    with pytest.raises(
        UserError, match=r"The images of the request together is 60.0 MB: .* at most 50.0 MB of images per request"
    ):
        body(chat_models()["openai"], [BinaryContent(bytes(15 * MB), "image/png")] * 4)
    with pytest.raises(
        UserError, match=r"A document \(big.pdf\) is 33.0 MB: OpenAI chat completions takes at most 32.0 MB per document"
    ):
        body(chat_models()["openai"], [BinaryContent(bytes(33 * MB), "application/pdf", filename="big.pdf")])


def test_a_data_url_image_counts_by_its_decoded_size() -> None:
    model = OpenAI("gpt-4o", api_key="sk-test")
    model.profile = replace(model.profile, media=replace(model.profile.media, max_image_bytes=10))
    with pytest.raises(UserError, match=r"is 0\.0 MB"):
        body(model, [ImageUrl("data:image/png;base64," + base64.b64encode(bytes(11)).decode())])
    body(model, [ImageUrl("data:image/png;base64," + base64.b64encode(bytes(10)).decode())])


async def test_a_refused_part_sends_nothing(loopback: Any) -> None:
    from agentkit import Agent

    server = loopback([])
    agent = Agent(OpenAI("gpt-4o", api_key="sk-test", base_url=server.url + "/v1"))
    with pytest.raises(UserError, match="audio/ogg"):
        await agent.run(["Transcribe", BinaryContent(OGG, "audio/ogg")])
    assert server.requests == []


def test_base64_is_encoded_once_per_part_over_many_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[int] = []
    real = base64.b64encode
    monkeypatch.setattr(agentkit.content.base64, "b64encode", lambda data: encoded.append(len(data)) or real(data))
    image = BinaryContent(PNG, "image/png")
    history: list[Message] = [UserMessage(content=["Look", image])]
    for model in [*chat_models().values(), OpenAIResponses("gpt-4o", api_key="k")]:
        for turn in range(5):
            history += [AssistantMessage(content=f"turn {turn}"), UserMessage(content="more")]
            model.build_body(ModelRequest(history, (), ModelSettings()))
    assert encoded == [len(PNG)]


# --- tool results with images -------------------------------------------------------------------


def tool_turn(*attachments: Any, text: str = "") -> list[Message]:
    return [
        AssistantMessage(
            tool_calls=[ToolCall(id="call_1", name="chart", arguments="{}"), ToolCall(id="call_2", name="other", arguments="{}")]
        ),
        ToolMessage(tool_call_id="call_1", name="chart", content=text, attachments=list(attachments)),
        ToolMessage(tool_call_id="call_2", name="other", content="42"),
    ]


def test_openai_chat_tool_images_follow_in_a_user_message() -> None:
    model = chat_models()["openai"]
    sent = body(model, ["Plot it"], tool_turn(BinaryContent(PNG, "image/png"), text="Here is the chart."))
    assert_valid_request(sent, "openai")
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool", "tool", "user"]
    assert sent["messages"][3]["content"] == "Here is the chart.\n(see the attached image)"
    assert sent["messages"][5]["content"] == [
        {"type": "text", "text": "Attached by tool chart (call call_1):"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}},
    ]
    two = body(model, ["Plot"], tool_turn(BinaryContent(PNG, "image/png"), BinaryContent(PDF, "application/pdf")))
    assert two["messages"][3]["content"] == "(see the 2 attached files)"


def test_openrouter_and_mistral_tool_images_go_in_the_tool_result() -> None:
    for provider in ("openrouter", "mistral"):
        sent = body(chat_models()[provider], ["Plot it"], tool_turn(ImageUrl("https://x.test/c.png"), text="chart"))
        assert_valid_request(sent, provider)
        assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool", "tool"]
        image = {"url": "https://x.test/c.png"} if provider == "openrouter" else "https://x.test/c.png"
        assert sent["messages"][3]["content"] == [{"type": "text", "text": "chart"}, {"type": "image_url", "image_url": image}]


def test_mistral_keeps_its_order_rule_when_tool_images_follow_in_a_user_message() -> None:
    model = chat_models()["mistral"]
    model.profile = replace(model.profile, media=replace(model.profile.media, tool_attachments="user_message"))
    sent = body(model, ["Plot it"], [*tool_turn(BinaryContent(PNG, "image/png")), AssistantMessage(content="A chart.")])
    assert_valid_request(sent, "mistral")
    assert [m["role"] for m in sent["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]


def test_responses_tool_images_go_in_function_call_output() -> None:
    for model, spec in (
        (OpenAIResponses("gpt-4o", api_key="k"), "openai"),
        (OpenRouterResponses("openai/gpt-4o", api_key="k"), "openrouter"),
    ):
        sent = body(model, ["Plot it"], tool_turn(BinaryContent(PNG, "image/png"), text="chart"))
        assert_valid_request(sent, spec, "responses")
        output = next(i for i in sent["input"] if i.get("type") == "function_call_output")
        assert output["output"] == [
            {"type": "input_text", "text": "chart"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG64}", "detail": "auto"},
        ]


def test_the_spec_check_refuses_what_a_provider_would() -> None:
    """The validators have teeth: an ogg input_audio is invalid for OpenAI, a file part for Mistral."""
    from tests.support.specs import spec_errors

    ogg = {"type": "input_audio", "input_audio": {"data": "T2dnUw==", "format": "ogg"}}
    assert spec_errors({"model": "m", "messages": [{"role": "user", "content": [ogg]}]}, "openai")
    pdf = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}
    assert spec_errors({"model": "m", "messages": [{"role": "user", "content": [pdf]}]}, "mistral")
    image_in_tool = [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]
    assert spec_errors({"model": "m", "messages": [{"role": "tool", "tool_call_id": "c", "content": image_in_tool}]}, "openai")
    audio_in = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    assert spec_errors({"model": "m", "input": [{"role": "user", "content": [audio_in]}]}, "openai", "responses")


def test_media_rules_are_data_in_the_profiles() -> None:
    assert isinstance(OpenAI("m", api_key="k").profile.media, MediaRules)
    assert OpenRouter("mistralai/mistral-large-2512", api_key="k").profile.media.api == "OpenRouter chat completions"
    assert Mistral("m", api_key="k").profile.media.dialect == "mistral"
