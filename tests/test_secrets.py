"""No key ever leaks: a server that echoes the request (its Authorization header) back, in any
encoding, into a 200 body, an error body or a stream, never gets the key into an error's text,
attributes or pickle, a batch's results file, the command line's screen or agentkit's logs."""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import pickle
import re
import textwrap
import urllib.parse
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit import Agent
from agentkit._http.errors import error_from_response, snippet
from agentkit.errors import (
    AgentkitError,
    AuthenticationError,
    ProviderError,
    ResponseParseError,
    UnexpectedModelBehavior,
    redact_secrets,
)
from agentkit.models import OpenAICompatible
from tests.support.server import Reply, Request

KEY = "sk-live/Zq3x+9TbW7pLr2Vn8Kd5Ym"
"""A key with characters that JSON, URLs and base64 treat specially ('/', '+', '-')."""


# --- every way a server may spell the key back -------------------------------------------------


def _escaped(text: str, form: str) -> str:
    return "".join(form.format(ord(c)) for c in text)


ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda k: k,
    "json-escaped": lambda k: _escaped(k, "\\u{:04x}"),
    "json-escaped-upper-hex": lambda k: _escaped(k, "\\u{:04X}"),
    "json-escaped-some": lambda k: "".join(f"\\u{ord(c):04x}" if i % 3 == 0 else c for i, c in enumerate(k)),
    "json-escaped-twice": lambda k: _escaped(k, "\\\\u{:04x}"),
    "json-slash-escaped": lambda k: k.replace("/", "\\/"),
    "x-escaped": lambda k: _escaped(k, "\\x{:02x}"),
    "percent": lambda k: _escaped(k, "%{:02X}"),
    "percent-lower-some": lambda k: "".join(f"%{ord(c):02x}" if i % 2 else c for i, c in enumerate(k)),
    "percent-twice": lambda k: _escaped(k, "%25{:02X}"),
    "quote": lambda k: urllib.parse.quote(k, safe=""),
    "html-decimal": lambda k: _escaped(k, "&#{};"),
    "html-hex": lambda k: _escaped(k, "&#x{:x};"),
    "base64-basic": lambda k: base64.b64encode(f"user:{k}".encode()).decode(),
    "base64-offset-1": lambda k: base64.b64encode(f"x{k}".encode()).decode(),
    "base64-offset-2": lambda k: base64.b64encode(f"xy{k}".encode()).decode(),
    "base64-urlsafe": lambda k: base64.urlsafe_b64encode(f"user:{k}".encode()).decode(),
}


