"""Run coroutines from synchronous code on one long-lived background event loop.

``asyncio.run`` per call would create a new loop each time, so HTTP connections could never be
reused between ``run_sync`` calls, and it fails inside an already-running loop (Jupyter). A
single daemon thread with its own loop avoids both.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="agentkit-sync-loop", daemon=True)
            thread.start()
            _loop = loop
        return _loop


_UNWIND = 0.5
"""Seconds an interrupted :func:`run_sync` waits for the run to unwind (close its response,
cancel its tools) before it lets the interrupt through: usually a few milliseconds."""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on the background loop and return its result.

    Interrupting the caller (Ctrl-C) cancels the coroutine and returns at once — after at most
    half a second for it to close what it holds; a sync tool still running in its worker thread
    finishes in the background.
    """
    unwound = threading.Event()

    async def runner() -> T:
        try:
            return await coro
        finally:
            unwound.set()

    future = asyncio.run_coroutine_threadsafe(runner(), _background_loop())
    try:
        return future.result()
    except BaseException:
        if future.cancel():
            unwound.wait(_UNWIND)
        raise
