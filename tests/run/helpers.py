"""Shared pieces of the run-loop tests: a model for a loopback server, SSE replies, and tools."""

from __future__ import annotations

import json
from typing import Any

from agentkit import tool
from agentkit.models import OpenAICompatible
from tests.support.server import LoopbackServer, Reply, call, chat_completion
from tests.support.sse import chunk, sse, text_stream

__all__ = ["model_for", "answer", "calls", "sse_reply", "sse_text", "sse_calls", "get_weather", "delete_file", "chat_bodies"]


def model_for(server: LoopbackServer) -> OpenAICompatible:
    return OpenAICompatible("loopback-model", base_url=server.url + "/v1", api_key="sk-run-secret")


def answer(text: str) -> Reply:
    """A plain (non-streamed) text answer."""
    return Reply(body=chat_completion(text))


def calls(*specs: tuple[str, Any, str]) -> Reply:
    """A plain answer with tool calls: ``calls(("name", {args}, "id"), ...)``."""
    return Reply(body=chat_completion(None, [call(name, args, id) for name, args, id in specs]))


def sse_reply(chunks: list[dict[str, Any]]) -> Reply:
    return Reply(chunks=[sse(chunks)], content_type="text/event-stream")


def sse_text(*pieces: str) -> Reply:
    return sse_reply(text_stream(*pieces))


def sse_calls(*specs: tuple[str, Any, str]) -> Reply:
    """A streamed answer with several tool calls (each call's arguments in one fragment)."""
    chunks = [chunk({"role": "assistant", "content": None})]
    for index, (name, args, id) in enumerate(specs):
        text = args if isinstance(args, str) else json.dumps(args)
        head = {"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append(chunk({"tool_calls": [head]}))
        chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": text}}]}))
    chunks.append(chunk({}, finish_reason="tool_calls"))
    chunks.append(chunk(None, usage={"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}))
    return sse_reply(chunks)


def chat_bodies(server: LoopbackServer) -> list[Any]:
    return server.bodies("/chat/completions")


@tool
def get_weather(city: str) -> str:
    """Get the weather.

    Args:
        city: City name.
    """
    return f"Sunny in {city}"


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file (needs approval).

    Args:
        path: The file to delete.
    """
    return f"deleted {path}"
