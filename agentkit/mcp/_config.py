"""``load_mcp_config``: MCP servers from the ``{"mcpServers": {...}}`` JSON that Claude Desktop, Cursor and others use."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ..errors import UserError
from ._server import DEFAULT_CALL_TIMEOUT, DEFAULT_MAX_RESULT_CHARS, UNSET, MCPServer, approval_option
from ._transports import DEFAULT_MAX_MESSAGE_BYTES, MCPServerHTTP, MCPServerStdio

__all__ = ["MCPConfigError", "load_mcp_config"]

_STDIO_TYPES = frozenset({"stdio"})
_HTTP_TYPES = frozenset({"http", "streamable-http", "streamable_http", "streamableHttp"})
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class MCPConfigError(UserError):
    """An MCP config file or dict is malformed; the message names the server and the key."""


def load_mcp_config(
    config: str | os.PathLike[str] | Mapping[str, Any],
    *,
    prefix: bool = True,
    strict: bool | None = None,
    requires_approval: bool = False,
    connect_timeout: float = 30.0,
    call_timeout: float | None = DEFAULT_CALL_TIMEOUT,
    max_result_chars: int | None = DEFAULT_MAX_RESULT_CHARS,
    max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES,
    require_approval: bool = UNSET,
) -> list[MCPServer]:
    """The servers of an MCP config: a path to a JSON file, or the parsed dict.

    The format is the common one::

        {"mcpServers": {
            "time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"TZ": "UTC"}},
            "docs": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}}
        }}

    An entry with ``command`` (and optional ``args``, ``env``, ``cwd``) is run over stdio; one with
    ``url`` (and optional ``headers``) is reached over streamable HTTP. ``type``/``transport``
    may say which (``"stdio"``, ``"http"``, ``"streamable-http"``; ``"sse"`` is not supported).
    ``"servers"`` is accepted for ``"mcpServers"`` (VS Code's spelling), entries with
    ``"disabled": true`` are skipped, other keys (other clients' settings) are ignored.
    ``${VAR}`` and ``${VAR:-default}`` in the command, args, env, cwd, url and headers are
    replaced from the environment.

    Each server is named after its key. With ``prefix=True`` (the default) the key is also the
    prefix of its tool names (``time_get_current_time``): the servers of one config then never
    clash, and the model sees where each tool comes from. ``strict``, ``requires_approval``,
    ``max_result_chars``, ``max_message_bytes`` and the timeouts apply to every server; set a server's attributes (e.g.
    ``server.requires_approval = {"set_time"}``) to change one before connecting.
    ``require_approval``, the old spelling of ``requires_approval``, still works but is deprecated.

    Raises :class:`MCPConfigError` for a malformed config (naming the server and the key).
    """
    requires_approval = cast(bool, approval_option(requires_approval, require_approval))
    source = "MCP config"
    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        source = f"MCP config {str(path)!r}"
        text = path.read_text(encoding="utf-8")
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as e:
            raise MCPConfigError(f"{source} is not valid JSON: {e}") from None
    else:
        data = config
    if not isinstance(data, Mapping):
        raise MCPConfigError(f'{source} must be a JSON object like {{"mcpServers": {{...}}}}, not {type(data).__name__}.')
    key = "mcpServers" if "mcpServers" in data else "servers" if "servers" in data else None
    if key is None:
        raise MCPConfigError(f'{source} has no "mcpServers" object (expected {{"mcpServers": {{name: {{...}}}}}}).')
    entries = data[key]
    if not isinstance(entries, Mapping):
        raise MCPConfigError(f'{source}: "{key}" must be an object mapping server names to their settings.')
    servers: list[MCPServer] = []
    for name, entry in entries.items():
        where = f"{source}, server {name!r}"
        if not isinstance(name, str) or not name.strip():
            raise MCPConfigError(f"{source}: server names must be non-empty strings, not {name!r}.")
        if not isinstance(entry, Mapping):
            raise MCPConfigError(f"{where}: the entry must be an object, not {type(entry).__name__}.")
        disabled = entry.get("disabled", False)
        if not isinstance(disabled, bool):
            raise MCPConfigError(f'{where}: "disabled" must be true or false, not {disabled!r}.')
        if disabled:
            continue
        options: dict[str, Any] = {
            "name": name,
            "prefix": name if prefix else None,
            "strict": strict,
            "requires_approval": requires_approval,
            "connect_timeout": connect_timeout,
            "call_timeout": call_timeout,
            "max_result_chars": max_result_chars,
        }
        servers.append(_server(entry, where, options, max_message_bytes))
    return servers


def _server(entry: Mapping[str, Any], where: str, options: dict[str, Any], max_message_bytes: int | None) -> MCPServer:
    options = {**options, "max_message_bytes": max_message_bytes}
    if _transport(entry, where) == "stdio":
        return _stdio_server(entry, where, options)
    return _http_server(entry, where, options)


def _transport(entry: Mapping[str, Any], where: str) -> str:
    """``"stdio"`` or ``"http"``: what the entry's keys (and its ``type``, when given) say, if they agree."""
    kind = _declared_type(entry, where)
    has_command, has_url = "command" in entry, "url" in entry
    if has_command and has_url:
        raise MCPConfigError(f'{where}: give either "command" (stdio) or "url" (HTTP), not both.')
    if not has_command and not has_url:
        raise MCPConfigError(f'{where}: needs "command" (a server run over stdio) or "url" (a server reached over HTTP).')
    if kind in _HTTP_TYPES and has_command:
        raise MCPConfigError(f'{where}: "type" is {kind!r} but the entry has a "command" instead of a "url".')
    if kind in _STDIO_TYPES and has_url:
        raise MCPConfigError(f'{where}: "type" is "stdio" but the entry has a "url" instead of a "command".')
    return "stdio" if has_command else "http"


def _declared_type(entry: Mapping[str, Any], where: str) -> str | None:
    """The entry's ``type`` (or ``transport``), when it names a transport agentkit speaks."""
    kind = entry.get("type", entry.get("transport"))
    if kind is not None and not isinstance(kind, str):
        raise MCPConfigError(f'{where}: "type" must be a string, not {kind!r}.')
    if kind == "sse":
        raise MCPConfigError(f'{where}: the SSE transport is not supported; use the streamable HTTP endpoint ("type": "http").')
    if kind is not None and kind not in _STDIO_TYPES | _HTTP_TYPES:
        allowed = ", ".join(sorted(_STDIO_TYPES | _HTTP_TYPES))
        raise MCPConfigError(f'{where}: unknown "type" {kind!r} (use one of: {allowed}).')
    return kind


def _stdio_server(entry: Mapping[str, Any], where: str, options: dict[str, Any]) -> MCPServer:
    for key in ("url", "headers"):
        if key in entry:
            raise MCPConfigError(f'{where}: "{key}" belongs to HTTP servers; this one has a "command".')
    command = _expand(_string(entry["command"], "command", where), "command", where)
    args = [_expand(a, "args", where) for a in _strings(entry.get("args", []), "args", where)]
    env = {k: _expand(v, f"env.{k}", where) for k, v in _string_map(entry.get("env"), "env", where).items()}
    cwd = entry.get("cwd")
    cwd = None if cwd is None else _expand(_string(cwd, "cwd", where), "cwd", where)
    try:
        return MCPServerStdio(command, args, env=env or None, cwd=cwd, **options)
    except UserError as e:
        raise MCPConfigError(f"{where}: {e}") from None


def _http_server(entry: Mapping[str, Any], where: str, options: dict[str, Any]) -> MCPServer:
    for key in ("command", "args", "env", "cwd"):
        if key in entry:
            raise MCPConfigError(f'{where}: "{key}" belongs to servers run as a command; this one has a "url".')
    url = _expand(_string(entry["url"], "url", where), "url", where)
    headers = {k: _expand(v, f"headers.{k}", where) for k, v in _string_map(entry.get("headers"), "headers", where).items()}
    try:
        return MCPServerHTTP(url, headers or None, **options)
    except UserError as e:
        raise MCPConfigError(f"{where}: {e}") from None


def _string(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        shown = repr(value) if isinstance(value, str) else type(value).__name__  # (a value is not shown: it may hold a token)
        raise MCPConfigError(f'{where}: "{key}" must be a non-empty string, not {shown}.')
    return value


def _strings(value: Any, key: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):  # (not shown: it may hold a token)
        kinds = sorted({type(v).__name__ for v in value}) if isinstance(value, list) else [type(value).__name__]
        raise MCPConfigError(f'{where}: "{key}" must be a list of strings, not of {", ".join(kinds)}.')
    return value


def _string_map(value: Any, key: str, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MCPConfigError(f'{where}: "{key}" must be an object of strings, not {type(value).__name__}.')
    bad = [k for k, v in value.items() if not isinstance(v, str)]
    if bad:
        raise MCPConfigError(f'{where}: "{key}" values must be strings; {", ".join(map(repr, bad))} is not (quote numbers).')
    return dict(value)


def _expand(text: str, key: str, where: str) -> str:
    """``${VAR}`` and ``${VAR:-default}`` replaced from the environment."""

    def replace(match: re.Match[str]) -> str:
        value = os.environ.get(match[1])
        if value is None:
            if match[2] is None:
                raise MCPConfigError(f'{where}: "{key}" uses ${{{match[1]}}}, which is not set in the environment.')
            return match[2]
        return value

    return _VAR.sub(replace, text)
