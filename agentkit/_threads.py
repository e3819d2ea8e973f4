"""Sync tools run in daemon worker threads, so a cancelled run never waits for one.

``asyncio.to_thread`` uses the loop's default executor, whose threads the interpreter joins at
exit (and ``asyncio.run`` joins at its end): Ctrl-C during a 20-second sync tool then still
waits 20 seconds. Here a cancelled call returns at once; the thread finishes the function in
the background (Python cannot stop a running thread) and its result is dropped. The pool grows
up to ``min(32, cpus + 4)`` threads, like the default executor, and reuses idle ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["run_in_thread"]

T = TypeVar("T")

_Job = tuple[
    asyncio.AbstractEventLoop, "asyncio.Future[Any]", contextvars.Context, Callable[..., Any], tuple[Any, ...], dict[str, Any]
]


class _DaemonPool:
    def __init__(self, max_workers: int) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads = 0
        self._max = max_workers

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)
        if self._idle.acquire(blocking=False):
            return  # an idle worker takes it
        with self._lock:
            if self._threads >= self._max:
                return  # queued for the next free worker
            self._threads += 1
            number = self._threads
        threading.Thread(target=self._work, name=f"agentkit-tool-{number}", daemon=True).start()

    def _work(self) -> None:
        while True:
            loop, future, context, function, args, kwargs = self._jobs.get()
            if not future.cancelled():
                try:
                    result = context.run(function, *args, **kwargs)
                except BaseException as e:  # handed to the awaiting task, whatever it is
                    _deliver(loop, future, None, e)
                else:
                    _deliver(loop, future, result, None)
            del loop, future, context, function, args, kwargs
            self._idle.release()


def _deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
        loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled while the thread ran
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


_pool = _DaemonPool(min(32, (os.cpu_count() or 1) + 4))


async def run_in_thread(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``function(*args, **kwargs)`` in a daemon worker thread (with the caller's context
    variables) and await its result. Cancelling the caller returns at once."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    _pool.submit((loop, future, contextvars.copy_context(), function, args, kwargs))
    return await future
