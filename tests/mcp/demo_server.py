"""A small MCP server for the tests, built with the MCP SDK's own server API.

Run over stdio: ``python demo_server.py``; the tests serve ``build().streamable_http_app()`` over
HTTP in a thread, or run ``python demo_server.py --http PORT_FILE [--json]`` (HTTP on 127.0.0.1 in a
process of its own; ``--json``: JSON answers rather than event streams). Works with mcp 2.x
(``MCPServer``) and 1.x (``FastMCP``). No ``from __future__ import annotations``: mcp 1.9 cannot
read string annotations.
"""

import asyncio
import base64
import os
from typing import Any

from pydantic import BaseModel

try:
    from mcp.server.mcpserver import Image, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.shared.exceptions import MCPError

    def invalid_params(message: str) -> Exception:
        return MCPError(code=-32602, message=message)

except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as MCPServer  # type: ignore[no-redef]
    from mcp.server.fastmcp import Image  # type: ignore[no-redef]
    from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef]
    from mcp.shared.exceptions import McpError  # type: ignore[attr-defined]
    from mcp.types import ErrorData

    def invalid_params(message: str) -> Exception:
        return McpError(ErrorData(code=-32602, message=message))  # type: ignore[no-any-return]


from mcp.types import AudioContent, EmbeddedResource, TextContent, TextResourceContents

try:
    from mcp.types import ResourceLink
except ImportError:  # mcp < 1.10
    ResourceLink = None  # type: ignore[assignment,misc]

# a 1x1 transparent PNG (67 bytes)
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
LONG_NAME = "a_tool_with_a_name_that_is_much_longer_than_the_sixty_four_characters_openai_allows"


class Sum(BaseModel):
    sum: int
    numbers: list[int]


def build() -> Any:
    server = MCPServer("demo", log_level="CRITICAL")  # the crash of `boom` is expected: no traceback

    def unstructured() -> Any:
        try:
            return server.tool(structured_output=False)
        except TypeError:  # mcp < 1.10: no structured output at all
            return server.tool()

    @server.tool()
    def echo(text: str, times: int = 1) -> str:
        """Repeat a text.

        Args:
            text: what to say.
            times: how many times.
        """
        return " ".join([text] * times)

    @server.tool()
    def add(numbers: list[int]) -> Sum:
        """Add numbers (structured output)."""
        return Sum(sum=sum(numbers), numbers=numbers)

    @unstructured()
    def pid() -> str:
        """The server's process id."""
        return str(os.getpid())

    @server.tool()
    def image() -> Image:
        """A tiny PNG."""
        return Image(data=PNG, format="png")

    @unstructured()
    def mixed() -> list[Any]:
        """Text, audio, an embedded text resource and a link."""
        link = (
            ResourceLink(type="resource_link", uri="file:///data.csv", name="data.csv", mimeType="text/csv")
            if ResourceLink
            else None
        )
        return [
            TextContent(type="text", text="the report:"),
            AudioContent(type="audio", data=base64.b64encode(b"\0" * 1000).decode(), mimeType="audio/wav"),
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(uri="file:///report.txt", mimeType="text/plain", text="all good"),
            ),
            *([link] if link else []),
        ]

    @server.tool()
    def fail(reason: str) -> str:
        """Fail with a message for the model (an isError result)."""
        raise ToolError(f"cannot do that: {reason}")

    @server.tool()
    def boom() -> str:
        """Crash inside the tool (the server hides the details)."""
        raise ValueError("secret internals")

    @server.tool()
    def reject(value: str) -> str:
        """Reject the arguments with a JSON-RPC 'invalid params' error."""
        raise invalid_params(f"value {value!r} is not acceptable")

    @server.tool()
    def configure(options: dict[str, Any]) -> str:
        """Free-form options: a schema that cannot be strict."""
        return ",".join(sorted(options))

    @server.tool()
    def set_time(time: str) -> str:
        """Set the clock (needs approval)."""
        return f"clock set to {time}"

    @server.tool(name="lookup.user")
    def lookup_user(user: str) -> str:
        """A dotted name, valid for MCP but not for OpenAI."""
        return f"user {user} found"

    @server.tool(name=LONG_NAME)
    def long_name() -> str:
        """A name longer than 64 characters."""
        return "long"

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return "slept"

    @unstructured()
    def huge(chars: int) -> str:
        """A text of ``chars`` characters ("0123456789" over and over)."""
        return ("0123456789" * (chars // 10 + 1))[:chars]

    return server


def http_app(server: Any, *, json_response: bool) -> Any:
    """The server's streamable HTTP app; ``json_response``: answer each request with one JSON body, not SSE."""
    try:
        return server.streamable_http_app(json_response=json_response)
    except TypeError:  # mcp 1.x: a setting
        server.settings.json_response = json_response
        return server.streamable_http_app()


def serve_http(port_file: str, json_response: bool) -> None:
    """Serve over streamable HTTP on 127.0.0.1 (a free port, written to ``port_file`` once listening)."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(100)  # connections wait in the backlog until uvicorn takes over the socket
    with open(port_file + ".tmp", "w") as f:
        f.write(str(sock.getsockname()[1]))
    os.replace(port_file + ".tmp", port_file)
    config = uvicorn.Config(http_app(build(), json_response=json_response), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "--http":  # demo_server.py --http PORT_FILE [--json]
        serve_http(sys.argv[2], json_response="--json" in sys.argv)
        sys.exit(0)
    server = build()

    @server.tool()
    def crash() -> str:
        """Exit the server process at once (only over stdio)."""
        os._exit(3)

    server.run()
