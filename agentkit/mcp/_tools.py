"""SDK-free helpers: tool names for the model, MCP tool results as text and parts, and the MCP errors.

Everything here works on plain dicts (``model.model_dump(by_alias=True)``), so it reads the
camelCase wire names and does not depend on which major version of the ``mcp`` SDK built them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic_core

from ..content import BinaryContent, check_media_type
from ..errors import AgentkitError

__all__ = ["MCPConnectionError", "MCPToolError", "make_tool_names", "format_result", "result_value", "INVALID_PARAMS"]

INVALID_PARAMS = -32602
"""JSON-RPC "invalid params": the server says the call itself was wrong (unknown tool, bad arguments)."""

_VALID_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_INVALID_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")


class MCPConnectionError(AgentkitError):
    """Connecting to an MCP server failed: the command could not start, the server did not
    answer the handshake in time, or it closed the connection. The message names the server."""


class MCPToolError(AgentkitError):
    """An MCP tool call failed: the server returned ``isError: true``, answered with a protocol
    error, timed out, or the connection was lost.

    Raised inside the tool, so the agent reports it to the model as an error tool message
    (``tool ... raised MCPToolError: <the server's message>``) and the run goes on.
    """


# --- names --------------------------------------------------------------------------------


def sanitize(text: str) -> str:
    """``text`` with every run of characters outside ``[a-zA-Z0-9_-]`` replaced by ``_``."""
    return _INVALID_CHARS.sub("_", text)


def make_tool_names(mcp_names: Iterable[str], prefix: str | None) -> dict[str, str]:
    """Names for the model, ``{exposed name: MCP name}``, each valid for OpenAI (``^[a-zA-Z0-9_-]{1,64}$``).

    ``prefix`` (sanitized) is joined with ``_``. Invalid characters become ``_``; a name that is
    too long, or that would clash with another after sanitizing, keeps its first characters and
    gets a short hash of the real name. Names that are valid as they are never change, whatever
    the order the server lists them in.
    """
    head = sanitize(prefix) + "_" if prefix else ""
    wanted = [(name, head + name) for name in dict.fromkeys(mcp_names)]
    exposed: dict[str, str] = {}
    # valid names first, so that "a_b" keeps its name even when "a.b" is listed before it
    for name, full in sorted(wanted, key=lambda pair: not _VALID_NAME.fullmatch(pair[1])):
        candidate = sanitize(full)
        if not _VALID_NAME.fullmatch(candidate) or candidate in exposed or not re.search(r"[a-zA-Z0-9]", candidate):
            digest = hashlib.sha1(name.encode()).hexdigest()[:8]
            stem = candidate[:55].rstrip("_") or "tool"
            candidate = f"{stem}_{digest}"
            n = 2
            while candidate in exposed:  # a hash collision within one server: practically never
                candidate = f"{stem}_{digest}{n}"[:64]
                n += 1
        exposed[candidate] = name
    order = {name: i for i, name in enumerate(n for n, _ in wanted)}
    return dict(sorted(exposed.items(), key=lambda item: order[item[1]]))


# --- results ------------------------------------------------------------------------------


def format_result(result: Mapping[str, Any]) -> str:
    """A ``CallToolResult`` (as a camelCase dict) as the text of a tool message.

    Text blocks stay text; images and audio become a short description (MIME type and size)
    instead of base64; embedded resources give their text, or a description when binary;
    resource links their URI; several blocks are joined by newlines. ``structuredContent`` is
    sent as compact JSON when there is no text, or when the text is only its JSON (servers send
    both, by the spec); text that says something else (``"42"`` beside ``{"result": 42}``) wins.

    Raises :class:`MCPToolError` with the text when ``isError`` is true.
    """
    blocks = [b for b in result.get("content") or () if isinstance(b, Mapping)]
    structured = result.get("structuredContent")
    parts = [describe_block(b) for b in blocks]
    if structured is not None and not result.get("isError"):
        texts = [str(b.get("text", "")) for b in blocks if b.get("type") == "text"]
        if not texts or _same_json("\n".join(texts), structured):
            others = [describe_block(b) for b in blocks if b.get("type") != "text"]
            parts = [pydantic_core.to_json(structured).decode(), *others]
    text = "\n".join(p for p in parts if p)
    if result.get("isError"):
        raise MCPToolError(text or "the tool reported an error without a message")
    return text or "(no output)"


def result_value(result: Mapping[str, Any]) -> str | list[Any]:
    """A ``CallToolResult`` as a tool's return value: its text (:func:`format_result`), or, when
    it holds images, audio or binary embedded resources, a list of that text and the bytes as
    :class:`~agentkit.BinaryContent` parts (their base64 kept as the server sent it), which the
    model client sends as it sends any tool's images. A block that is not valid base64 or has no
    media type stays a description.

    Raises :class:`MCPToolError` with the text when ``isError`` is true.
    """
    if result.get("isError"):
        return format_result(result)
    parts: list[Any] = []
    rest: list[Any] = []
    for block in result.get("content") or ():
        part = _binary_part(block) if isinstance(block, Mapping) else None
        (rest if part is None else parts).append(block if part is None else part)
    if not parts:
        return format_result(result)
    text = format_result({**result, "content": rest}) if rest or result.get("structuredContent") is not None else ""
    return [text, *parts] if text else parts


def _binary_part(block: Mapping[str, Any]) -> BinaryContent | None:
    kind = block.get("type")
    if kind in ("image", "audio"):
        data, media_type, filename = block.get("data"), block.get("mimeType"), None
    elif kind == "resource" and isinstance(block.get("resource"), Mapping) and "blob" in block["resource"]:
        resource = block["resource"]
        data, media_type = resource.get("blob"), resource.get("mimeType")
        filename = str(resource.get("uri", "")).rstrip("/").rsplit("/", 1)[-1] or None
    else:
        return None
    if not isinstance(data, str) or not data or not isinstance(media_type, str):
        return None
    try:
        return BinaryContent.model_validate({"data": data, "media_type": check_media_type(media_type), "filename": filename})
    except ValueError:  # not base64, not a media type: described instead
        return None


def _same_json(text: str, value: Any) -> bool:
    try:
        return bool(pydantic_core.from_json(text) == value)
    except ValueError:
        return False


def describe_block(block: Mapping[str, Any]) -> str:
    """One content block as text for the model."""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind in ("image", "audio"):
        return f"[{kind}: {block.get('mimeType') or 'unknown type'}, {_size(block.get('data'))}]"
    if kind == "resource":
        resource = block.get("resource")
        if not isinstance(resource, Mapping):
            return "[resource]"
        if isinstance(resource.get("text"), str):
            return str(resource["text"])
        mime = resource.get("mimeType") or "unknown type"
        return f"[resource {resource.get('uri', '')}: {mime}, {_size(resource.get('blob'))}]"
    if kind == "resource_link":
        label = block.get("title") or block.get("name")
        about = ", ".join(str(block[k]) for k in ("mimeType", "description") if block.get(k))
        text = f"resource link {label} <{block.get('uri', '')}>" if label else f"resource link <{block.get('uri', '')}>"
        return f"[{text}: {about}]" if about else f"[{text}]"
    return f"[{kind or 'unknown'} content]"


def _size(data: Any) -> str:
    """The decoded size of base64 ``data``, without decoding it."""
    if not isinstance(data, str):
        return "size unknown"
    stripped = data.strip()
    n = len(stripped) * 3 // 4 - (len(stripped) - len(stripped.rstrip("=")))
    return f"{max(n, 0)} bytes"
