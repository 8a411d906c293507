"""One timer per upstream call that cancels the waiting task when a wait runs too long.

``asyncio.timeout`` around every chunk would schedule and cancel a timer per chunk (about
as costly as the rest of the chunk's handling together). A watchdog instead keeps one
timer per call: a wait only writes its limit into a field, and the timer, when it fires,
either cancels the task (the limit has passed while the task is still waiting) or sleeps
again until the current limit. The cancellation is turned back into a timeout by the
code that was waiting (``expired`` tells it the cancel was ours).

Nor does each call arm a timer of its own in the usual case: arming and cancelling one cost a
stream about as much as the relay of a chunk, and most calls are over long before their limit.
The calls of one event loop whose limits come in the order they were set (every call with the
same timeouts) wait in one queue, oldest first, under a single timer armed for the oldest
(``due_queue.py``, as ``disconnect.py`` does for client watches). A limit earlier than the last one
queued gets a timer of its own.
"""

from __future__ import annotations

import asyncio
import math

from meshapi_gateway.reliability.due_queue import DueQueue

# The queue of the loop that used it last; a process running several loops (tests) makes one per switch.
_queue: DueQueue[Watchdog] | None = None


class Watchdog:
    __slots__ = ("_handle", "_loop", "_queue", "_task", "due", "expired", "limit")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object]) -> None:
        self._loop = loop
        self._task = task
        self._handle: asyncio.TimerHandle | None = None  # a timer of its own, when not queued
        self._queue: DueQueue[Watchdog] | None = None  # the queue it waits in, when queued
        # When the timer is set to fire, and the current wait's limit (inf: not waiting). Read and written by
        # the stream guard once a read too, in its own frame (``wait_until`` and ``rest`` without the calls).
        self.due = math.inf
        self.limit = math.inf
        self.expired = False

    def wait_until(self, limit: float) -> None:
        """A wait starts and must end by ``limit`` (loop time)."""
        self.limit = limit
        if limit < self.due:
            self._disarm()
            self._arm(limit)

    def rest(self) -> None:
        """The wait is over (the timer stays, and re-arms itself lazily)."""
        self.limit = math.inf

    def _arm(self, at: float) -> None:
        global _queue
        self.due = at
        queue = _queue
        if queue is None or queue.loop is not self._loop:
            queue = _queue = DueQueue(self._loop, Watchdog._fire)
        if queue.add(self, at):
            self._queue = queue
        else:
            self._handle = self._loop.call_at(at, self._fire)

    def _disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        elif self._queue is not None:
            self._queue.due.pop(self, None)
            self._queue = None
        self.due = math.inf

    def _fire(self) -> None:
        # Its timer or queue has let go of it: nothing to disarm.
        self._handle = None
        self._queue = None
        self.due = math.inf
        if self._loop.time() >= self.limit:
            self.expired = True
            self._task.cancel()
            return
        if self.limit != math.inf:
            self._arm(self.limit)

    def follow(self, task: asyncio.Task[object]) -> None:
        """The waits go on in ``task`` (a stream read on the request's behalf): an expiry cancels that one."""
        self._task = task

    def claim_expiry(self) -> bool:
        """After a CancelledError: True (and the cancel undone) when it was this watchdog's."""
        if not self.expired:
            return False
        self.expired = False
        # Someone else (a client disconnect, a shutdown) cancelled the task too: theirs wins.
        return self._task.uncancel() == 0

    def stop(self) -> None:
        # ``_disarm`` written out: every upstream call stops its watchdog once, and the method call costs ≈ 0.3 k
        # instructions (callgrind, in process); keep the two alike.
        self.limit = math.inf
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        elif self._queue is not None:
            self._queue.due.pop(self, None)
            self._queue = None
        self.due = math.inf
