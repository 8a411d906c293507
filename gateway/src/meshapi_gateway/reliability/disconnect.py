"""Cancelling work whose client has gone away.

An ASGI server does not cancel a handler when the client disconnects: without a watcher
a non-streamed completion (or a stream still opening, falling back or backing off) keeps
the upstream generating for nobody. This watches ``receive`` for ``http.disconnect``
while one awaitable runs and cancels it at once; the cancellation closes the upstream
connection through the adapter's own cleanup.

The watching task is started only once the work has run for ``WATCH_AFTER`` seconds:
most answers are done before that. Nor does each request arm a timer of its own (a timer
armed and cancelled costs a few microseconds, as much as a good part of the route): the
requests of one event loop wait in one queue (``due_queue.py``), oldest first, and a single
timer, armed for the oldest, starts the watchers that are due. Under load it fires once per
``WATCH_AFTER``, not once per request. A streamed answer's relay (``api/sse_response.py``)
watches through the same queue (``watch_client``) while it writes; a chat stream keeps the watch of
its opening (which the route awaits itself, ``client_gone``) for its relay.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, TypeVar

from starlette.types import Receive

from meshapi_gateway.reliability import metrics as rmetrics
from meshapi_gateway.reliability.due_queue import DueQueue
from meshapi_gateway.running_loop import request_task

T = TypeVar("T")

WATCH_AFTER = 0.02


class ClientGone(Exception):
    """The client disconnected while the request was being served."""


class ClientWatch:
    __slots__ = ("gone", "receive", "sweep", "task", "watcher")

    def __init__(self, task: asyncio.Task[object], receive: Receive, sweep: DueQueue[ClientWatch]) -> None:
        self.task = task
        self.receive = receive
        self.sweep = sweep
        self.watcher: asyncio.Task[None] | None = None
        self.gone = False

    def start(self) -> None:
        self.watcher = self.task.get_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                self.task.cancel()
                return


# The sweep of the loop that used it last; a process running several loops (tests) makes one per switch.
_sweep: DueQueue[ClientWatch] | None = None


def watch_client(receive: Receive, task: asyncio.Task[Any] | None = None) -> ClientWatch:
    """Cancel the current task if the client disconnects, watching from ``WATCH_AFTER`` on; end with ``unwatch``.

    ``gone`` on the returned watch tells a cancellation that came from the client leaving. ``task``:
    the current task, for a caller that has it.
    """
    global _sweep
    if task is None:
        task = request_task()  # ``current_task()`` would be a getpid system call
    sweep = _sweep
    if sweep is None or sweep.loop is not task.get_loop():
        sweep = _sweep = DueQueue(task.get_loop(), ClientWatch.start)
    watch = ClientWatch(task, receive, sweep)
    sweep.add(watch, sweep.loop.time() + WATCH_AFTER)
    return watch


def unwatch(watch: ClientWatch) -> asyncio.Task[None] | None:
    """Stop watching; the watcher task if one had started (cancelled, for a caller that waits for it)."""
    watch.sweep.due.pop(watch, None)
    watcher = watch.watcher
    if watcher is not None:
        watcher.cancel()
    return watcher


def client_gone(watch: ClientWatch, kind: str = "request") -> ClientGone:
    """What a cancellation that came from the client leaving becomes (``watch.gone`` checked by the caller).

    A stream's opening and its relay are watched by one watch, and the route awaits the opening
    itself (no wrapping coroutine a stream): it calls this in its own ``except CancelledError``.
    """
    watch.task.uncancel()
    rmetrics.CLIENT_DISCONNECTS.labels(kind).inc()
    return ClientGone()


async def cancel_on_disconnect(
    receive: Receive, work: Awaitable[T], kind: str = "request", task: asyncio.Task[Any] | None = None
) -> T:
    """Await ``work``; raise ``ClientGone`` (after cancelling it) if the client disconnects first.

    Call only after the request body has been read: the next message is then the disconnect.
    ``task``: the current task, if the caller has it (see ``watch_client``).
    """
    watch = watch_client(receive, task)
    try:
        return await work
    except asyncio.CancelledError:
        if not watch.gone:
            raise
        raise client_gone(watch, kind) from None
    finally:
        unwatch(watch)
