"""Image prompts replayed against each provider from record-shaped fixtures (tests/data/recorded/multimodal_*.json).

The fixtures are constructed, not recorded (see the README there): each request is written in the
provider's documented image-input shape and checked here against its official request schema; each
response is in the provider's documented response shape. agentkit must send exactly the fixture's
request for the same prompt, and understand the response.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from agentkit import Agent, BinaryContent, DocumentUrl, ImageUrl
from agentkit.models import Mistral, OpenAI, OpenAIResponses, OpenRouter
from tests.support.replay import load, recorded_requests, replies
from tests.support.specs import assert_valid_request

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")
PHOTO = (
    "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/"
    "2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg"
)
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


@pytest.mark.parametrize(
    ("name", "provider", "kind"),
    [
        ("multimodal_openai_image.json", "openai", "chat"),
        ("multimodal_openrouter_mistral_image_stream.json", "openrouter", "chat"),
        ("multimodal_mistral_image.json", "mistral", "chat"),
        ("multimodal_openai_responses_image.json", "openai", "responses"),
    ],
)
def test_the_fixture_requests_are_valid_for_their_provider(name: str, provider: str, kind: str) -> None:
    assert "constructed" in load(name)["source"]
    for body in recorded_requests(name):
        assert_valid_request(body, provider, kind)


def _replay(loopback: Any, name: str, spec: str | None) -> Any:
    return loopback(replies(name), spec=spec)


def test_openai_image_by_url_with_detail_and_as_bytes(loopback: Any) -> None:
    name = "multimodal_openai_image.json"
    server = _replay(loopback, name, "openai")
    agent = Agent(OpenAI("gpt-4o-mini", api_key="sk-replay", base_url=server.url + "/v1"))
    result = agent.run_sync(["What is in this image?", ImageUrl(PHOTO, detail="low"), BinaryContent(PNG, "image/png")])
    assert result.output.startswith("The first image shows a wooden boardwalk")
    assert result.usage.prompt_tokens == 1117 and result.usage.completion_tokens == 24
    assert server.bodies("/chat/completions") == recorded_requests(name)


async def test_openrouter_mistral_large_3_streams_an_answer_about_an_image(loopback: Any) -> None:
    name = "multimodal_openrouter_mistral_image_stream.json"
    server = _replay(loopback, name, "openrouter")
    model = OpenRouter("mistralai/mistral-large-2512", api_key="sk-replay", base_url=server.url + "/v1")
    async with Agent(model).run_stream(["What's in this image?", BinaryContent(PNG, "image/png")]) as stream:
        text = "".join([piece async for piece in stream.text()])
    assert text == "A single green pixel."
    assert stream.result.usage.cost == pytest.approx(0.0000195)
    assert stream.result.messages[-1].provider_details["provider"] == "Mistral"  # type: ignore[union-attr]
    assert server.bodies("/chat/completions") == recorded_requests(name)


def test_mistral_image_url_and_document_url(loopback: Any) -> None:
    name = "multimodal_mistral_image.json"
    server = _replay(loopback, name, "mistral")
    agent = Agent(Mistral("mistral-large-2512", api_key="sk-replay", base_url=server.url + "/v1"))
    result = agent.run_sync(["What's in this image?", ImageUrl(PHOTO), DocumentUrl("https://arxiv.org/pdf/1805.04770")])
    assert "knowledge distillation" in result.output
    assert result.usage.total_tokens == 4327
    assert server.bodies("/chat/completions") == recorded_requests(name)


def test_openai_responses_input_images(loopback: Any) -> None:
    name = "multimodal_openai_responses_image.json"
    server = _replay(loopback, name, None)  # /responses bodies are checked below (the fixture's own check above)
    agent = Agent(OpenAIResponses("gpt-4.1-mini", api_key="sk-replay", base_url=server.url + "/v1"))
    result = agent.run_sync(["what's in this image?", ImageUrl(PHOTO), ImageUrl(DATA_URL, detail="low")])
    assert result.output.startswith("A wooden boardwalk")
    assert result.usage.prompt_tokens == 1126
    sent = server.bodies("/responses")
    assert sent == recorded_requests(name)
    for body in sent:
        assert_valid_request(body, "openai", "responses")
