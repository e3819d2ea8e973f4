"""MCP support without a server: the optional import, tool names, results, tool building, config parsing."""

from __future__ import annotations

import base64
import importlib
import json
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

from agentkit import Tool, ToolDefinitionError, UserError

ROOT = Path(__file__).parent.parent.parent
OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def test_import_agentkit_does_not_import_mcp_and_without_the_sdk_says_how_to_install() -> None:
    code = textwrap.dedent(
        """
        import sys
        import agentkit
        assert not any(m == "mcp" or m.startswith("mcp.") for m in sys.modules), "import agentkit imported mcp"
        sys.modules["mcp"] = None  # as if the SDK were not installed
        try:
            import agentkit.mcp
        except ImportError as e:
            print(e)
        else:
            raise SystemExit("agentkit.mcp imported without the SDK")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'agentkit-loop[mcp]'" in done.stdout


mcp_sdk = pytest.importorskip("mcp", reason="the MCP SDK is not installed (pip install 'agentkit-loop[mcp]')")

from agentkit.mcp import (  # noqa: E402
    MCPConfigError,
    MCPServerHTTP,
    MCPServerStdio,
    MCPToolError,
    format_result,
    load_mcp_config,
    make_tool_names,
)

# --- names ------------------------------------------------------------------------------------


def test_valid_names_are_kept_and_prefixed() -> None:
    assert make_tool_names(["get_time", "convert-time"], None) == {"get_time": "get_time", "convert-time": "convert-time"}
    assert make_tool_names(["get_time"], "time") == {"time_get_time": "get_time"}
    assert make_tool_names(["get_time"], "my server.v2") == {"my_server_v2_get_time": "get_time"}


def test_invalid_names_are_sanitized_and_map_back() -> None:
    long = "x" * 80
    names = make_tool_names(["lookup.user", "files/read file", long, "天气", "a.b", "a_b"], None)
    assert all(OPENAI_NAME.fullmatch(n) for n in names), names
    assert names["lookup_user"] == "lookup.user"
    assert names["files_read_file"] == "files/read file"
    assert names["a_b"] == "a_b"  # a valid name keeps itself even when a clashing one is listed first
    assert sorted(names.values()) == sorted(["lookup.user", "files/read file", long, "天气", "a.b", "a_b"])
    long_exposed = next(k for k, v in names.items() if v == long)
    assert len(long_exposed) == 64 and long_exposed.startswith("x" * 55)
    assert next(k for k, v in names.items() if v == "a.b").startswith("a_b_")
    assert next(k for k, v in names.items() if v == "天气").startswith("tool_")
    # deterministic, and in the server's order
    assert make_tool_names(["lookup.user", "files/read file", long, "天气", "a.b", "a_b"], None) == names
    assert list(names.values())[:2] == ["lookup.user", "files/read file"]


def test_a_long_prefix_still_gives_valid_unique_names() -> None:
    names = make_tool_names(["first_tool", "second_tool"], "p" * 70)
    assert len(names) == 2 and all(OPENAI_NAME.fullmatch(n) for n in names)


# --- results ----------------------------------------------------------------------------------

PNG_B64 = base64.b64encode(b"\x89PNG" + b"\0" * 96).decode()


def test_text_blocks_are_joined() -> None:
    assert format_result({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}) == "a\nb"
    assert format_result({"content": []}) == "(no output)"


def test_structured_content_is_compact_json_unless_the_text_says_something_else() -> None:
    data = {"sum": 6, "numbers": [1, 2, 3]}
    pretty = {"type": "text", "text": json.dumps(data, indent=2)}
    assert format_result({"content": [pretty], "structuredContent": data}) == '{"sum":6,"numbers":[1,2,3]}'
    assert format_result({"content": [], "structuredContent": data}) == '{"sum":6,"numbers":[1,2,3]}'
    # the SDK's servers wrap plain return values: the text is the better answer
    wrapped = {"content": [{"type": "text", "text": "42"}], "structuredContent": {"result": 42}}
    assert format_result(wrapped) == "42"


def test_images_audio_and_resources_are_described_not_sent_as_base64() -> None:
    result = {
        "content": [
            {"type": "image", "data": PNG_B64, "mimeType": "image/png"},
            {"type": "audio", "data": base64.b64encode(b"\0" * 7).decode(), "mimeType": "audio/wav"},
            {"type": "resource", "resource": {"uri": "file:///a.txt", "mimeType": "text/plain", "text": "hello"}},
            {"type": "resource", "resource": {"uri": "file:///b.bin", "mimeType": "application/pdf", "blob": PNG_B64}},
            {"type": "resource_link", "uri": "file:///c.csv", "name": "c.csv", "mimeType": "text/csv"},
            {"type": "something_new"},
        ]
    }
    assert format_result(result).splitlines() == [
        "[image: image/png, 100 bytes]",
        "[audio: audio/wav, 7 bytes]",
        "hello",
        "[resource file:///b.bin: application/pdf, 100 bytes]",
        "[resource link c.csv <file:///c.csv>: text/csv]",
        "[something_new content]",
    ]
    assert PNG_B64 not in format_result(result)


def test_is_error_raises_with_the_servers_text() -> None:
    with pytest.raises(MCPToolError, match=r"^bad timezone$"):
        format_result({"content": [{"type": "text", "text": "bad timezone"}], "isError": True})
    with pytest.raises(MCPToolError, match="without a message"):
        format_result({"content": [], "isError": True, "structuredContent": {"x": 1}})


# --- tools from a listing (no connection needed) ---------------------------------------------

LISTING: list[dict[str, Any]] = [
    {
        "name": "get_time",
        "description": "The time.",
        "inputSchema": {
            "type": "object",
            "properties": {"tz": {"type": "string"}, "fmt": {"type": "string"}},
            "required": ["tz"],
        },
    },
    {
        "name": "configure",
        "inputSchema": {"type": "object", "properties": {"options": {"type": "object", "additionalProperties": True}}},
    },
    {
        "name": "set.time",
        "description": "Set the clock.",
        "inputSchema": {"type": "object", "properties": {"t": {"type": "string"}}},
    },
    {"name": "broken", "inputSchema": {"type": "object", "properties": {"x": {"type": 12}}}},
]


def build(**options: Any) -> tuple[list[Tool[Any, Any]], dict[str, str], MCPServerStdio]:
    server = MCPServerStdio("unused", **options)
    tools, names = server._build_tools(LISTING)
    return tools, names, server


def test_strict_when_possible_else_as_is() -> None:
    tools, names, server = build()
    by_name = {t.name: t for t in tools}
    assert list(by_name) == ["get_time", "configure", "set_time"]
    assert names["set_time"] == "set.time"
    assert by_name["get_time"].strict is True
    wire = by_name["get_time"].definition.parameters
    assert wire["additionalProperties"] is False and wire["required"] == ["tz", "fmt"]  # optional → required + nullable
    assert by_name["configure"].strict is None  # free-form dict: cannot be strict, sent as is
    assert by_name["configure"].definition.parameters == {"type": "object", "properties": LISTING[1]["inputSchema"]["properties"]}
    assert by_name["configure"].description == ""
    assert "broken" in server.skipped_tools  # not a valid JSON schema: left out, with the reason


def test_strict_false_never_tries_and_strict_true_insists() -> None:
    tools, _, _ = build(strict=False)
    assert {t.strict for t in tools} == {False}
    with pytest.raises(ToolDefinitionError, match=r"configure.*cannot be strict"):
        build(strict=True)


async def test_strict_arguments_drop_the_nulls_before_the_call() -> None:
    tools, _, server = build()
    sent: list[dict[str, Any]] = []

    async def fake_call(name: str, arguments: dict[str, Any] | None = None) -> str:
        sent.append({"name": name, **(arguments or {})})
        return "ok"

    server.call_tool_value = fake_call  # type: ignore[method-assign,assignment]
    from agentkit.context import RunContext

    await tools[0].call('{"tz": "UTC", "fmt": null}', RunContext(deps=None))
    assert sent == [{"name": "get_time", "tz": "UTC"}]


def test_requires_approval_and_allowed_tools_by_either_name() -> None:
    tools, _, _ = build(requires_approval={"set.time"})
    assert {t.name: t.requires_approval for t in tools} == {"get_time": False, "configure": False, "set_time": True}
    tools, _, _ = build(requires_approval={"clock_set_time"}, prefix="clock")  # the exposed name works too
    assert [t.name for t in tools if t.requires_approval] == ["clock_set_time"]
    tools, _, _ = build(requires_approval=True)
    assert all(t.requires_approval for t in tools)
    tools, names, _ = build(allowed_tools=["get_time", "clock_set_time"], prefix="clock")
    assert [t.name for t in tools] == ["clock_get_time", "clock_set_time"] and names == {
        "clock_get_time": "get_time",
        "clock_set_time": "set.time",
    }
    with pytest.raises(UserError, match="no tool named 'set_clock'"):
        build(requires_approval={"set_clock"})  # a typo must not leave a tool without approval
    with pytest.raises(UserError, match="requires_approval must be a collection of tool names"):
        MCPServerStdio("x", requires_approval="set_time")  # type: ignore[arg-type]


def test_require_approval_is_a_deprecated_alias_of_requires_approval() -> None:
    """Tools say requires_approval; the servers said require_approval: the old name still works, with a warning."""
    for make in (
        lambda **o: MCPServerStdio("srv", **o),
        lambda **o: MCPServerHTTP("http://127.0.0.1/mcp", **o),
        lambda **o: load_mcp_config({"mcpServers": {"a": {"command": "srv"}}}, **o)[0],
    ):
        with pytest.warns(DeprecationWarning, match="use requires_approval") as caught:
            server = make(require_approval=True)
        assert caught[0].filename == __file__  # the warning points at the caller
        assert server.requires_approval is True
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the new name warns about nothing
            assert make(requires_approval=True).requires_approval is True
    with pytest.warns(DeprecationWarning):
        tools, _, server = build(require_approval={"set.time"})
    assert [t.name for t in tools if t.requires_approval] == ["set_time"]
    with pytest.warns(DeprecationWarning, match="use requires_approval") as caught:
        assert server.require_approval == {"set.time"}
    assert caught[0].filename == __file__
    with pytest.warns(DeprecationWarning):
        server.require_approval = True
    assert server.requires_approval is True
    with pytest.warns(DeprecationWarning), pytest.raises(UserError, match="not both"):
        MCPServerStdio("srv", requires_approval={"a"}, require_approval={"b"})
    with pytest.warns(DeprecationWarning), pytest.raises(UserError, match="requires_approval must be a collection"):
        MCPServerStdio("srv", require_approval="set_time")  # type: ignore[arg-type]


def test_constructor_checks_and_reprs_hide_secrets() -> None:
    with pytest.raises(UserError, match="list of strings"):
        MCPServerStdio("python", "-m server")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="http"):
        MCPServerHTTP("127.0.0.1:8000/mcp")
    with pytest.raises(UserError, match="connect_timeout"):
        MCPServerHTTP("http://127.0.0.1/mcp", connect_timeout=0)
    stdio = MCPServerStdio("uvx", ["mcp-server-time"], env={"API_KEY": "sk-secret"}, prefix="time")
    http = MCPServerHTTP("https://example.com/mcp", headers={"Authorization": "Bearer sk-secret"})
    assert "sk-secret" not in repr(stdio) + repr(http)
    assert repr(stdio) == "MCPServerStdio('uvx mcp-server-time', env=['API_KEY'], prefix='time')"
    assert stdio.name == "time" and http.name == "https://example.com/mcp"
    assert MCPServerStdio("/usr/bin/python3", ["-m", "srv"]).name == "python3 -m srv"


# --- config -----------------------------------------------------------------------------------


def test_load_config_from_a_dict_and_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCS_TOKEN", "t0k")
    monkeypatch.delenv("NOT_SET", raising=False)
    config = {
        "mcpServers": {
            "time": {"command": "uvx", "args": ["mcp-server-time", "--local-timezone=${TZ_NAME:-UTC}"], "env": {"A": "1"}},
            "docs": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}, "type": "http"},
            "off": {"command": "nothing", "disabled": True},
            "cline": {"command": "srv", "autoApprove": [], "timeout": 60, "cwd": "/tmp"},  # other clients' keys: ignored
        }
    }
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps(config))
    for source in (config, path, str(path)):
        servers = load_mcp_config(source)  # type: ignore[arg-type]
        assert [s.name for s in servers] == ["time", "docs", "cline"]
        time, docs, cline = servers
        assert isinstance(time, MCPServerStdio) and isinstance(docs, MCPServerHTTP) and isinstance(cline, MCPServerStdio)
        assert time.command == "uvx" and time.args == ["mcp-server-time", "--local-timezone=UTC"] and time.env == {"A": "1"}
        assert docs.url == "https://example.com/mcp" and docs.headers == {"Authorization": "Bearer t0k"}
        assert cline.cwd == "/tmp"
        assert time.prefix == "time" and docs.prefix == "docs"  # the name is the default prefix
    servers = load_mcp_config(config, prefix=False, requires_approval=True, strict=False, call_timeout=5)
    assert all(s.prefix is None and s.requires_approval is True and s.strict is False and s.call_timeout == 5 for s in servers)
    assert load_mcp_config({"servers": {"vscode": {"type": "stdio", "command": "x"}}})[0].name == "vscode"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([], "must be a JSON object"),
        ({"servers_list": {}}, 'no "mcpServers"'),
        ({"mcpServers": []}, "must be an object mapping server names"),
        ({"mcpServers": {"a": "uvx"}}, "server 'a': the entry must be an object"),
        ({"mcpServers": {"a": {}}}, "server 'a': needs \"command\""),
        ({"mcpServers": {"a": {"command": "x", "url": "http://h/mcp"}}}, 'either "command" .* or "url"'),
        ({"mcpServers": {"a": {"command": ""}}}, '"command" must be a non-empty string'),
        ({"mcpServers": {"a": {"command": "x", "args": "-m srv"}}}, '"args" must be a list of strings'),
        ({"mcpServers": {"a": {"command": "x", "args": ["-p", 8000]}}}, '"args" must be a list of strings'),
        ({"mcpServers": {"a": {"command": "x", "env": {"PORT": 8000}}}}, "\"env\" values must be strings; 'PORT'"),
        ({"mcpServers": {"a": {"command": "x", "env": ["A=1"]}}}, '"env" must be an object'),
        ({"mcpServers": {"a": {"command": "x", "headers": {}}}}, '"headers" belongs to HTTP servers'),
        ({"mcpServers": {"a": {"url": "http://h/mcp", "args": []}}}, '"args" belongs to servers run as a command'),
        ({"mcpServers": {"a": {"url": "ftp://h/mcp"}}}, "server 'a': url must be an http"),
        ({"mcpServers": {"a": {"url": "http://h/sse", "type": "sse"}}}, "SSE transport is not supported"),
        ({"mcpServers": {"a": {"url": "http://h/mcp", "type": "websocket"}}}, 'unknown "type"'),
        ({"mcpServers": {"a": {"command": "x", "type": "http"}}}, '"type" is \'http\' but the entry has a "command"'),
        ({"mcpServers": {"a": {"url": "http://h/mcp", "type": "stdio"}}}, '"type" is "stdio" but the entry has a "url"'),
        ({"mcpServers": {"a": {"command": "x", "disabled": "yes"}}}, '"disabled" must be true or false'),
        ({"mcpServers": {"a": {"url": "http://h/mcp", "headers": {"X": "${NOT_SET}"}}}}, r"headers.X.*\$\{NOT_SET\}.*not set"),
        ({"mcpServers": {"": {"command": "x"}}}, "server names must be non-empty"),
    ],
)
def test_malformed_configs_say_what_is_wrong(config: Any, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET", raising=False)
    with pytest.raises(MCPConfigError, match=message):
        load_mcp_config(config)


def test_a_config_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"mcpServers": {')
    with pytest.raises(MCPConfigError, match=r"broken.json.*not valid JSON"):
        load_mcp_config(path)


# --- secrets in command lines and URLs ------------------------------------------------------------

SECRET_ARGS = [
    (["--token", "tok-123456"], "--token ***"),
    (["--api-key=sk-1234567890abcdef"], "--api-key=***"),
    (["--password", "hunter22", "--port", "8080"], "--password *** --port 8080"),
    (["-e", "GITHUB_TOKEN=ghp_abcdefgh12345678"], "-e GITHUB_TOKEN=***"),
    (["--client-secret", "s3cr3t-v4lue"], "--client-secret ***"),
    (["--header", "Authorization: Bearer tok-123456"], "--header 'Authorization: ***'"),
    (["postgresql://me:hunter22@db.example/app?sslmode=require"], "'postgresql://me:***@db.example/app?sslmode=***'"),
    (["--url=https://h.example/mcp?key=tok-123456"], "'--url=https://h.example/mcp?key=***'"),
    (["serve", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"], "serve ***"),
    (["--no-auth", "--secret", "--verbose"], "--no-auth --secret --verbose"),  # switches, no values
    (["-m", "mcp_server_time", "--local-timezone", "UTC"], "-m mcp_server_time --local-timezone UTC"),
]


@pytest.mark.parametrize(("args", "shown"), SECRET_ARGS)
def test_a_stdio_servers_name_and_repr_hide_secrets_in_its_arguments(args: list[str], shown: str) -> None:
    from agentkit.mcp import MCPServerStdio

    server = MCPServerStdio("/opt/bin/srv", args)
    assert server.name == f"srv {shown}"[:57] + ("..." if len(f"srv {shown}") > 60 else "")
    assert repr(server) == f"MCPServerStdio({f'/opt/bin/srv {shown}'!r})"
    for secret in ("tok-123456", "1234567890abcdef", "hunter22", "ghp_", "s3cr3t"):
        assert secret not in server.name + repr(server)


def test_an_http_servers_name_and_repr_hide_the_urls_secrets() -> None:
    from agentkit.mcp import MCPServerHTTP

    server = MCPServerHTTP("https://me:hunter22@mcp.example:8443/v1/sk-ak-1a2b3c4d5e6f7a8b9c0d/mcp?token=tok-123456&x=1#f")
    assert server.name == "https://mcp.example:8443/v1/***/mcp"
    assert repr(server) == "MCPServerHTTP('https://me:***@mcp.example:8443/v1/***/mcp?token=***&x=***')"
    assert MCPServerHTTP("http://127.0.0.1:8000/mcp").name == "http://127.0.0.1:8000/mcp"
    with pytest.raises(UserError) as caught:
        MCPServerHTTP("ftp://me:hunter22@h/mcp")
    assert "hunter22" not in str(caught.value) and "'ftp'" in str(caught.value)


def test_error_texts_are_scrubbed_of_the_servers_secrets() -> None:
    from agentkit.mcp import MCPServerHTTP, MCPServerStdio

    url = "https://me:hunter22@mcp.example/mcp?token=tok-123456"
    http = MCPServerHTTP(url, headers={"Authorization": "Bearer sk-header-secret", "Accept": "text/plain"})
    said = http._scrub(f"Client error '401 Unauthorized' for url '{url}'; sent Bearer sk-header-secret; got text/plain")
    assert said == "Client error '401 Unauthorized' for url 'https://me:***@mcp.example/mcp?token=***'; sent ***; got text/plain"
    stdio = MCPServerStdio("srv", ["--token", "tok-123456"], env={"API_KEY": "sk-env-secret", "TZ": "UTC"})
    said = stdio._scrub("srv --token tok-123456 failed; API_KEY was sk-env-secret; TZ=UTC")
    assert said == "srv --token *** failed; API_KEY was ***; TZ=UTC"


def test_timeouts_and_the_result_limit_have_defaults() -> None:
    from agentkit.mcp import MCPServerHTTP, MCPServerStdio

    for server in (MCPServerStdio("srv"), MCPServerHTTP("http://h/mcp"), *load_config({"mcpServers": {"a": {"command": "x"}}})):
        assert server.call_timeout == 300.0 and server.max_result_chars == 1_000_000
        assert getattr(server, "max_message_bytes", 32_000_000) == 32_000_000
    unlimited = MCPServerStdio("srv", call_timeout=None, max_result_chars=None)
    assert unlimited.call_timeout is None and unlimited.max_result_chars is None
    with pytest.raises(UserError, match="max_result_chars"):
        MCPServerStdio("srv", max_result_chars=0)
    with pytest.raises(UserError, match="max_message_bytes"):
        MCPServerStdio("srv", max_message_bytes=0)


def load_config(config: dict[str, Any]) -> list[Any]:
    from agentkit.mcp import load_mcp_config

    return load_mcp_config(config)


def test_the_stdio_line_reader_keeps_no_more_than_its_limit() -> None:
    from agentkit.mcp._stdio import _Lines, _message, _TooLong

    lines = _Lines(limit=20)
    out: list[Any] = []
    for piece in (b'{"a":', b" 1}\n\n", b'{"jsonrpc": "2.0", "id": 7, "result": {"x": "', b"y" * 50, b'"}}\n{"b"', b": 2}\n"):
        out += lines.feed(piece)
        assert sum(map(len, lines.pieces)) <= 20 and len(lines.head) <= 256 and len(lines.tail) <= 256
    assert out[:2] == [b'{"a": 1}', b""] and out[3] == b'{"b": 2}'
    too_long = out[2]
    assert isinstance(too_long, _TooLong) and too_long.size == 98 and too_long.request_id() == 7
    assert _TooLong(10**9, b'{"result": {"id": 3}', b'"jsonrpc": "2.0", "id": "r-1"}').request_id() == "r-1"  # the id last
    assert _TooLong(10**9, b'{"method": "notifications/message"', b'"x"}}').request_id() is None
    error = _message(too_long, 20)
    assert not isinstance(error, Exception) and error is not None
    dumped = error.message.model_dump(by_alias=True)
    assert dumped["id"] == 7 and "more than max_message_bytes=20" in dumped["error"]["message"]
    assert isinstance(_message(_TooLong(99, b"{", b"}"), 20), ValueError)  # no id: logged by the session
    assert _message(b"  ", 20) is None


async def test_the_http_answer_counter_stops_past_the_limit_without_reading_on() -> None:
    from mcp.shared._httpx_utils import create_mcp_http_client

    from agentkit.mcp._http_limit import limit_responses, oversize_message

    httpx = importlib.import_module(type(create_mcp_http_client()).__module__.partition(".")[0])  # httpx2 or httpx
    sent: list[int] = []

    class Body(httpx.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, chunks: list[bytes]) -> None:
            self.chunks = chunks

        async def __aiter__(self) -> Any:
            for chunk in self.chunks:
                sent.append(len(chunk))
                yield chunk

    def answer(request: Any) -> Any:
        kind = request.url.path.strip("/")
        if kind == "json":  # no Content-Length: counted as it arrives
            return httpx.Response(200, headers={"content-type": "application/json"}, stream=Body([b"x" * 1000] * 100))
        if kind == "declared":  # its Content-Length says too much: not a byte is read
            headers = {"content-type": "application/json", "content-length": "100000"}
            return httpx.Response(200, headers=headers, stream=Body([b"x"]))
        events = [b"data: " + b"y" * 400 + b"\r\n\r\n"] * 50  # 50 events of ~410 bytes: 20 KB in all, each under the limit
        big = [b"data: " + b"z" * 600 + b"\n", b"data: " + b"z" * 600 + b"\n\n"]  # one event of 1,214 bytes, in two pieces
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Body(events + big + events))

    async with limit_responses(httpx.AsyncClient(transport=httpx.MockTransport(answer)), 1_000) as client:
        assert client.headers["accept-encoding"] == "identity"
        for path in ("json", "declared"):
            sent.clear()
            async with client.stream("GET", f"http://mcp.test/{path}") as response:
                with pytest.raises(httpx.StreamError) as caught:
                    await response.aread()
            assert oversize_message(str(caught.value)) == (
                "the MCP server sent a message of more than max_message_bytes=1,000 bytes; "
                "it was not read (its answer is too large)"
            )
            assert sent == ([1000, 1000] if path == "json" else []), (path, sent)  # not one chunk past the limit
        sent.clear()
        async with client.stream("GET", "http://mcp.test/events") as response:
            with pytest.raises(httpx.StreamError, match="max_message_bytes=1,000"):
                async for _ in response.aiter_bytes():
                    pass
        assert len(sent) == 52  # the 50 small events, then the big one's two pieces: nothing after it was read
    # the stdio transport's error is recognised too, and nothing else is
    stdio = (
        "the MCP server sent a message of 5,000 bytes, "
        "more than max_message_bytes=20; it was skipped (its answer is too large)"
    )
    assert oversize_message(f"Failed: {stdio}") == stdio
    assert oversize_message("the MCP server sent a message") is None


def test_an_http_server_takes_max_message_bytes_too() -> None:
    from agentkit.mcp import MCPServerHTTP

    assert MCPServerHTTP("http://h/mcp", max_message_bytes=None).max_message_bytes is None
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(UserError, match="max_message_bytes"):
            MCPServerHTTP("http://h/mcp", max_message_bytes=bad)  # type: ignore[arg-type]
    (server,) = load_config({"mcpServers": {"a": {"url": "http://h/mcp"}}})
    assert server.max_message_bytes == 32_000_000


def test_result_value_gives_images_audio_and_blobs_as_parts() -> None:
    from agentkit import BinaryContent
    from agentkit.mcp import result_value

    pdf = base64.b64encode(b"%PDF-1.7 x").decode()
    result = {
        "content": [
            {"type": "text", "text": "two things:"},
            {"type": "image", "data": PNG_B64, "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "file:///r/report.pdf", "mimeType": "application/pdf", "blob": pdf}},
            {"type": "image", "data": "not base64!", "mimeType": "image/png"},
            {"type": "audio", "data": "", "mimeType": "audio/wav"},
        ]
    }
    text, image, document = result_value(result)
    assert text == "two things:\n[image: image/png, 8 bytes]\n[audio: audio/wav, 0 bytes]"
    assert image == BinaryContent(base64.b64decode(PNG_B64), "image/png")
    assert image.base64 == PNG_B64  # kept as the server sent it: not encoded again
    assert document == BinaryContent(b"%PDF-1.7 x", "application/pdf", filename="report.pdf")
    assert result_value({"content": [{"type": "image", "data": PNG_B64, "mimeType": "image/png"}]}) == [image]
    assert result_value({"content": [{"type": "text", "text": "plain"}]}) == "plain"
    with pytest.raises(MCPToolError, match="bad"):
        result_value({"isError": True, "content": [{"type": "text", "text": "bad"}]})
