"""The MCP server base class: an agentkit toolset, one background task per connection, tools built from ``tools/list``.

The transports (stdio, streamable HTTP) are in ``_transports.py``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Coroutine, Mapping
from contextlib import AsyncExitStack
from typing import Any, cast

import anyio
import mcp.types
from mcp import ClientSession
from mcp.shared import exceptions as _sdk_exceptions
from typing_extensions import Self

from ..errors import ModelRetry, ToolDefinitionError, UserError
from ..tools import Tool
from ._http_limit import oversize_message
from ._redact import scrub
from ._tools import INVALID_PARAMS, MCPConnectionError, MCPToolError, format_result, make_tool_names, result_value

__all__ = ["MCPServer", "ApprovalSpec", "DEFAULT_CALL_TIMEOUT", "DEFAULT_MAX_RESULT_CHARS"]

logger = logging.getLogger("agentkit.mcp")

# The SDK's error class is ``McpError`` in mcp 1.x and ``MCPError`` in 2.x; both carry ``.error`` (code, message).
_SDK_ERROR: type[Exception] = getattr(_sdk_exceptions, "MCPError", None) or getattr(_sdk_exceptions, "McpError")  # noqa: B009
_CONNECTION_CLOSED = -32000

DEFAULT_CALL_TIMEOUT = 300.0
"""Seconds one tool call may take unless told otherwise (``call_timeout=None``: no limit)."""
DEFAULT_MAX_RESULT_CHARS = 1_000_000
"""Characters of a tool's result given to the model unless told otherwise (``max_result_chars=None``: all)."""

ApprovalSpec = bool | Collection[str]
"""``True`` (every tool), ``False`` (none), or the names of the tools that need approval."""


class _Unset:
    def __repr__(self) -> str:
        return "(not given)"


UNSET: Any = _Unset()
"""The default of the deprecated ``require_approval`` argument: not given."""


