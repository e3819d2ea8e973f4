"""MCP (Model Context Protocol) servers as agent tools, through the official ``mcp`` SDK.

    from agentkit import Agent
    from agentkit.mcp import MCPServerStdio, MCPServerHTTP, load_mcp_config

    time = MCPServerStdio("uvx", ["mcp-server-time"], prefix="time")
    docs = MCPServerHTTP("https://example.com/mcp", headers={"Authorization": "Bearer ..."})
    async with Agent("openai:gpt-4o-mini", tools=[time, docs]) as agent:   # connects; closes at the end
        result = await agent.run("What time is it in Tokyo?")

Each server is a ``Toolset``: the agent connects it before its first run (stdio servers are
started as subprocesses), lists its tools, and closes it in ``await agent.aclose()`` (stdio
servers are stopped). The connection lives in one background task, so an agent may connect in
one task and be closed from another.

How MCP tools behave:

* **Schemas** are passed through (``Tool.from_schema``; arguments are checked with jsonschema
  before the call). With ``strict=None`` (default) a schema is sent strict when it can be made
  strict, as is otherwise; ``strict=True`` insists, ``strict=False`` never tries.
* **Names** that OpenAI would refuse (``^[a-zA-Z0-9_-]{1,64}$``) are made valid (other
  characters → ``_``, a short hash when too long or clashing); ``server.tool_names`` maps them
  back. ``prefix="x"`` gives ``x_<tool>``.
* **Results**: text as text; ``structuredContent`` as compact JSON (unless the text blocks
  say something other than its JSON, e.g. ``"42"`` beside ``{"result": 42}``: then the text);
  images, audio and binary embedded resources as :class:`~agentkit.BinaryContent` parts that
  the model client sends as it sends any tool's images (see ``docs/multimodal.md``; a block that
  is not valid base64 stays a short description, ``[image: image/png, 1234 bytes]``); text
  resources as their text; resource links as their URI. ``server.call_tool()`` itself returns
  text only, with those descriptions.
* **Errors** go to the model as error tool messages, and the run goes on: a result with
  ``isError: true``, a protocol error, a timeout or a lost connection raise
  :class:`MCPToolError` with the server's message (the model sees ``tool 'x' raised
  MCPToolError: <message>``); a JSON-RPC "invalid params" error (unknown tool, arguments the
  server refuses) raises :class:`~agentkit.ModelRetry`, asking the model to correct the call.
  Both count against the tool's retry budget. A lost connection is not re-established until
  the agent is closed and runs again.
* **Limits**: a call may take ``call_timeout`` seconds (300 by default), a result gives the model
  at most ``max_result_chars`` characters (1,000,000; the rest is cut, with a note), and a stdio
  server's message may be ``max_message_bytes`` long (32,000,000; a larger one is skipped as it
  arrives and its call fails). ``None`` turns each off.
* **Secrets** in a command line or URL (``--token ...``, ``API_KEY=...``, ``?key=...``,
  ``user:password@``) never show in a server's default name, ``repr``, errors or logs: ``***``.
* ``requires_approval=True`` or ``{"tool", ...}`` marks tools ``requires_approval``
  (``require_approval``, the old spelling, still works with a ``DeprecationWarning``).

Needs the SDK: ``pip install 'agentkit-loop[mcp]'`` (mcp 1.9 or later; 2.x works too).
``import agentkit`` never imports it.
"""

from __future__ import annotations

try:
    import mcp as _mcp  # noqa: F401
    import mcp.client.stdio as _stdio  # noqa: F401
    import mcp.client.streamable_http as _http  # noqa: F401
except ImportError as _e:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        f"agentkit.mcp needs the MCP Python SDK (mcp>=1.9): install it with  pip install 'agentkit-loop[mcp]'  ({_e})."
    ) from _e

from ._config import MCPConfigError, load_mcp_config
from ._server import MCPServer
from ._tools import MCPConnectionError, MCPToolError, format_result, make_tool_names, result_value
from ._transports import MCPServerHTTP, MCPServerStdio

__all__ = [
    "MCPServer",
    "MCPServerStdio",
    "MCPServerHTTP",
    "load_mcp_config",
    "MCPToolError",
    "MCPConnectionError",
    "MCPConfigError",
    "format_result",
    "result_value",
    "make_tool_names",
]
