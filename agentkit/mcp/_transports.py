"""The MCP transports: a server run as a subprocess (stdio), and a server reached over streamable HTTP."""

from __future__ import annotations

import inspect
import os
import shlex
import sys
from collections.abc import Collection, Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO

from mcp import StdioServerParameters
from mcp.client import streamable_http as _streamable_http
from mcp.client.stdio import stdio_client

from ..errors import UserError
from ._http_limit import limit_responses
from ._redact import argv_secrets, join_argv, mapping_secrets, redact_argv, redact_url, url_secrets
from ._server import DEFAULT_CALL_TIMEOUT, DEFAULT_MAX_RESULT_CHARS, UNSET, ApprovalSpec, MCPServer, approval_option
from ._stdio import bounded_stdio_client

__all__ = ["MCPServerStdio", "MCPServerHTTP", "DEFAULT_MAX_MESSAGE_BYTES"]

DEFAULT_MAX_MESSAGE_BYTES = 32_000_000
"""The largest message read from a server (stdio or HTTP) unless told otherwise (``max_message_bytes=None``: no limit)."""


def _check_max_message_bytes(value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise UserError(f"max_message_bytes must be a positive number of bytes or None, not {value!r}.")


class MCPServerStdio(MCPServer):
    """An MCP server run as a subprocess, spoken to over its stdin and stdout.

    >>> server = MCPServerStdio("uvx", ["mcp-server-time"], prefix="time")
    >>> agent = Agent("openai:gpt-4o-mini", tools=[server])

    Args:
        command: the program to run.
        args: its arguments.
        env: environment variables for the server. As in the MCP SDK, the server does not inherit
            the whole environment: only a safe default set (``HOME``, ``PATH``, ...) plus ``env``.
        cwd: its working directory.
        errlog: where the server's stderr goes (default: ``sys.stderr`` at connection time).
        max_message_bytes: the largest message read from the server (default 32,000,000 bytes). A
            larger one is skipped as it arrives, and the call it answers fails with an error that
            says so. ``None``: no limit (the SDK's own transport reads each message whole). On
            Windows the SDK's transport is used, without this limit.

    The other options (``name``, ``prefix``, ``strict``, ``requires_approval``, ``allowed_tools``,
    ``retries``, ``connect_timeout``, ``call_timeout``, ``max_result_chars``) are :class:`MCPServer`'s.
    The default name is the command line with secrets hidden (``server --token ***``).

    The process is stopped (stdin closed, then terminated, then killed) when the server disconnects.
    """

    def __init__(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        errlog: TextIO | None = None,
        max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES,
        name: str | None = None,
        prefix: str | None = None,
        strict: bool | None = None,
        requires_approval: ApprovalSpec = False,
        allowed_tools: Collection[str] | None = None,
        retries: int | None = None,
        connect_timeout: float = 30.0,
        call_timeout: float | None = DEFAULT_CALL_TIMEOUT,
        max_result_chars: int | None = DEFAULT_MAX_RESULT_CHARS,
        require_approval: ApprovalSpec = UNSET,
    ) -> None:
        requires_approval = approval_option(requires_approval, require_approval)
        if not isinstance(command, str) or not command:
            raise UserError(f"command must be a non-empty string, not {command!r}.")
        if isinstance(args, str) or not all(isinstance(a, str) for a in args):  # (not shown: it may hold a token)
            raise UserError(f"args must be a list of strings, not {type(args).__name__}.")
        if env is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise UserError("env must map strings to strings.")
        _check_max_message_bytes(max_message_bytes)
        self.command = command
        self.args = list(args)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.errlog = errlog
        self.max_message_bytes = max_message_bytes
        super().__init__(
            name=name,
            prefix=prefix,
            strict=strict,
            requires_approval=requires_approval,
            allowed_tools=allowed_tools,
            retries=retries,
            connect_timeout=connect_timeout,
            call_timeout=call_timeout,
            max_result_chars=max_result_chars,
        )

    def _default_name(self) -> str:
        text = join_argv([Path(self.command).name, *redact_argv(self.args)])
        return text if len(text) <= 60 else text[:57] + "..."

    def _redactions(self) -> tuple[list[str], list[tuple[str, str]]]:
        urls = [(a, redact_url(a, keep_query_keys=True)) for a in self.args if "://" in a]
        full = (shlex.join([self.command, *self.args]), join_argv([self.command, *redact_argv(self.args)]))
        return [*argv_secrets(self.args), *mapping_secrets(self.env)], [full, *urls]

    async def _open(self, stack: AsyncExitStack) -> tuple[Any, Any]:
        errlog = self.errlog or sys.stderr
        if self.max_message_bytes is not None and os.name == "posix":
            bounded = bounded_stdio_client(
                self.command, self.args, env=self.env, cwd=self.cwd, errlog=errlog, max_message_bytes=self.max_message_bytes
            )
            return await stack.enter_async_context(bounded)
        cwd = None if self.cwd is None else Path(self.cwd)
        params = StdioServerParameters(command=self.command, args=self.args, env=self.env, cwd=cwd)
        streams = await stack.enter_async_context(stdio_client(params, errlog=errlog))
        return streams[0], streams[1]

    def _open_failed(self, error: Exception) -> str:
        if isinstance(error, OSError):
            return f"Could not start MCP server {self.name!r} ({self.command!r}): {error}"
        return super()._open_failed(error)

    def __repr__(self) -> str:  # env values may be secrets: only their names; secrets in args hidden
        env = f", env={sorted(self.env)}" if self.env else ""
        prefix = f", prefix={self.prefix!r}" if self.prefix else ""
        return f"MCPServerStdio({join_argv([self.command, *redact_argv(self.args)])!r}{env}{prefix})"


class MCPServerHTTP(MCPServer):
    """An MCP server reached over streamable HTTP.

    >>> server = MCPServerHTTP("http://127.0.0.1:8000/mcp", headers={"Authorization": "Bearer ..."})

    Args:
        url: the server's MCP endpoint.
        headers: sent with every request (e.g. authentication).
        max_message_bytes: the largest message read from the server (default 32,000,000 bytes): a
            JSON answer, or one event of an event stream. Reading stops past it (the rest is never
            read) and the call it answers fails with an error that says so. ``None``: no limit
            (the SDK reads a JSON answer whole, and events without a limit of its own).

    The other options (``name``, ``prefix``, ``strict``, ``requires_approval``, ``allowed_tools``,
    ``retries``, ``connect_timeout``, ``call_timeout``, ``max_result_chars``) are :class:`MCPServer`'s.
    The default name is the URL without credentials, query and key-like path segments.
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES,
        name: str | None = None,
        prefix: str | None = None,
        strict: bool | None = None,
        requires_approval: ApprovalSpec = False,
        allowed_tools: Collection[str] | None = None,
        retries: int | None = None,
        connect_timeout: float = 30.0,
        call_timeout: float | None = DEFAULT_CALL_TIMEOUT,
        max_result_chars: int | None = DEFAULT_MAX_RESULT_CHARS,
        require_approval: ApprovalSpec = UNSET,
    ) -> None:
        requires_approval = approval_option(requires_approval, require_approval)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):  # (not shown: it may hold a token)
            scheme = url.partition("://")[0][:20] if isinstance(url, str) and "://" in url else "no scheme"
            raise UserError(f"url must be an http:// or https:// URL, not one with {scheme!r}.")
        if headers is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise UserError("headers must map strings to strings.")
        _check_max_message_bytes(max_message_bytes)
        self.url = url
        self.headers = dict(headers) if headers is not None else None
        self.max_message_bytes = max_message_bytes
        super().__init__(
            name=name,
            prefix=prefix,
            strict=strict,
            requires_approval=requires_approval,
            allowed_tools=allowed_tools,
            retries=retries,
            connect_timeout=connect_timeout,
            call_timeout=call_timeout,
            max_result_chars=max_result_chars,
        )

    def _default_name(self) -> str:
        return redact_url(self.url)

    def _redactions(self) -> tuple[list[str], list[tuple[str, str]]]:
        return [*url_secrets(self.url), *mapping_secrets(self.headers)], [(self.url, redact_url(self.url, keep_query_keys=True))]

    async def _open(self, stack: AsyncExitStack) -> tuple[Any, Any]:
        from mcp.shared._httpx_utils import create_mcp_http_client

        limit = self.max_message_bytes

        def make_client(headers: Any = None, timeout: Any = None, auth: Any = None) -> Any:
            client = create_mcp_http_client(headers=headers, timeout=timeout, auth=auth)
            return client if limit is None else limit_responses(client, limit)

        new_client = getattr(_streamable_http, "streamable_http_client", None)
        if new_client is None:  # mcp < 1.24: the old function takes the headers and a client factory
            old_client = getattr(_streamable_http, "streamablehttp_client")  # noqa: B009
            factory = {"httpx_client_factory": make_client} if _accepts(old_client, "httpx_client_factory") else {}
            streams = await stack.enter_async_context(old_client(self.url, headers=self.headers, **factory))
        else:
            http = await stack.enter_async_context(make_client(headers=self.headers))
            # the SDK's own limit on one event (1 MiB by default): the same as ours
            events = {"max_sse_event_size": limit} if _accepts(new_client, "max_sse_event_size") else {}
            streams = await stack.enter_async_context(new_client(self.url, http_client=http, **events))
        return streams[0], streams[1]

    def __repr__(self) -> str:  # header values may be secrets: only their names; the URL's secrets hidden
        headers = f", headers={sorted(self.headers)}" if self.headers else ""
        prefix = f", prefix={self.prefix!r}" if self.prefix else ""
        return f"MCPServerHTTP({redact_url(self.url, keep_query_keys=True)!r}{headers}{prefix})"


def _accepts(function: Any, parameter: str) -> bool:
    """Whether ``function`` (an SDK function; its signature differs between versions) takes ``parameter``."""
    try:
        return parameter in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
