"""Describe an image: a prompt made of text and an image, sent to a vision model.

The image is a file (``BinaryContent.from_path``: its media type comes from its bytes) or a URL
(``ImageUrl``); without one, the script draws a small picture itself. agentkit maps the image to
the provider's format (``image_url`` with a base64 data URL for Mistral and OpenRouter) and checks
it against the provider's limits before sending anything.

With ``OPENROUTER_API_KEY`` set this asks Mistral Large 3 through OpenRouter; with
``MISTRAL_API_KEY``, Mistral directly (``AGENTKIT_MODEL`` overrides the model). Without a key it
runs offline on the built-in test model (which cannot see: its answer is canned) and prints the
request body Mistral would receive.

    OPENROUTER_API_KEY=... python examples/describe_image.py photo.jpg
    MISTRAL_API_KEY=... python examples/describe_image.py https://example.com/cat.jpg "What breed is it?"
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zlib
from typing import Any

from agentkit import Agent, BinaryContent, ImageUrl, SystemMessage, UserMessage
from agentkit.models import Mistral, Model, ModelRequest
from agentkit.testing import TestModel

INSTRUCTIONS = "Describe images plainly, in two or three sentences."


def pick_model() -> Model | str:
    """$AGENTKIT_MODEL, else Mistral Large 3 through OpenRouter or Mistral with a key, else the test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"]
    if os.environ.get("OPENROUTER_API_KEY"):
        return "openrouter:mistralai/mistral-large-2512"
    if os.environ.get("MISTRAL_API_KEY"):
        return "mistral:mistral-large-2512"
    print("No API key set: running offline on the built-in test model (set OPENROUTER_API_KEY or MISTRAL_API_KEY).")
    return TestModel(text="(The test model cannot see; a vision model would describe the picture here.)")


def drawn_picture(size: int = 32) -> BinaryContent:
    """A small PNG made here (a blue square on orange), so the example needs no file."""
    rows = b""
    for y in range(size):
        rows += b"\x00" + b"".join(
            b"\x20\x40\xc0" if size // 4 <= x < 3 * size // 4 and size // 4 <= y < 3 * size // 4 else b"\xf0\x90\x20"
            for x in range(size)
        )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return BinaryContent(png, "image/png", filename="square.png")


def image_from(argument: str | None) -> BinaryContent | ImageUrl:
    """The image: a URL, a file, or the drawn picture."""
    if argument is None:
        return drawn_picture()
    if argument.startswith(("http://", "https://", "data:")):
        return ImageUrl(argument)
    return BinaryContent.from_path(argument)


def show_request_body(prompt: list[Any]) -> None:
    """The body Mistral would receive (nothing is sent); the base64 text is shortened for the screen."""
    request = ModelRequest([SystemMessage(content=INSTRUCTIONS), UserMessage(content=prompt)])
    body = Mistral("mistral-large-2512", api_key="offline-placeholder").build_body(request)
    text = json.dumps(body, indent=2)
    start = text.find("base64,")
    if start != -1:
        end = text.find('"', start)
        text = text[: start + 27] + f"...({end - start - 7} base64 characters)" + text[end:]
    print("Mistral would receive:")
    print(text)


def main() -> None:
    image = image_from(sys.argv[1] if len(sys.argv) > 1 else None)
    question = " ".join(sys.argv[2:]) or "What is in this picture?"
    prompt: list[Any] = [question, image]
    agent = Agent(pick_model(), instructions=INSTRUCTIONS)
    if isinstance(agent.model, TestModel):
        show_request_body(prompt)
    result = agent.run_sync(prompt)
    print(result.output)
    print(f"({result.usage.total_tokens} tokens)")


if __name__ == "__main__":
    main()