def decodings(text: str) -> list[str]:
    """``text`` and everything it may decode to (escapes undone once and twice, base64 runs decoded)."""
    found = [text]
    for _ in range(2):
        for t in list(found):
            found.append(html.unescape(t))
            found.append(urllib.parse.unquote(t))
            found.append(t.replace("\\/", "/"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # "\/" is no escape of Python's
                with contextlib.suppress(UnicodeDecodeError):
                    found.append(t.encode("latin-1", "backslashreplace").decode("unicode_escape"))
        found = list(dict.fromkeys(found))
    for run in re.findall(r"[A-Za-z0-9+/_\-=]{16,}", text):
        for start in range(4):
            chunk = run[start:].replace("-", "+").replace("_", "/").rstrip("=")
            chunk = chunk[: len(chunk) // 4 * 4]
            with contextlib.suppress(ValueError):
                found.append(base64.b64decode(chunk).decode("latin-1"))
    return found


def assert_no_key(*texts: Any) -> None:
    for text in texts:
        text = text if isinstance(text, str) else json.dumps(text, default=repr) if not isinstance(text, bytes) else text.decode()
        for form in decodings(text):  # not even a part of it: 10 characters of the key in a row
            assert not any(KEY[i : i + 10] in form for i in range(len(KEY) - 9)), text


def assert_error_free(error: BaseException) -> None:
    parts: list[Any] = [str(error), repr(error), error.args, pickle.loads(pickle.dumps(error)).__str__()]
    parts += [repr(getattr(error, name, None)) for name in ("message", "body", "code", "type", "request_id")]
    parts.append(json.dumps(getattr(error, "body", None), default=repr))
    assert_no_key(*parts)


def echo_text(request: Request, encode: Callable[[str], str]) -> str:
    """The request's headers, written the way ``encode`` spells them."""
    first = sorted(request.headers.items(), key=lambda item: item[0] != "authorization")  # within what errors quote
    return "; ".join(f"{name}: {encode(value)}" for name, value in first)


def model_for(server: Any, **options: Any) -> OpenAICompatible:
    return OpenAICompatible("echo", base_url=server.url + "/v1", api_key=KEY, max_retries=0, **options)


# --- the redaction itself ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def registered() -> None:
    OpenAICompatible("echo", base_url="http://127.0.0.1:9/v1", api_key=KEY)  # a client registers the key it sends


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding_of_a_key_is_redacted(encoding: str) -> None:
    encoded = ENCODINGS[encoding](KEY)
    text = f'before {{"authorization": "Bearer {encoded}"}} after'
    redacted = redact_secrets(text)
    assert "***" in redacted and redacted.startswith("before ") and redacted.endswith(" after")
    assert_no_key(redacted)


CHAR_FORMS = ["{c}", "\\u{o:04x}", "\\u{o:04X}", "\\\\u{o:04x}", "\\x{o:02x}"]
CHAR_FORMS += ["%{o:02X}", "%{o:02x}", "%25{o:02X}", "&#{o};", "&#x{o:x};"]


@settings(max_examples=300, deadline=None)
@given(forms=st.lists(st.sampled_from(CHAR_FORMS), min_size=len(KEY), max_size=len(KEY)), around=st.text(max_size=20))
def test_a_key_written_with_any_mix_of_escapes_is_redacted(forms: list[str], around: str) -> None:
    written = "".join(form.format(c=c, o=ord(c)) for form, c in zip(forms, KEY, strict=True))
    redacted = redact_secrets(f"{around}{written}{around}")
    assert "***" in redacted
    assert_no_key(redacted)


def test_a_key_cut_short_by_a_snippet_is_redacted_too() -> None:
    assert redact_secrets(f"key {KEY[:14]}...") == "key ***..."
    assert redact_secrets(f"key {KEY[:14]}") == "key ***"
    long = "x" * 290 + f" {KEY} " + "y" * 100
    assert KEY[:8] not in snippet(long)  # redacted before it is cut at 300 characters


def test_short_placeholder_keys_are_not_hidden_everywhere_but_their_own_client_hides_them() -> None:
    OpenAICompatible("m", base_url="http://127.0.0.1:9/v1", api_key="none")
    assert redact_secrets("none of these") == "none of these"
    assert redact_secrets("key: none", "none") == "key: ***"


def test_every_agentkit_error_hides_the_key_whatever_raises_it() -> None:
    escaped = ENCODINGS["json-escaped"](KEY)
    error = ResponseParseError(f"bad {escaped}", provider="p", code=KEY, type=KEY, request_id=KEY, body={KEY: [escaped]})
    assert_error_free(error)
    assert error.body == {"***": ["***"]} and error.code == "***"
    assert_error_free(UnexpectedModelBehavior(f"odd {KEY}"))
    error.message = f"set later {KEY}"  # str() redacts too
    assert_no_key(str(error), repr(error))


def test_error_bodies_are_redacted_after_decoding() -> None:
    body = ('{"error": {"message": "bad key ' + ENCODINGS["json-escaped-some"](KEY) + '", "param": "x"}}').encode()
    error = error_from_response(401, body, {"x-request-id": KEY}, "p")
    assert isinstance(error, AuthenticationError)
    assert error.message == "bad key ***" and error.request_id == "***"
    assert_error_free(error)


def test_credentials_in_extra_headers_are_hidden_too() -> None:
    secret = "azure-0123456789abcdef0123"
    OpenAICompatible("m", base_url="http://127.0.0.1:9/v1", headers={"api-key": secret})
    basic = "dXNlcjpwYXNzd29yZC0xMjM0NTY3OA=="
    OpenAICompatible("m", base_url="http://127.0.0.1:9/v1", headers={"Authorization": f"Basic {basic}"})
    assert redact_secrets(f"a {secret} b {basic} c") == "a *** b *** c"


def test_agentkit_logs_hide_the_key(caplog: pytest.LogCaptureFixture) -> None:
    from agentkit._secrets import LOGGERS

    for path in Path(__import__("agentkit").__file__).parent.rglob("*.py"):  # every logger agentkit has is filtered
        for name in re.findall(r"getLogger\(\"([^\"]+)\"\)", path.read_text(encoding="utf-8")):
            assert name in LOGGERS, (path, name)
    with caplog.at_level(logging.WARNING, logger="agentkit"):
        try:
            raise RuntimeError(f"a tool failed: {ENCODINGS['percent'](KEY)}")
        except RuntimeError:
            logging.getLogger("agentkit").warning("tool %r raised %s", "t", KEY, exc_info=True)
        logging.getLogger("agentkit.mcp").warning("server said %s", ENCODINGS["json-escaped"](KEY))
    assert len(caplog.records) == 2
    handler = logging.StreamHandler()
    for record in caplog.records:
        assert_no_key(handler.format(record))


# --- over real sockets: run, run_stream, run_many, the command line ------------------------------


def echo_handler(encoding: str, status: int = 200) -> Callable[[Request], Reply]:
    def handler(request: Request) -> Reply:
        text = echo_text(request, ENCODINGS[encoding])
        if status != 200:
            return Reply(status, {"error": {"message": f"you sent {text}", "param": text}})
        if request.json and request.json.get("stream"):  # an event that is not a chunk, then one that is not JSON
            return Reply(200, f"data: {json.dumps({'echo': text})}\n\ndata: {text}\n\n", content_type="text/event-stream")
        return Reply(200, {"echo": text}, headers={"x-request-id": text[:200]})

    return handler


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
async def test_run_and_run_stream_against_an_echoing_server(loopback: Any, encoding: str) -> None:
    server = loopback(echo_handler(encoding), spec=None)
    agent = Agent(model_for(server))
    with pytest.raises(ProviderError) as caught:
        await agent.run("hi")
    assert isinstance(caught.value, ResponseParseError)
    assert_error_free(caught.value)
    with pytest.raises(AgentkitError) as streamed:
        async with agent.run_stream("hi") as stream:
            async for _ in stream:
                pass
    assert_error_free(streamed.value)
    await agent.aclose()


@pytest.mark.parametrize("status", [400, 401, 500])
@pytest.mark.parametrize("encoding", ["plain", "json-escaped", "percent", "base64-basic"])
async def test_error_answers_that_echo_the_key(loopback: Any, encoding: str, status: int) -> None:
    server = loopback(echo_handler(encoding, status), spec=None)
    agent = Agent(model_for(server))
    with pytest.raises(ProviderError) as caught:
        await agent.run("hi")
    assert caught.value.status == status
    assert_error_free(caught.value)
    await agent.aclose()


@pytest.mark.parametrize("encoding", ["plain", "json-escaped", "json-escaped-some", "percent", "html-hex", "base64-basic"])
async def test_run_many_results_file_never_holds_the_key(loopback: Any, tmp_path: Path, encoding: str) -> None:
    server = loopback(echo_handler(encoding), spec=None)
    agent = Agent(model_for(server))
    out = tmp_path / "out.jsonl"
    items = await agent.run_many([f"p{i}" for i in range(3)], results=out, concurrency=3)
    assert all(not item.ok for item in items)
    assert_no_key(out.read_text(encoding="utf-8"), *(item.error for item in items))
    await agent.aclose()


def test_run_many_hides_the_key_in_any_exception_an_input_raises(tmp_path: Path) -> None:
    from agentkit.batch import run_many

    async def run(prompt: str) -> Any:
        raise ValueError(f"some library quoted {ENCODINGS['json-escaped'](KEY)}")

    import asyncio

    items = asyncio.run(run_many(run, ["a"], results=tmp_path / "out.jsonl"))
    assert_no_key(items[0].error, (tmp_path / "out.jsonl").read_text())


AGENT_FILE = """
from agentkit import Agent
from agentkit.models import OpenAICompatible

agent = Agent(OpenAICompatible("echo", base_url={url!r}, api_key={key!r}, max_retries=0))
"""


@pytest.mark.parametrize("encoding", ["plain", "json-escaped", "percent", "base64-basic"])
def test_the_command_line_never_shows_the_key(loopback: Any, tmp_path: Path, encoding: str) -> None:
    from click.testing import CliRunner

    from agentkit.cli import _app

    server = loopback(echo_handler(encoding), spec=None)
    agent_file = tmp_path / "echo_agent.py"
    agent_file.write_text(textwrap.dedent(AGENT_FILE.format(url=server.url + "/v1", key=KEY)), encoding="utf-8")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n"two"\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    runs = [
        ["run", str(agent_file), "hi"],
        ["run", str(agent_file), "hi", "--no-stream"],
        ["run", str(agent_file), "hi", "--debug"],
        ["batch", str(agent_file), str(inputs), "--out", str(out)],
    ]
    for args in runs:
        result = CliRunner().invoke(_app.cli, args)
        assert result.exit_code == 1, (args, result.output)
        assert "***" in result.output or "ResponseParseError" in result.output, result.output
        assert_no_key(result.stdout, result.stderr)
    assert_no_key(out.read_text(encoding="utf-8"))


def test_the_command_lines_display_hides_the_key_in_tool_results() -> None:
    import io

    from rich.console import Console

    from agentkit.cli._display import Display

    buffer = io.StringIO()
    display = Display(Console(file=buffer, width=300))
    display.tool_result("fetch", f"HTTP 401: bad key {ENCODINGS['json-escaped'](KEY)}", True)
    display.tool_result("fetch", f"echo: {KEY}", False)
    assert "***" in buffer.getvalue()
    assert_no_key(buffer.getvalue())
