"""``agentkit run ... -a FILE_OR_URL`` and ``agentkit chat -a``: attachments join the prompt."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("click")

from click.testing import CliRunner, Result

from agentkit import AudioUrl, BinaryContent, DocumentUrl, ImageUrl, _providers
from agentkit.cli import _app
from agentkit.cli._attach import attachments
from agentkit.testing import ScriptedModel

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8

AGENT = """
from agentkit import Agent
from agentkit.testing import ScriptedModel

agent = Agent(ScriptedModel(["A small picture."] * 5))
"""


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(_app.cli, list(args), input=input)


def test_run_attaches_files_and_urls(tmp_path: Path) -> None:
    (tmp_path / "agent.py").write_text(textwrap.dedent(AGENT), encoding="utf-8")
    (tmp_path / "photo.jpg").write_bytes(PNG)  # the bytes say PNG, whatever the name says
    result = invoke(
        "run", str(tmp_path / "agent.py"), "describe this", "-a", str(tmp_path / "photo.jpg"),
        "--attach", "https://example.com/cat.webp", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["output"] == "A small picture."
    assert document["messages"][0]["content"] == [
        "describe this",
        {"kind": "binary", "data": "iVBORw0KGgoAAAAAAAAAAA==", "media_type": "image/png", "filename": "photo.jpg"},
        {"kind": "image-url", "url": "https://example.com/cat.webp", "detail": None},
    ]


def test_a_missing_attachment_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "agent.py").write_text(textwrap.dedent(AGENT), encoding="utf-8")
    result = invoke("run", str(tmp_path / "agent.py"), "describe", "-a", str(tmp_path / "nope.png"))
    assert result.exit_code == 2, result.output
    assert "nope.png" in result.stderr and "Traceback" not in result.output


def test_urls_become_parts_by_their_extension() -> None:
    urls = ["https://x.test/a.pdf", "https://x.test/b.mp3?x=1", "https://x.test/c", "data:image/png;base64,AAAA"]
    assert attachments(urls) == [
        DocumentUrl("https://x.test/a.pdf"),
        AudioUrl("https://x.test/b.mp3?x=1"),
        ImageUrl("https://x.test/c"),
        BinaryContent(b"\x00\x00\x00", "image/png"),
    ]


def test_chat_attaches_to_the_first_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = ScriptedModel(["A picture.", "Blue."])
    monkeypatch.setitem(_providers._REGISTRY, "clitest", _providers.Provider("clitest", "clitest", chat=lambda name: model))
    (tmp_path / "p.png").write_bytes(PNG)
    result = invoke("chat", "--model", "clitest:x", "-a", str(tmp_path / "p.png"), input="What is it?\nWhat colour?\nquit\n")
    assert result.exit_code == 0, result.output
    first, second = model.requests
    assert first.messages[-1].content == ["What is it?", BinaryContent(PNG, "image/png", filename="p.png")]
    assert second.messages[-1].content == "What colour?"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{tmp}", "it is a directory"),
        ("{tmp}/missing.png", "No such file or directory"),
        ("{tmp}/fake.png", "is not a valid image/png file"),
        ("{tmp}/empty.png", "is empty"),
        ("javascript:alert(1)", "give a file's path, or an http://, https:// or data: URL"),
        ("ftp://example.com/a.png", "give a file's path, or an http://, https:// or data: URL"),
        ("data:image/png;base64,!!", "does not hold valid base64"),
        ("data:image/png,raw", "data:<media type>;base64,<data>"),
    ],
)
def test_bad_attachments_are_clear_errors_before_the_agent_runs(tmp_path: Path, value: str, message: str) -> None:
    (tmp_path / "agent.py").write_text(textwrap.dedent(AGENT), encoding="utf-8")
    (tmp_path / "fake.png").write_text("not a picture", encoding="utf-8")
    (tmp_path / "empty.png").write_bytes(b"")
    result = invoke("run", str(tmp_path / "agent.py"), "describe", "-a", value.format(tmp=tmp_path))
    assert result.exit_code == 2 and "--attach" in result.output and message in result.output
    assert "A small picture." not in result.output


def test_a_file_url_is_read_as_its_path(tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(PNG)
    (part,) = attachments([(tmp_path / "cat.png").as_uri()])
    assert part == BinaryContent(PNG, "image/png", filename="cat.png")


def test_chat_keeps_the_attachments_of_a_message_whose_answer_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = ScriptedModel([ConnectionError("the network is down"), "A picture."])
    monkeypatch.setitem(_providers._REGISTRY, "clitest", _providers.Provider("clitest", "clitest", chat=lambda name: model))
    (tmp_path / "p.png").write_bytes(PNG)
    result = invoke("chat", "--model", "clitest:x", "-a", str(tmp_path / "p.png"), input="What is it?\nAgain?\nquit\n")
    assert result.exit_code == 0, result.output
    assert "go with your next message" in result.output
    _, second = model.requests
    assert second.messages[-1].content == ["Again?", BinaryContent(PNG, "image/png", filename="p.png")]


def test_chat_drops_attachments_the_provider_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentkit.errors import UserError

    model = ScriptedModel([UserError("Mistral chat completions cannot take image/tiff images"), "Fine."])
    monkeypatch.setitem(_providers._REGISTRY, "clitest", _providers.Provider("clitest", "clitest", chat=lambda name: model))
    (tmp_path / "p.png").write_bytes(PNG)
    result = invoke("chat", "--model", "clitest:x", "-a", str(tmp_path / "p.png"), input="What is it?\nHello\nquit\n")
    assert result.exit_code == 0, result.output
    assert "not sent again" in result.output
    _, second = model.requests
    assert second.messages[-1].content == "Hello"
