"""Cancelling work whose client has gone away.

An ASGI server does not cancel a handler when the client disconnects: without a watcher
a non-streamed completion (or a stream still opening, falling back or backing off) keeps
the upstream generating for nobody and is billed for an answer no one reads. This
watches ``receive`` for ``http.disconnect`` while one awaitable runs and cancels it at once;
the cancellation closes the upstream connection through the adapter's own cleanup.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, TypeVar

from starlette.types import Receive

from meshapi_gateway.reliability import metrics as rmetrics

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected while the request was being served."""


async def cancel_on_disconnect(receive: Receive, work: Awaitable[T], kind: str = "request") -> T:
    """Await ``work``; raise ``ClientGone`` (after cancelling it) if the client disconnects first.

    Call only after the request body has been read: the next message is then the disconnect.
    """
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone = True
                task.cancel()
                return

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
        rmetrics.CLIENT_DISCONNECTS.labels(kind).inc()
        raise ClientGone() from None
    finally:
        watcher.cancel()