class MCPServer(ABC):
    """An MCP server whose tools an :class:`~agentkit.Agent` can call: an agentkit ``Toolset``.

    Use :class:`MCPServerStdio` or :class:`MCPServerHTTP` (or :func:`load_mcp_config`), and pass
    it in ``Agent(model, tools=[server])``: the agent connects before its first run, lists the
    server's tools, and disconnects in ``await agent.aclose()`` (or at the end of
    ``async with agent:``). A server object may be shared by several agents: it connects when
    the first enters it and disconnects when the last leaves.

    Options (also attributes, read each time the server connects):
        name: what error messages call the server (default: the prefix, else the command line or
            URL with secrets hidden: option values such as ``--token ...``, ``API_KEY=...``, URL
            credentials, query and key-like path segments become ``***``).
        prefix: prepended to each tool name with ``_`` (``prefix="time"`` → ``time_get_current_time``),
            to keep the tools of several servers apart.
        strict: ``None`` (default): each tool's schema is sent strict when it can be made strict,
            as is otherwise; ``True``: strict, and connecting fails with
            :class:`~agentkit.errors.ToolDefinitionError` when a schema cannot be; ``False``: never.
        requires_approval: ``True`` for every tool, or the names of the tools that need approval
            (``Tool.requires_approval``). ``require_approval``, the old spelling, still works but is
            deprecated (a ``DeprecationWarning``).
        allowed_tools: only these tools are given to the agent (default: all).
        retries: each tool's retry budget (default: the agent's ``tool_retries``).
        connect_timeout: seconds to start the server, finish the handshake and list its tools.
        call_timeout: seconds one tool call may take (default 300; ``None``: no limit, a hung
            server then hangs the run).
        max_result_chars: most characters of a tool's result given to the model (default
            1,000,000; ``None``: no limit); a longer result is cut, with a note saying so.

    Tool names in ``requires_approval`` and ``allowed_tools`` may be the server's own names or
    the names the model sees; a name the server does not have fails the connection, so a typo
    cannot silently leave a tool without approval.
    """

    def __init__(
        self,
        *,
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
        if strict not in (None, True, False):
            raise UserError(f"strict must be None, True or False, not {strict!r}.")
        if not isinstance(requires_approval, bool):
            _check_names("requires_approval", requires_approval)
        if allowed_tools is not None:
            _check_names("allowed_tools", allowed_tools)
        if prefix is not None and (not isinstance(prefix, str) or not prefix):
            raise UserError(f"prefix must be a non-empty string or None, not {prefix!r}.")
        if not isinstance(connect_timeout, (int, float)) or connect_timeout <= 0:
            raise UserError(f"connect_timeout must be a positive number of seconds, not {connect_timeout!r}.")
        if call_timeout is not None and (not isinstance(call_timeout, (int, float)) or call_timeout <= 0):
            raise UserError(f"call_timeout must be a positive number of seconds or None, not {call_timeout!r}.")
        if max_result_chars is not None and (not isinstance(max_result_chars, int) or max_result_chars < 1):
            raise UserError(f"max_result_chars must be a positive number of characters or None, not {max_result_chars!r}.")
        self.prefix = prefix
        self.name = name or prefix or self._default_name()
        self.strict = strict
        self.requires_approval: ApprovalSpec = requires_approval
        self.allowed_tools = allowed_tools
        self.retries = retries
        self.connect_timeout = float(connect_timeout)
        self.call_timeout = call_timeout
        self.max_result_chars = max_result_chars
        self.server_info: dict[str, Any] | None = None
        """The server's ``serverInfo`` (name, version, ...) from the handshake, once connected."""
        self.instructions: str | None = None
        """The server's usage instructions from the handshake, if it sent any (e.g. to add to the agent's)."""
        self.skipped_tools: dict[str, str] = {}
        """Tools left out because their input schema is not valid JSON schema: ``{MCP name: reason}``."""
        self._tools: list[Tool[Any, Any]] = []
        self._names: dict[str, str] = {}
        self._session: ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._users = 0

    # -- what the subclasses provide -----------------------------------------------------------
    @abstractmethod
    async def _open(self, stack: AsyncExitStack) -> tuple[Any, Any]:
        """Open the transport on ``stack``; return its (read, write) streams."""

    @abstractmethod
    def _default_name(self) -> str:
        """The server's name in messages when neither ``name`` nor ``prefix`` is given (secrets hidden)."""

    def _redactions(self) -> tuple[list[str], list[tuple[str, str]]]:
        """What to hide from messages: secrets (each becomes ``***``), and ``(raw, shown)`` replacements."""
        return [], []

    def _scrub(self, text: str) -> str:
        """``text`` (an error message, a log line) without the secrets of the command line, URL, env or headers."""
        secrets, replacements = self._redactions()
        return scrub(text, secrets, replacements)

    @property
    def require_approval(self) -> ApprovalSpec:
        """Deprecated: the old name of ``requires_approval``."""
        _warn_old_name(stacklevel=3)
        return self.requires_approval

    @require_approval.setter
    def require_approval(self, value: ApprovalSpec) -> None:
        _warn_old_name(stacklevel=3)
        self.requires_approval = value

    # -- the Toolset protocol ---------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        async with self._get_lock():
            if self._users == 0:
                await self._start()
            self._users += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        async with self._get_lock():
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0:
                await self._stop()

    def get_tools(self) -> list[Tool[Any, Any]]:
        """The server's tools as agentkit tools (empty until connected)."""
        return list(self._tools)

    @property
    def connected(self) -> bool:
        """Whether the server is connected (entered and not yet exited)."""
        return self._session is not None

    @property
    def tool_names(self) -> dict[str, str]:
        """``{name the model sees: the server's own name}`` for the tools given to the agent."""
        return dict(self._names)

    async def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> str:
        """Call the server's tool ``name`` (its own name, not the prefixed one) and return the result as text.

        A result longer than ``max_result_chars`` is cut, with a note saying so. Raises
        :class:`MCPToolError` when the server reports an error (``isError``, a protocol error, a
        lost connection, the ``call_timeout``), and :class:`~agentkit.ModelRetry` when it rejects
        the arguments or the tool name (JSON-RPC "invalid params"); their messages never show the
        secrets of the server's command line, URL, env or headers.
        """
        return self._cut(format_result(await self._result(name, arguments)))

    async def call_tool_value(self, name: str, arguments: Mapping[str, Any] | None = None) -> str | list[Any]:
        """Like :meth:`call_tool`, but images, audio and binary resources in the result come back
        as :class:`~agentkit.BinaryContent` parts after the text (what the agent's tools return,
        so the model sees the images; see ``docs/multimodal.md``)."""
        value = result_value(await self._result(name, arguments))
        return self._cut(value) if isinstance(value, str) else [self._cut(v) if isinstance(v, str) else v for v in value]

    def _cut(self, text: str) -> str:
        limit = self.max_result_chars
        if limit is not None and len(text) > limit:
            return f"{text[:limit]}\n[cut: the result has {len(text):,} characters; only the first {limit:,} are shown.]"
        return text

    async def _result(self, name: str, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        try:
            result = await self._call(name, arguments)
            if result.get("isError"):
                format_result(result)  # raises MCPToolError with the text
            return result
        except MCPToolError as e:
            raise MCPToolError(self._scrub(str(e))) from None
        except ModelRetry as e:
            raise ModelRetry(self._scrub(e.message)) from None

    async def _call(self, name: str, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        session = self._session
        if session is None:
            raise MCPToolError(f"MCP server {self.name!r} is not connected.")
        if asyncio.get_running_loop() is not self._loop:
            raise MCPToolError(f"MCP server {self.name!r} was connected on another event loop; use it from that loop only.")
        try:
            call = session.call_tool(name, dict(arguments or {}))
            result = await (asyncio.wait_for(call, self.call_timeout) if self.call_timeout is not None else call)
        except asyncio.TimeoutError:
            raise MCPToolError(
                f"MCP server {self.name!r} did not answer the call of {name!r} within {self.call_timeout:g} s."
            ) from None
        except _SDK_ERROR as e:
            code, message = _error_parts(e)
            if (oversize := oversize_message(message)) is not None:  # over HTTP wrapped in the SDK's words
                raise MCPToolError(f"MCP server {self.name!r} answered with an error: {oversize}") from None
            if code == INVALID_PARAMS:
                raise ModelRetry(
                    f"MCP server {self.name!r} rejected the call of {name!r}: {message}. "
                    "Call the tool again with corrected arguments."
                ) from None
            if code == _CONNECTION_CLOSED:
                raise MCPToolError(f"The connection to MCP server {self.name!r} was lost ({message}).") from None
            raise MCPToolError(f"MCP server {self.name!r} answered with an error: {message}") from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream) as e:  # mcp 1.x, after a loss
            raise MCPToolError(f"The connection to MCP server {self.name!r} was lost ({describe_error(e)}).") from None
        except Exception as e:  # transport failures, the SDK's own checks (e.g. of structured content)
            raise MCPToolError(f"Calling {name!r} on MCP server {self.name!r} failed: {describe_error(e)}") from None
        return result.model_dump(by_alias=True, mode="json")

    # -- connecting ------------------------------------------------------------------------------
    def _get_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or (self._users == 0 and self._lock_loop is not loop):
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        closing = asyncio.Event()
        task = loop.create_task(self._run(ready, closing), name=f"agentkit MCP connection {self.name!r}")
        task.add_done_callback(self._connection_ended)
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.connect_timeout)
        except asyncio.TimeoutError:
            await _cancel(task)
            raise MCPConnectionError(
                f"MCP server {self.name!r} did not start and answer within connect_timeout={self.connect_timeout:g} s."
            ) from None
        except BaseException:
            await _cancel(task)
            raise
        self._task, self._closing, self._loop = task, closing, loop

    async def _stop(self) -> None:
        task, closing, loop = self._task, self._closing, self._loop
        self._task = self._closing = None
        if task is None or closing is None or loop is None:
            return

        async def stop() -> None:
            closing.set()
            await asyncio.wait({task})  # the errors of closing are logged by _connection_ended

        if loop is asyncio.get_running_loop():
            await stop()
        elif loop.is_running():  # connected on another loop (e.g. by Agent.run_sync): close it there
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(stop(), loop))
        # else: that loop has ended, and cancelled the connection's task (which stopped the server) as it ended

    def _connection_ended(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:  # while connected: the connection broke; else closing it failed
            what = "The connection to MCP server %r broke: %s" if self._task is task else "Closing MCP server %r failed: %s"
            logger.warning(what, self.name, self._scrub(describe_error(error)))

    async def _run(self, ready: asyncio.Future[None], closing: asyncio.Event) -> None:
        """The connection's whole life in one task: the SDK's transports must be opened and closed in the same task."""
        error: BaseException | None = None
        try:
            async with AsyncExitStack() as stack:
                try:
                    read, write = await self._open(stack)
                    session = await stack.enter_async_context(ClientSession(read, write))
                    init = await session.initialize()
                    listed = await _list_tools(session)
                    self._tools, self._names = self._build_tools(listed)
                except Exception as e:  # leave the stack normally, so the server is stopped before we report
                    error = self._connect_error(e)
                else:
                    info = init.model_dump(by_alias=True, mode="json")
                    self.server_info = info.get("serverInfo")
                    self.instructions = info.get("instructions")
                    self._session = session
                    ready.set_result(None)
                    await closing.wait()
        except asyncio.CancelledError:
            ready.cancel()
            raise
        except BaseException as e:  # raised while closing the transport
            if ready.done():
                raise
            if error is None:
                error = self._connect_error(e) if isinstance(e, Exception) else e
        finally:
            self._session = None
            self._tools, self._names = [], {}
            if not ready.done():
                ready.set_exception(error or MCPConnectionError(f"MCP server {self.name!r} closed before connecting."))

    def _connect_error(self, error: Exception) -> BaseException:
        if isinstance(error, UserError):  # ToolDefinitionError from strict=True, unknown names in the options
            return error
        if isinstance(error, _SDK_ERROR):
            code, message = _error_parts(error)
            hint = " (did it exit? look for its error output on stderr)" if code == _CONNECTION_CLOSED else ""
            return MCPConnectionError(self._scrub(f"MCP server {self.name!r} failed during start-up: {message}{hint}"))
        return MCPConnectionError(self._scrub(self._open_failed(error)))

    def _open_failed(self, error: Exception) -> str:
        """What to say when connecting failed with ``error`` (a transport can say more)."""
        return f"Could not connect to MCP server {self.name!r}: {describe_error(error)}"

    # -- tools -----------------------------------------------------------------------------------
    def _build_tools(self, listed: list[dict[str, Any]]) -> tuple[list[Tool[Any, Any]], dict[str, str]]:
        by_name = {t["name"]: t for t in listed if isinstance(t.get("name"), str)}
        names = make_tool_names(by_name, self.prefix)
        known = set(by_name) | set(names)

        def wanted(option: str, value: Collection[str]) -> set[str]:
            unknown = sorted(set(value) - known)
            if unknown:
                raise UserError(
                    f"MCP server {self.name!r} has no tool named {', '.join(map(repr, unknown))} ({option}=...); "
                    f"its tools: {', '.join(by_name) or '(none)'}."
                )
            return {names.get(n, n) for n in value}  # as MCP names

        allowed = wanted("allowed_tools", self.allowed_tools) if self.allowed_tools is not None else None
        approval = self.requires_approval
        if isinstance(approval, bool):
            needs_approval = set(by_name) if approval else set()
        else:
            needs_approval = wanted("requires_approval", approval)
        self.skipped_tools = {}
        tools: list[Tool[Any, Any]] = []
        exposed_names: dict[str, str] = {}
        for exposed, real in names.items():
            if allowed is not None and real not in allowed:
                continue
            spec = by_name[real]
            schema = spec.get("inputSchema")
            schema = schema if isinstance(schema, dict) else {}
            description = inspect.cleandoc(str(spec.get("description") or spec.get("title") or ""))  # docstrings' indent
            built = self._make_tool(exposed, real, description, schema, real in needs_approval)
            if built is not None:
                tools.append(built)
                exposed_names[exposed] = real
        return tools, exposed_names

    def _make_tool(
        self, exposed: str, real: str, description: str, schema: dict[str, Any], approval: bool
    ) -> Tool[Any, Any] | None:
        call = self._caller(real)
        options: dict[str, Any] = {"retries": self.retries, "requires_approval": approval}
        if self.strict is not False:
            try:
                return Tool.from_schema(exposed, description, schema, call, strict=True, **options)
            except ToolDefinitionError as e:
                if self.strict:  # strict=True was asked for: say which tool cannot be
                    try:  # unless the schema is not valid at all, which is reported below
                        Tool.from_schema(exposed, description, schema, call, **options)
                    except ToolDefinitionError:
                        pass
                    else:
                        raise ToolDefinitionError(f"MCP server {self.name!r}: {e} (use strict=None or False).") from None
        try:
            return Tool.from_schema(exposed, description, schema, call, strict=False if self.strict is False else None, **options)
        except ToolDefinitionError as e:
            logger.warning("MCP server %r: tool %r left out: %s", self.name, real, e)
            self.skipped_tools[real] = str(e)
            return None

    def _caller(self, real: str) -> Callable[[dict[str, Any]], Coroutine[Any, Any, str | list[Any]]]:
        async def call(arguments: dict[str, Any]) -> str | list[Any]:
            return await self.call_tool_value(real, arguments)

        return call


# --- helpers ------------------------------------------------------------------------------------


async def _list_tools(session: ClientSession) -> list[dict[str, Any]]:
    """Every page of ``tools/list``, as camelCase dicts."""
    tools: list[dict[str, Any]] = []
    result = await session.list_tools()
    seen: set[str] = set()
    while True:
        data = result.model_dump(by_alias=True, mode="json")
        tools.extend(t for t in data.get("tools") or () if isinstance(t, dict))
        cursor = data.get("nextCursor")
        if not cursor or cursor in seen:
            return tools
        seen.add(cursor)
        params = getattr(mcp.types, "PaginatedRequestParams", None)
        if params is not None:
            result = await session.list_tools(params=params(cursor=cursor))
        else:  # mcp < 1.13
            result = await cast(Any, session).list_tools(cursor=cursor)


def _error_parts(error: Exception) -> tuple[int | None, str]:
    data = getattr(error, "error", None)
    code = getattr(data, "code", None)
    message = getattr(data, "message", None) or str(error) or type(error).__name__
    return (code if isinstance(code, int) else None), str(message)


def describe_error(error: BaseException) -> str:
    """An exception as ``Type: message``, looking inside exception groups."""
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        inner = getattr(e, "exceptions", None)
        if isinstance(inner, (list, tuple)) and inner:
            for sub in inner:
                walk(sub)
        else:
            leaves.append(e)

    walk(error)
    return "; ".join(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__ for e in leaves)


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has finished (its transport closed); its own errors are not raised here."""
    task.cancel()
    await asyncio.wait({task})  # raises only when the caller itself is cancelled
    if not task.cancelled():
        task.exception()  # retrieved: reported through the ready future


def approval_option(requires_approval: ApprovalSpec, require_approval: ApprovalSpec, *, stacklevel: int = 4) -> ApprovalSpec:
    """``requires_approval``, or the value of the deprecated ``require_approval`` when that was given (with a warning)."""
    if require_approval is UNSET:
        return requires_approval
    _warn_old_name(stacklevel=stacklevel)
    if requires_approval is not False and requires_approval != require_approval:
        raise UserError("Give requires_approval only (require_approval is its deprecated old name), not both.")
    return require_approval


def _warn_old_name(stacklevel: int) -> None:
    warnings.warn(
        "require_approval is deprecated: use requires_approval (the name tools use).", DeprecationWarning, stacklevel=stacklevel
    )


def _check_names(option: str, value: object) -> None:
    if isinstance(value, str) or not isinstance(value, Collection) or not all(isinstance(n, str) for n in value):
        raise UserError(f"{option} must be a collection of tool names (e.g. {{'set_time'}}), not {value!r}.")
