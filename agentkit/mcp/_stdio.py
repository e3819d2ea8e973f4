"""A stdio transport whose messages have a size limit (POSIX).

The SDK's ``stdio_client`` reads each line of the server's output whole, however long, and
joins the pieces of a long line in quadratic time: a 200 MB result took minutes and all that
memory. This transport reads lines in linear time and stops keeping a line past
``max_message_bytes``: the rest of it is skipped as it arrives, and the request it answered
gets an error instead (the request's id is read from the start or the end of the line), so the
call fails at once with a message that says why.

The process is run as the SDK runs it (the SDK's safe default environment plus ``env``, a new
session so that stopping it reaches its children) and stopped as the SDK stops it: stdin closed,
then SIGTERM to its process group, then SIGKILL.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

import anyio
import anyio.lowlevel
import mcp.types
from anyio.abc import Process
from mcp.client.stdio import get_default_environment
from mcp.shared.message import SessionMessage
from pydantic import TypeAdapter

__all__ = ["bounded_stdio_client"]

logger = logging.getLogger("agentkit.mcp")

_INTERNAL_ERROR = -32603
_EDGE = 256  # bytes kept from the start and the end of a line that is too long, to find its id in
_ID = r'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")'
_ID_AT_START = re.compile(rb'^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?' + _ID.encode())
_ID_AT_END = re.compile(_ID.encode() + rb"\s*\}\s*$")
_EXIT_WAIT = 2.0  # seconds for the server to exit after its stdin closes, and again after SIGTERM

_adapter: Any = getattr(mcp.types, "jsonrpc_message_adapter", None) or TypeAdapter(mcp.types.JSONRPCMessage)
# mcp 2 sends the fields that were set; mcp 1 leaves out those that are None
_DUMP: dict[str, Any] = (
    {"by_alias": True, "exclude_unset": True}
    if hasattr(mcp.types, "jsonrpc_message_adapter")
    else {"by_alias": True, "exclude_none": True}
)


class _Lines:
    """Bytes in, whole lines out (at most ``limit`` bytes each; longer ones as a :class:`_TooLong`)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pieces: list[bytes] = []
        self.size = 0
        self.head = b""  # of a line too long: its first and last bytes
        self.tail = b""
        self.too_long = False

    def feed(self, data: bytes) -> list[bytes | _TooLong]:
        out: list[bytes | _TooLong] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            piece = data[start:] if end < 0 else data[start:end]
            self.add(piece)
            if end < 0:
                return out
            out.append(self.take())
            start = end + 1

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.too_long:
            self.tail = (self.tail + piece)[-_EDGE:]
        elif self.size > self.limit:
            line = b"".join(self.pieces) + piece
            self.too_long, self.pieces = True, []
            self.head, self.tail = line[:_EDGE], line[-_EDGE:]
        elif piece:
            self.pieces.append(piece)

    def take(self) -> bytes | _TooLong:
        if self.too_long:
            line: bytes | _TooLong = _TooLong(self.size, self.head, self.tail)
        else:
            line = b"".join(self.pieces)
        self.pieces, self.size, self.too_long, self.head, self.tail = [], 0, False, b"", b""
        return line


class _TooLong:
    def __init__(self, size: int, head: bytes, tail: bytes) -> None:
        self.size, self.head, self.tail = size, head, tail

    def request_id(self) -> Any:
        """The id of the request this line answers, if its first or last bytes show it."""
        found = _ID_AT_START.match(self.head) or _ID_AT_END.search(self.tail)
        if found is None:
            return None
        try:
            return json.loads(found[1])
        except ValueError:
            return None


def _message(line: bytes | _TooLong, limit: int) -> SessionMessage | Exception | None:
    """What the session gets for one line: a message, an error to log, or nothing (a blank line)."""
    if isinstance(line, _TooLong):
        why = f"the MCP server sent a message of {line.size:,} bytes, more than max_message_bytes={limit:,}; it was skipped"
        request_id = line.request_id()
        if request_id is None:
            return ValueError(why)
        error = {"code": _INTERNAL_ERROR, "message": f"{why} (its answer is too large)"}
        line = json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode()
    if not line.strip():
        return None
    try:
        return SessionMessage(_adapter.validate_json(line))
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        logger.warning("An MCP server sent a line that is not a JSON-RPC message: %s", str(e)[:300])
        return e


@asynccontextmanager
async def bounded_stdio_client(
    command: str,
    args: list[str],
    *,
    env: dict[str, str] | None,
    cwd: str | os.PathLike[str] | None,
    errlog: TextIO,
    max_message_bytes: int,
) -> AsyncIterator[tuple[Any, Any]]:
    """Run the server and yield the (read, write) streams of its messages, as ``mcp.client.stdio.stdio_client`` does."""
    process = await anyio.open_process(
        [command, *args],
        env=get_default_environment() | (env or {}),
        stderr=errlog,
        cwd=Path(cwd) if cwd is not None else None,
        start_new_session=True,
    )
    read_writer, read_stream = anyio.create_memory_object_stream[Any](0)
    write_stream, write_reader = anyio.create_memory_object_stream[Any](0)

    async def read() -> None:
        assert process.stdout is not None
        lines = _Lines(max_message_bytes)
        delivering = True
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
            async with read_writer:
                async for data in process.stdout:
                    for line in lines.feed(data) if delivering else ():
                        message = _message(line, max_message_bytes)
                        if message is None:
                            continue
                        try:
                            await read_writer.send(message)
                        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                            delivering = False  # the session is gone: go on reading, so the server can exit
                            break

    async def write() -> None:
        assert process.stdin is not None
        try:
            async with write_reader:
                async for session_message in write_reader:
                    data = session_message.message.model_dump_json(**_DUMP) + "\n"
                    await process.stdin.send(data.encode())
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await read_writer.aclose()  # the server cannot be written to: the session sees the end

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read)
        tasks.start_soon(write)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):  # the server is stopped, even when the caller is cancelled
                await write_stream.aclose()
                await _stop(process)
                for stream in (read_stream, read_writer, write_reader):
                    await stream.aclose()
            tasks.cancel_scope.cancel()


async def _stop(process: Process) -> None:
    """Close the server's stdin and let it exit; else SIGTERM its process group, then SIGKILL."""
    assert process.stdin is not None and process.stdout is not None
    with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        await process.stdin.aclose()
    if not await _exited(process, _EXIT_WAIT):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)  # the pid is the group's id (start_new_session)
            if await _exited(process, _EXIT_WAIT, group=True):
                break
        else:
            logger.warning("MCP server process %d is still running after SIGKILL; leaving it", process.pid)
    with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        await process.stdout.aclose()
    await _closed(process)


async def _exited(process: Process, seconds: float, *, group: bool = False) -> bool:
    """Whether the process (or its whole group) is gone within ``seconds``."""
    alive: Callable[[], bool] = (lambda: _group_alive(process.pid)) if group else (lambda: process.returncode is None)
    with anyio.move_on_after(seconds):
        while alive():
            _ = process.returncode  # reaps the leader, so a dead group can be seen as gone
            await anyio.sleep(0.01)
        return True
    return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


async def _closed(process: Process) -> None:
    """Release the process's transport (asyncio warns about one left open)."""
    transport = getattr(getattr(process, "_process", None), "_transport", None)
    close = getattr(transport, "close", None)
    if callable(close):
        with suppress(PermissionError):
            close()
    await anyio.lowlevel.checkpoint()
