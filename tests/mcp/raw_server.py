"""A bare MCP server over stdio, written by hand: it answers as the TypeScript SDK orders its fields
(``{"result": ..., "jsonrpc": "2.0", "id": ...}``, the id last), and can send lines of any size fast.

Tools: ``big(bytes)`` answers with a text of that many bytes, after a notification just as big;
``small()`` answers "small".
"""

import json
import sys

TOOLS = [
    {"name": "big", "inputSchema": {"type": "object", "properties": {"bytes": {"type": "integer"}}, "required": ["bytes"]}},
    {"name": "small", "inputSchema": {"type": "object", "properties": {}}},
]


def send(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def padded(prefix: str, size: int, suffix: str) -> None:
    """One line of about ``size`` bytes, written in pieces."""
    sys.stdout.write(prefix)
    chunk = "x" * 1_000_000
    for _ in range(size // len(chunk)):
        sys.stdout.write(chunk)
    sys.stdout.write("x" * (size % len(chunk)) + suffix + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    request = json.loads(line)
    method, rid = request.get("method"), request.get("id")
    if rid is None:
        continue  # a notification
    if method == "initialize":
        version = request["params"]["protocolVersion"]
        info = {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": {"name": "raw", "version": "1"}}
        send(json.dumps({"result": info, "jsonrpc": "2.0", "id": rid}))
    elif method == "tools/list":
        send(json.dumps({"result": {"tools": TOOLS}, "jsonrpc": "2.0", "id": rid}))
    elif method == "tools/call" and request["params"]["name"] == "big":
        size = request["params"]["arguments"]["bytes"]
        padded('{"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "', size, '"}}')
        padded('{"result": {"content": [{"type": "text", "text": "', size, f'"}}]}}, "jsonrpc": "2.0", "id": {json.dumps(rid)}}}')
    elif method == "tools/call":
        send(json.dumps({"result": {"content": [{"type": "text", "text": "small"}]}, "jsonrpc": "2.0", "id": rid}))
    else:
        send(json.dumps({"error": {"code": -32601, "message": f"no method {method}"}, "jsonrpc": "2.0", "id": rid}))
