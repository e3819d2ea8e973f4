"""Build chat-completions SSE streams for tests."""

from __future__ import annotations

import json
from typing import Any


def chunk(
    delta: dict[str, Any] | None = None, finish_reason: str | None = None, usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` (``delta=None`` gives the trailing ``choices: []`` usage chunk)."""
    body: dict[str, Any] = {"id": "chatcmpl-sse", "object": "chat.completion.chunk", "created": 1, "model": "loopback-model"}
    body["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    if usage is not None:
        body["usage"] = usage
    return body


def sse(chunks: list[dict[str, Any]], *, done: bool = True) -> bytes:
    """The SSE bytes for ``chunks``, ending with ``data: [DONE]`` unless ``done=False``."""
    out = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return out + (b"data: [DONE]\n\n" if done else b"")


def text_stream(*pieces: str, usage: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Chunks streaming ``pieces`` of text, then a stop, then a usage chunk."""
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": p}) for p in pieces]
    chunks.append(chunk({}, finish_reason="stop"))
    chunks.append(
        chunk(None, usage=usage or {"prompt_tokens": 10, "completion_tokens": len(pieces), "total_tokens": 10 + len(pieces)})
    )
    return chunks


def tool_call_stream(name: str, arguments: str, call_id: str = "call_1", *, pieces: int = 3) -> list[dict[str, Any]]:
    """Chunks streaming one OpenAI-style tool call, its arguments in ``pieces`` fragments."""
    size = max(1, -(-len(arguments) // pieces))
    chunks = [chunk({"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]})]  # fmt: skip
    for i in range(0, len(arguments), size):
        chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[i : i + size]}}]}))
    chunks.append(chunk({}, finish_reason="tool_calls"))
    chunks.append(chunk(None, usage={"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}))
    return chunks
