"""``agentkit tools``: the tool schemas a module produces, as a provider receives them, and their problems."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.text import Text

from ..errors import ToolDefinitionError
from ..messages import UserMessage
from ..models.base import ModelRequest
from ..models.openai_chat import OpenAIChatModel
from ..tools import Tool, Toolset
from ._common import CLIError, collect_tools, load_module_or_file

__all__ = ["Problem", "check_tools", "tool_problems", "wire_tools"]

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_STARTS_WELL = re.compile(r"^[a-zA-Z_]")


@dataclass(frozen=True)
class Problem:
    """One thing to fix in a tool: ``error`` (a provider rejects it) or ``warning`` (the model is told less)."""

    level: Literal["error", "warning"]
    tool: str
    message: str


def provider_model(provider: str) -> OpenAIChatModel:
    """A model of ``provider``'s class with a placeholder key, to build request bodies (nothing is sent)."""
    from ..models.providers import Mistral, OpenAI, OpenAICompatible, OpenRouter

    if provider == "openai":
        return OpenAI("gpt-4o-mini", api_key="unused")
    if provider == "openrouter":
        return OpenRouter("x/y", api_key="unused")
    if provider == "mistral":
        return Mistral("mistral-small-latest", api_key="unused")
    if provider == "openai-compatible":
        return OpenAICompatible("local", base_url="http://127.0.0.1:8000/v1", api_key="unused")
    raise CLIError(f"Unknown provider {provider!r}: use openai, openrouter, mistral or openai-compatible.")


def strict_variant(t: Tool[Any, Any]) -> Tool[Any, Any]:
    """``t`` rebuilt with ``strict=True`` (raises :class:`~agentkit.errors.ToolDefinitionError` when it cannot be)."""
    if t.strict:
        return t
    if t._json_validator is not None:  # a JSON-schema tool (Tool.from_schema, e.g. MCP)
        return Tool.from_schema(t.name, t.description, t._schema, t.function, strict=True)
    return Tool(t.function, name=t.name, description=t.description, strict=True)


def tool_problems(t: Tool[Any, Any], providers: Sequence[str], strict: bool) -> tuple[Tool[Any, Any], list[Problem]]:
    """The tool to show (its strict form with ``strict`` when possible) and its problems."""
    problems: list[Problem] = []
    shown = t
    if not t.description.strip():
        problems.append(Problem("warning", t.name, "no description (give the function a docstring)"))
    properties = t.definition.parameters.get("properties", {})
    for param, schema in properties.items():
        if not (isinstance(schema, dict) and str(schema.get("description", "")).strip()):
            problems.append(
                Problem("warning", t.name, f"parameter {param!r} has no description (describe it under Args: in the docstring)")
            )
    try:
        strict_form = strict_variant(t)
        if strict:
            shown = strict_form
    except ToolDefinitionError as e:
        reason = str(e).split("cannot be strict: ", 1)[-1]
        problems.append(Problem("error" if strict else "warning", t.name, f"cannot be strict: {reason}"))
    bad = [p for p in providers if not _NAME.fullmatch(t.name)]
    if bad:
        problems.append(
            Problem("error", t.name, f"the name is not valid for {', '.join(bad)}: use 1-64 letters, digits, '_' or '-'")
        )
    elif "openrouter" in providers and not _STARTS_WELL.match(t.name):
        problems.append(
            Problem("warning", t.name, "Google models (through OpenRouter) reject names that do not start with a letter or '_'")
        )
    return shown, problems


def wire_tools(tools: Sequence[Tool[Any, Any]], provider: str) -> list[dict[str, Any]]:
    """The ``tools`` field of the chat-completions body ``provider``'s model class would send."""
    request = ModelRequest([UserMessage(content="hi")], tuple(t.definition for t in tools))
    wire: list[dict[str, Any]] = provider_model(provider).build_body(request)["tools"]
    return wire


async def _connected_tools(items: Sequence[Tool[Any, Any] | Toolset]) -> list[Tool[Any, Any]]:
    found: list[Tool[Any, Any]] = []
    async with AsyncExitStack() as stack:
        for item in items:
            if isinstance(item, Tool):
                found.append(item)
            else:
                await stack.enter_async_context(item)
                found.extend(item.get_tools())
    return found


def check_tools(target: str | None, mcp_config: str | None, providers: Sequence[str], strict: bool, console: Console) -> int:
    """Print the schemas of the tools of ``target`` (a module or file) and of the MCP servers in
    ``mcp_config`` for each provider, then their problems; return the number of errors."""
    items: list[Tool[Any, Any] | Toolset] = []
    if target is not None:
        items = collect_tools(load_module_or_file(target))
        if not items:
            raise CLIError(f"No tools in {target}: define tools with @tool (from agentkit) at module level.")
    if mcp_config is not None:
        from ._chat import load_mcp

        items.extend(item for item in load_mcp(mcp_config) if isinstance(item, (Tool, Toolset)))
    plain = [i for i in items if isinstance(i, Tool)]
    tools = asyncio.run(_connected_tools(items)) if len(plain) < len(items) else plain
    shown: list[Tool[Any, Any]] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for t in tools:
        if t.name in seen:
            problems.append(Problem("error", t.name, "two tools have this name; pass name=... to one of them"))
            continue
        seen.add(t.name)
        variant, found = tool_problems(t, providers, strict)
        shown.append(variant)
        problems.extend(found)

    for provider in providers:
        console.rule(Text(provider, style="bold"))
        console.print_json(json.dumps(wire_tools(shown, provider), ensure_ascii=False))

    errors = sum(p.level == "error" for p in problems)
    warnings = len(problems) - errors
    if problems:
        console.rule(Text("problems", style="bold"))
        width = max(len(p.tool) for p in problems)
        for p in problems:
            line = Text(f"{p.level.upper():<8}", style="bold red" if p.level == "error" else "bold yellow")
            line.append(f"{p.tool:<{width}}  ", style="bold")
            line.append(p.message)
            console.print(line, soft_wrap=True)
    parts = [f"{len(seen)} tool{'s' if len(seen) != 1 else ''}"]
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    if not problems:
        parts.append("no problems")
    style = "red" if errors else "yellow" if warnings else "green"
    console.rule(Text(", ".join(parts), style=style), style=style)
    return errors
