"""``ping`` events in a long silence of a translated ``/v1/messages`` stream.

Anthropic sends ``ping`` events while a stream is quiet (a model thinking, a slow upstream);
proxies and clients with idle timeouts rely on them. The frames are read from the upstream in
a task of their own, so the client's side can send a ping while the read is still waiting;
cancelling that read instead would break the upstream stream. One timer per stream checks
the silence, so a frame costs a queue hand-over, not a timer of its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import AsyncIterator, Callable

from meshapi_gateway.running_loop import running_loop

_END = object()


class _Handoff:
    """The part of ``asyncio.Queue`` used here (one reader), on a loop it is given.

    ``asyncio.Queue.get`` asks for the running loop each time it waits, a getpid system call in
    CPython 3.11, and here it waits once per upstream read.
    """

    __slots__ = ("_items", "_loop", "_waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._items: collections.deque[object] = collections.deque()
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: object) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> object:
        while not self._items:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()


async def with_pings(
    frames: AsyncIterator[bytes],
    interval: float,
    ping: bytes,
    reading: Callable[[asyncio.Task[object]], None] | None = None,
) -> AsyncIterator[bytes]:
    """``frames`` as they come, and ``ping`` whenever ``interval`` seconds pass without one.

    ``reading`` is told the task that reads ``frames``, so the upstream's timeouts cancel that task.
    """
    loop = running_loop()  # ``get_running_loop()`` would be a getpid system call
    queue = _Handoff(loop)
    last = loop.time()
    timer: asyncio.TimerHandle | None = None

    async def pump() -> None:
        if reading is not None:
            task = asyncio.current_task(loop)  # given the loop, it does not ask for it
            assert task is not None
            reading(task)
        try:
            async for data in frames:
                queue.put_nowait(data)
        except BaseException as exc:  # handed to the reader, which raises it where the frames are read
            queue.put_nowait(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            queue.put_nowait(_END)

    def check() -> None:
        nonlocal timer
        now = loop.time()
        if now - last >= interval:
            queue.put_nowait(ping)
            due = now + interval
        else:
            due = last + interval
        timer = loop.call_at(due, check)

    reader = loop.create_task(pump())
    timer = loop.call_at(last + interval, check)
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            last = loop.time()
            yield item
    finally:
        assert timer is not None
        timer.cancel()
        if not reader.done():
            reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
