"""``agentkit tools``: the tool schemas a module produces, as a provider receives them, and their problems."""

from __future__ import annotations
import __future__

import ast
import asyncio
import importlib.util
import json
import re
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from rich.console import Console
from rich.text import Text

from ..errors import ToolDefinitionError
from ..messages import UserMessage
from ..models.base import ModelRequest
from ..models.openai_chat import OpenAIChatModel
from ..tools import Tool, Toolset
from ._common import CLIError, _looks_like_path, _module_name, _on_sys_path, collect_tools, load_module_or_file

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


def load_tools(target: str) -> tuple[list[Tool[Any, Any] | Toolset], list[Problem]]:
    """The tools of ``target`` (a module or file), and the tools it failed to define.

    A tool that cannot be defined raises when its module is imported, which would hide every tool
    after it. So when the import fails that way, the file runs again one top-level statement at a
    time: each statement that raises :class:`~agentkit.errors.ToolDefinitionError` is one error, a
    statement that only fails because it uses a name whose definition failed is skipped, and the
    tools defined by the rest are checked as usual.
    """
    try:
        return collect_tools(load_module_or_file(target)), []
    except ToolDefinitionError:
        pass
    path = _source_of(target)
    problems: list[Problem] = []
    module = _run_statements(path, target, problems)
    return collect_tools(module), problems


def _source_of(target: str) -> Path:
    if _looks_like_path(target):
        return Path(target).resolve()
    with _on_sys_path(Path.cwd()):
        spec = importlib.util.find_spec(target)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise CLIError(f"Cannot read the source of {target} to list every tool that failed.")
    return Path(spec.origin)


def _run_statements(path: Path, target: str, problems: list[Problem]) -> ModuleType:
    """Run ``path``'s top-level statements one by one as a module, recording each tool that cannot be defined."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, str(path))
    future = _future_flags(tree)
    name = _module_name(path)
    module = ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # pydantic and dataclasses look types up through the module
    failed: set[str] = set()
    with _on_sys_path(path.parent):
        for statement in tree.body:
            code = compile(ast.Module(body=[statement], type_ignores=[]), str(path), "exec", flags=future, dont_inherit=True)
            try:
                exec(code, module.__dict__)
            except ToolDefinitionError as e:
                defined = _names_defined(statement)
                failed.update(defined)
                line = min([statement.lineno, *(d.lineno for d in getattr(statement, "decorator_list", ()))])
                problems.append(Problem("error", defined[0] if defined else f"line {line}", f"{e} (line {line})"))
            except NameError as e:
                if e.name not in failed:  # a failure of its own, not a consequence of a tool that failed
                    raise CLIError(f"Importing {target} failed: NameError: {e} (line {statement.lineno})") from e
                failed.update(_names_defined(statement))
            except Exception as e:
                raise CLIError(f"Importing {target} failed: {type(e).__name__}: {e} (--debug shows the traceback)") from e
    return module


def _future_flags(tree: ast.Module) -> int:
    flags = 0
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            for alias in statement.names:
                feature = getattr(__future__, alias.name, None)
                flags |= getattr(feature, "compiler_flag", 0)
    return flags


def _names_defined(statement: ast.stmt) -> list[str]:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
        targets = [statement.target]
    return [node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)]


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
    problems: list[Problem] = []
    if target is not None:
        items, problems = load_tools(target)  # problems: the tools that could not be defined
        if not items and not problems:
            raise CLIError(f"No tools in {target}: define tools with @tool (from agentkit) at module level.")
    if mcp_config is not None:
        from ._chat import load_mcp

        items.extend(item for item in load_mcp(mcp_config) if isinstance(item, (Tool, Toolset)))
    plain = [i for i in items if isinstance(i, Tool)]
    tools = asyncio.run(_connected_tools(items)) if len(plain) < len(items) else plain
    shown: list[Tool[Any, Any]] = []
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
