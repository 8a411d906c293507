"""Cancelling work whose client has gone away.

An ASGI server does not cancel a handler when the client disconnects: without a watcher
a non-streamed completion (or a stream still opening, falling back or backing off) keeps
the upstream generating for nobody. This watches ``receive`` for ``http.disconnect``
while one awaitable runs and cancels it at once; the cancellation closes the upstream
connection through the adapter's own cleanup.

The watching task is started only once the work has run for ``WATCH_AFTER`` seconds:
most answers are done before that, and a timer is far cheaper than a task.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, TypeVar

from starlette.types import Receive

from meshapi_gateway.reliability import metrics as rmetrics

T = TypeVar("T")

WATCH_AFTER = 0.02


class ClientGone(Exception):
    """The client disconnected while the request was being served."""


class _Watch:
    __slots__ = ("gone", "receive", "task", "watcher")

    def __init__(self, task: asyncio.Task[object], receive: Receive) -> None:
        self.task = task
        self.receive = receive
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


async def cancel_on_disconnect(receive: Receive, work: Awaitable[T], kind: str = "request") -> T:
    """Await ``work``; raise ``ClientGone`` (after cancelling it) if the client disconnects first.

    Call only after the request body has been read: the next message is then the disconnect.
    """
    task = asyncio.current_task()
    assert task is not None
    watch = _Watch(task, receive)
    timer = task.get_loop().call_later(WATCH_AFTER, watch.start)
    try:
        return await work
    except asyncio.CancelledError:
        if not watch.gone:
            raise
        task.uncancel()
        rmetrics.CLIENT_DISCONNECTS.labels(kind).inc()
        raise ClientGone() from None
    finally:
        timer.cancel()
        if watch.watcher is not None:
            watch.watcher.cancel()
