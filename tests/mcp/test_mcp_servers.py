"""MCP against real servers: the demo server (built with the SDK) over stdio and streamable HTTP, and mcp-server-time."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the MCP SDK is not installed (pip install 'agentkit-loop[mcp]')")

from agentkit import Agent, BinaryContent, ModelRetry
from agentkit.mcp import MCPConnectionError, MCPServerHTTP, MCPServerStdio, MCPToolError, load_mcp_config
from agentkit.messages import ToolMessage
from agentkit.testing import ScriptedModel, reply, tool_call
from tests.mcp.conftest import HTTPServer
from tests.mcp.demo_server import LONG_NAME, PNG

DEMO = str(Path(__file__).with_name("demo_server.py"))
# mcp 1.x's FastMCP turns every exception of a tool into an isError result; mcp 2 passes protocol errors on
SERVER_RAISES_PROTOCOL_ERRORS = hasattr(importlib.import_module("mcp.shared.exceptions"), "MCPError")
START = 60.0  # generous: a loaded 2-core machine may take seconds to start a Python server


def demo_stdio(**options: Any) -> MCPServerStdio:
    return MCPServerStdio(sys.executable, [DEMO], connect_timeout=START, **options)


def tool_messages(messages: list[Any]) -> dict[str, ToolMessage]:
    return {m.name: m for m in messages if isinstance(m, ToolMessage)}


async def wait_until_gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_stdio_server_through_an_agent_results_errors_and_shutdown() -> None:
    server = demo_stdio(requires_approval={"set_time"})
    model = ScriptedModel(
        [
            reply(
                None,
                tool_call("echo", {"text": "hi", "times": 2}),
                tool_call("add", {"numbers": [1, 2, 3]}),
                tool_call("image"),
                tool_call("mixed"),
                tool_call("pid"),
                tool_call("lookup_user", {"user": "ann"}),
                tool_call("set_time", {"time": "12:00"}),
            ),
            reply(
                None,
                tool_call("fail", {"reason": "the moon is full"}),
                tool_call("boom"),
                tool_call("reject", {"value": "v"}),
                tool_call("echo", {"text": 5}),
            ),
            "done",
        ]
    )
    asked: list[str] = []

    def approve(call: Any, ctx: Any) -> str:
        asked.append(call.name)
        return "not now"

    agent = Agent(model, tools=[server], approve=approve)
    result = await agent.run("go")
    assert result.output == "done"

    # the tools the model was offered: sanitized names, strict when possible, approval marked
    offered = {t.name: t for t in model.requests[0].tools}
    long_exposed = next(k for k, v in server.tool_names.items() if v == LONG_NAME)
    assert {"echo", "add", "image", "lookup_user", "configure", "set_time", long_exposed} <= set(offered)
    assert len(long_exposed) == 64 and server.tool_names["lookup_user"] == "lookup.user"
    assert offered["echo"].strict is True and offered["configure"].strict is None
    assert {t.name for t in agent.tools if t.requires_approval} == {"set_time"}
    assert server.server_info is not None and server.server_info["name"] == "demo"

    first = tool_messages(model.requests[1].messages)  # what the model got back after turn 1
    assert first["echo"].content == "hi hi" and not first["echo"].is_error
    assert json.loads(first["add"].content) == {"sum": 6, "numbers": [1, 2, 3]}
    # images and audio reach the model as parts (sent as any tool's images are), not as base64 text
    assert first["image"].content == "" and first["image"].attachments == [BinaryContent(PNG, "image/png")]
    assert first["mixed"].content.splitlines() == [
        "the report:",
        "all good",
        "[resource link data.csv <file:///data.csv>: text/csv]",
    ]
    assert first["mixed"].attachments == [BinaryContent(b"\0" * 1000, "audio/wav")]
    assert first["lookup_user"].content == "user ann found"
    assert asked == ["set_time"] and "denied this call: not now" in first["set_time"].content
    pid = int(first["pid"].content)

    errors = tool_messages(model.requests[2].messages[len(model.requests[1].messages) :])  # turn 2's results
    assert all(m.is_error for m in errors.values())
    assert "raised MCPToolError" in errors["fail"].content and "cannot do that: the moon is full" in errors["fail"].content
    assert "raised MCPToolError: Error executing tool boom" in errors["boom"].content  # (mcp 2 hides the exception's text)
    assert "value 'v' is not acceptable" in errors["reject"].content
    if SERVER_RAISES_PROTOCOL_ERRORS:  # an "invalid params" error: ModelRetry's message, as is
        assert errors["reject"].content.startswith("MCP server ") and "Call the tool again" in errors["reject"].content
    assert "Invalid arguments for tool 'echo'" in errors["echo"].content  # checked against the schema before any call

    await agent.aclose()
    assert not server.connected and agent.tools == []
    assert await wait_until_gone(pid), f"the server process {pid} is still alive after agent.aclose()"

    # a closed agent connects again on its next run: a new server process
    model2 = ScriptedModel([reply(None, tool_call("pid")), "again"])
    async with Agent(model2, tools=[server]) as again:
        assert (await again.run("go")).output == "again"
        new_pid = int(tool_messages(model2.requests[1].messages)["pid"].content)
    assert new_pid != pid and await wait_until_gone(new_pid)


async def test_call_timeout_and_a_lost_connection() -> None:
    server = demo_stdio(call_timeout=0.5)
    async with server:
        with pytest.raises(MCPToolError, match=r"did not answer the call of 'slow' within 0\.5 s"):
            await server.call_tool("slow", {"seconds": 10})
        server.call_timeout = None
        assert await server.call_tool("echo", {"text": "still here"}) == "still here"
        with pytest.raises(ModelRetry if SERVER_RAISES_PROTOCOL_ERRORS else MCPToolError, match="not acceptable"):
            await server.call_tool("reject", {"value": "x"})
        with pytest.raises(MCPToolError, match=r"connection to MCP server .* was lost"):
            await server.call_tool("crash")  # the server process exits
        with pytest.raises(MCPToolError, match="was lost"):
            await server.call_tool("echo", {"text": "anyone?"})
    assert not server.connected
    with pytest.raises(MCPToolError, match="not connected"):
        await server.call_tool("echo", {"text": "x"})


async def test_connection_failures_are_clear() -> None:
    with pytest.raises(MCPConnectionError, match=r"Could not start MCP server .*No such file"):
        async with MCPServerStdio("/nonexistent/mcp-server"):
            pass
    exits = MCPServerStdio(sys.executable, ["-c", "pass"], name="quitter", connect_timeout=START)
    with pytest.raises(MCPConnectionError, match=r"'quitter' failed during start-up.*did it exit"):
        async with exits:
            pass
    never_answers = "import sys; sys.stdin.read()"  # (and exits when its stdin is closed)
    silent = MCPServerStdio(sys.executable, ["-c", never_answers], name="silent", connect_timeout=0.5)
    with pytest.raises(MCPConnectionError, match=r"'silent' did not start and answer within connect_timeout=0.5 s"):
        async with silent:
            pass
    with pytest.raises(MCPConnectionError, match=r"Could not connect to MCP server 'http://127.0.0.1:9/mcp'"):
        async with MCPServerHTTP("http://127.0.0.1:9/mcp", connect_timeout=START):
            pass


async def test_http_server_through_an_agent(http_server: HTTPServer) -> None:
    server = MCPServerHTTP(http_server.url, headers={"X-Agentkit-Test": "yes"}, prefix="demo", connect_timeout=START)
    model = ScriptedModel(
        [
            reply(
                None,
                tool_call("demo_echo", {"text": "over http"}),
                tool_call("demo_add", {"numbers": [4, 5]}),
                tool_call("demo_image"),
                tool_call("demo_fail", {"reason": "nope"}),
            ),
            "done",
        ]
    )
    before = len(http_server.requests)
    async with Agent(model, tools=[server]) as agent:
        assert "demo_lookup_user" in {t.name for t in agent.tools}
        result = await agent.run("go")
    assert result.output == "done"
    got = tool_messages(result.messages)
    assert got["demo_echo"].content == "over http"
    assert json.loads(got["demo_add"].content) == {"sum": 9, "numbers": [4, 5]}
    assert got["demo_image"].content == "" and got["demo_image"].attachments == [BinaryContent(PNG, "image/png")]
    assert got["demo_fail"].is_error and "cannot do that: nope" in got["demo_fail"].content
    ours = http_server.requests[before:]
    assert ours and all(r["headers"].get("x-agentkit-test") == "yes" for r in ours)
    assert ours[-1]["method"] == "DELETE"  # the session was ended when the agent closed


async def test_one_server_shared_by_agents_and_closed_from_another_task(http_server: HTTPServer) -> None:
    server = MCPServerHTTP(http_server.url, connect_timeout=START)
    first = Agent(ScriptedModel([reply(None, tool_call("echo", {"text": "a"})), "a", "b", "c"]), tools=[server])
    script = [reply(None, tool_call("echo", {"text": "b"})), "b", reply(None, tool_call("echo", {"text": "c"})), "c"]
    second = Agent(ScriptedModel(script), tools=[server])
    # concurrent first runs: the connection is made inside one of the gathered tasks ...
    await asyncio.gather(first.run("x"), first.run("y"), first.run("z"))
    await second.run("x")
    await first.aclose()  # ... and closed from this one; the other agent still uses it
    assert server.connected
    again = await second.run("again")
    assert tool_messages(again.messages)["echo"].content == "c" and again.output == "c"
    await second.aclose()
    assert not server.connected


async def test_mcp_server_time_from_pypi() -> None:
    pytest.importorskip("mcp_server_time")
    server = MCPServerStdio(
        sys.executable, ["-m", "mcp_server_time", "--local-timezone", "UTC"], prefix="time", connect_timeout=START
    )
    model = ScriptedModel(
        [
            reply(
                None,
                tool_call("time_get_current_time", {"timezone": "Asia/Tokyo"}),
                tool_call("time_convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Europe/Paris"}),
                tool_call("time_get_current_time", {"timezone": "Mars/Olympus_Mons"}),
            ),
            "done",
        ]
    )
    async with Agent(model, tools=[server]) as agent:
        assert {"time_get_current_time", "time_convert_time"} <= {t.name for t in agent.tools}
        assert server.tool_names["time_get_current_time"] == "get_current_time"
        result = await agent.run("What time is it in Tokyo?")
    assert result.output == "done"
    messages = [m for m in result.messages if isinstance(m, ToolMessage)]
    now, converted, bad = messages
    assert not now.is_error and json.loads(now.content)["timezone"] == "Asia/Tokyo"
    assert not converted.is_error and json.loads(converted.content)["target"]["timezone"] == "Europe/Paris"
    assert bad.is_error and "Mars/Olympus_Mons" in bad.content


async def test_servers_from_a_config_file_run_sync_and_closed_from_another_loop(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"demo": {"command": sys.executable, "args": [DEMO], "env": {"DEMO_ENV": "1"}}}}))
    (server,) = load_mcp_config(path, requires_approval=True, connect_timeout=START)
    model = ScriptedModel([reply(None, tool_call("demo_echo", {"text": "from config"}), tool_call("demo_pid")), "done"])
    agent = Agent(model, tools=[server], approve=lambda call, ctx: True)
    result = agent.run_sync("go")  # connects on run_sync's background event loop
    assert all(t.name.startswith("demo_") and t.requires_approval for t in agent.tools)
    got = tool_messages(result.messages)
    assert got["demo_echo"].content == "from config"
    await agent.aclose()  # from this test's loop: the connection is closed on its own loop
    assert not server.connected and await wait_until_gone(int(got["demo_pid"].content))


# --- secrets, hung servers and huge results -------------------------------------------------------

TOKEN = "tok-SECRET-123456"


async def test_a_token_in_the_command_line_reaches_neither_the_model_nor_errors(caplog: pytest.LogCaptureFixture) -> None:
    server = MCPServerStdio(sys.executable, [DEMO, "--token", TOKEN], connect_timeout=START, call_timeout=0.5)
    assert repr(server) == f"MCPServerStdio({f'{sys.executable} {DEMO} --token ***'!r})"  # (the demo ignores its arguments)
    model = ScriptedModel([reply(None, tool_call("slow", {"seconds": 5}), tool_call("fail", {"reason": "x"})), "done"])
    async with Agent(model, tools=[server]) as agent:
        result = await agent.run("go")
    got = tool_messages(result.messages)
    assert got["slow"].is_error and "did not answer the call of 'slow' within 0.5 s" in got["slow"].content
    seen = repr(server) + str(model.requests) + str(result.messages) + caplog.text
    assert TOKEN not in seen
    for args in (["--token", TOKEN], [f"--api-key={TOKEN}"], [f"API_KEY={TOKEN}"]):
        with pytest.raises(MCPConnectionError) as caught:
            async with MCPServerStdio("/nonexistent/mcp-server", args):
                pass
        assert TOKEN not in str(caught.value) and "***" in str(caught.value)
    exits = MCPServerStdio(sys.executable, ["-c", "pass", "--token", TOKEN], connect_timeout=START)
    with pytest.raises(MCPConnectionError, match=r"failed during start-up") as caught:
        async with exits:
            pass
    assert TOKEN not in str(caught.value) and "--token ***" in str(caught.value)


async def test_a_token_in_an_http_url_reaches_neither_the_model_nor_errors(http_server: HTTPServer) -> None:
    url = f"{http_server.url}?token={TOKEN}"
    server = MCPServerHTTP(url, connect_timeout=START, call_timeout=0.5)
    assert server.name == http_server.url and TOKEN not in repr(server)
    model = ScriptedModel([reply(None, tool_call("slow", {"seconds": 5}), tool_call("echo", {"text": "hi"})), "done"])
    async with Agent(model, tools=[server]) as agent:
        result = await agent.run("go")
    got = tool_messages(result.messages)
    assert got["echo"].content == "hi"  # the server was reached through the URL with its token
    assert got["slow"].is_error and f"MCP server '{http_server.url}' did not answer" in got["slow"].content
    assert TOKEN not in str(model.requests) + str(result.messages)
    with pytest.raises(MCPConnectionError) as caught:
        async with MCPServerHTTP(f"http://user:{TOKEN}@127.0.0.1:9/mcp?key={TOKEN}", connect_timeout=START):
            pass
    assert TOKEN not in str(caught.value) and "'http://127.0.0.1:9/mcp'" in str(caught.value)


async def test_a_huge_result_is_cut_for_the_model() -> None:
    async with demo_stdio() as server:
        text = await server.call_tool("huge", {"chars": 3_000_000})
        assert text.startswith("0123456789") and len(text) < 1_000_100
        assert text.endswith("\n[cut: the result has 3,000,000 characters; only the first 1,000,000 are shown.]")
        server.max_result_chars = None
        assert len(await server.call_tool("huge", {"chars": 3_000_000})) == 3_000_000
    model = ScriptedModel([reply(None, tool_call("huge", {"chars": 50_000})), "done"])
    async with Agent(model, tools=[demo_stdio(max_result_chars=100)]) as agent:
        result = await agent.run("go")
    assert tool_messages(result.messages)["huge"].content == (
        "0123456789" * 10 + "\n[cut: the result has 50,000 characters; only the first 100 are shown.]"
    )


RAW = str(Path(__file__).with_name("raw_server.py"))


async def test_a_message_over_max_message_bytes_is_skipped_and_its_call_fails_at_once() -> None:
    # the demo server (the Python SDK: the id first), 5 MB against a limit of 2 MB
    async with demo_stdio(max_message_bytes=2_000_000) as server:
        started = time.monotonic()
        with pytest.raises(MCPToolError, match=r"a message of 5,000,\d+ bytes, more than max_message_bytes=2,000,000"):
            await server.call_tool("huge", {"chars": 5_000_000})
        assert time.monotonic() - started < 30
        assert await server.call_tool("echo", {"text": "still here"}) == "still here"
        assert len(await server.call_tool("huge", {"chars": 1_000_000})) == 1_000_000
    # a server that puts the id last, and sends a notification as big first; 100 MB against the default limit
    async with MCPServerStdio(sys.executable, [RAW], connect_timeout=START) as raw:
        started = time.monotonic()
        with pytest.raises(MCPToolError, match=r"a message of 100,000,\d+ bytes, more than max_message_bytes=32,000,000"):
            await raw.call_tool("big", {"bytes": 100_000_000})  # read whole (and slowly) before
        assert time.monotonic() - started < 60
        assert await raw.call_tool("small") == "small"
        assert len(await raw.call_tool("big", {"bytes": 100_000})) == 100_000


async def test_an_http_answer_over_max_message_bytes_is_not_read_and_its_call_fails_at_once(http_process: Any) -> None:
    # The SDK read a JSON answer whole (50 MB here: all of it, twice, before anything looked at it), and cut
    # event streams at its own 1 MiB per event. Now the same max_message_bytes as over stdio bounds both;
    # the server runs in its own process, so what it spends on the answer is not counted here.
    for json_response in (True, False):
        url = http_process(json_response=json_response)
        async with MCPServerHTTP(url, max_message_bytes=2_000_000, connect_timeout=START, max_result_chars=None) as server:
            tracemalloc.start()
            try:
                started = time.monotonic()
                with pytest.raises(MCPToolError) as caught:
                    await server.call_tool("huge", {"chars": 50_000_000})
                elapsed = time.monotonic() - started
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert str(caught.value) == (
                f"MCP server '{url}' answered with an error: the MCP server sent a message of more than "
                "max_message_bytes=2,000,000 bytes; it was not read (its answer is too large)"
            )
            assert peak < 12_000_000, (json_response, peak)  # the answer is 50 MB
            assert elapsed < 30
            assert await server.call_tool("echo", {"text": "still here"}) == "still here"  # the connection goes on
            assert len(await server.call_tool("huge", {"chars": 1_500_000})) == 1_500_000  # SSE: over the SDK's 1 MiB
    async with MCPServerHTTP(url) as server:  # the default limit, 32 MB, against 100 MB (an event stream)
        with pytest.raises(MCPToolError, match=r"more than max_message_bytes=32,000,000 bytes; it was not read"):
            await server.call_tool("huge", {"chars": 100_000_000})


async def test_an_mcp_image_reaches_the_model_as_an_image(loopback: Any) -> None:
    """The demo server's PNG goes out as an image part: after the tool result in a user message for
    OpenAI chat, in the tool message for Mistral (both bodies valid for the provider's spec)."""
    import base64

    from agentkit.models import Mistral, OpenAI
    from tests.support.server import Reply, call, chat_completion

    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    for cls, name, spec in ((OpenAI, "gpt-4o", "openai"), (Mistral, "mistral-large-2512", "mistral")):
        replies = [
            Reply(body=chat_completion(tool_calls=[call("image", {}, id="abcdef123")])),
            Reply(body=chat_completion("A dot.")),
        ]
        server = loopback(replies, spec=spec)
        async with Agent(cls(name, api_key="sk-test", base_url=server.url + "/v1"), tools=[demo_stdio()]) as agent:
            assert (await agent.run("Show me.")).output == "A dot."
        _, second = server.bodies("/chat/completions")
        if cls is OpenAI:
            assert second["messages"][2]["content"] == "(see the attached image)"
            assert second["messages"][3]["content"][1] == {"type": "image_url", "image_url": {"url": url}}
        else:
            assert second["messages"][2]["content"] == [{"type": "image_url", "image_url": url}]
