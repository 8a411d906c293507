"""The running task and loop, found without a ``getpid`` system call on the usual path.

CPython 3.11's ``asyncio.current_task()`` and ``asyncio.get_running_loop()`` check the process id
with a system call every time. ``current_task(loop)`` does not, so each thread keeps the loop it
last found running and tries that one first: a thread runs one loop at a time, so if that loop has
a task running, it is the one running this code. That holds while a loop, once run in a thread, is
not run by another thread while the first runs a loop of its own: then the first would get the
other thread's task (the gateway runs each serving loop in one thread for its whole life; the local
model's host loop never runs a route). A thread that finds none (its first request, or a new loop,
as tests make) asks as before and keeps the loop it got. A forked child forgets the loop: a fork
from inside a task leaves that task looking current in the child.

Code below the routes asks here rather than being handed the loop, so no caller has to carry it;
a caller that has found the task already may hand it down instead (the chat route, through
``Call.task``, to the router's attempt loop).
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any


class _LastLoop(threading.local):
    loop: asyncio.AbstractEventLoop | None = None


_last = _LastLoop()


def _forget() -> None:
    _last.loop = None


os.register_at_fork(after_in_child=_forget)


def request_task() -> asyncio.Task[Any]:
    """The task running the caller (which must run in one)."""
    loop = _last.loop
    if loop is not None:
        task = asyncio.current_task(loop)
        if task is not None:
            return task
    task = asyncio.current_task()
    assert task is not None
    _last.loop = task.get_loop()
    return task


def running_loop() -> asyncio.AbstractEventLoop:
    """The loop running the caller; outside a task (a callback) it asks, as ``get_running_loop()`` does."""
    loop = _last.loop
    if loop is not None and asyncio.current_task(loop) is not None:
        return loop
    loop = asyncio.get_running_loop()
    _last.loop = loop
    return loop
