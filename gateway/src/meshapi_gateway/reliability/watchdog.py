"""One timer per upstream call that cancels the waiting task when a wait runs too long.

``asyncio.timeout`` around every chunk would schedule and cancel a timer per chunk (about
as costly as the rest of the chunk's handling together). A watchdog instead keeps one
timer per call: a wait only writes its limit into a field, and the timer, when it fires,
either cancels the task (the limit has passed while the task is still waiting) or sleeps
again until the current limit. The cancellation is turned back into a timeout by the
code that was waiting (``expired`` tells it the cancel was ours).
"""

from __future__ import annotations

import asyncio
import math


class Watchdog:
    __slots__ = ("_due", "_handle", "_limit", "_loop", "_task", "expired")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object]) -> None:
        self._loop = loop
        self._task = task
        self._handle: asyncio.TimerHandle | None = None
        self._due = math.inf  # when the timer is set to fire
        self._limit = math.inf  # the current wait's limit (inf: not waiting)
        self.expired = False

    def wait_until(self, limit: float) -> None:
        """A wait starts and must end by ``limit`` (loop time)."""
        self._limit = limit
        if limit < self._due:
            if self._handle is not None:
                self._handle.cancel()
            self._due = limit
            self._handle = self._loop.call_at(limit, self._fire)

    def rest(self) -> None:
        """The wait is over (the timer stays, and re-arms itself lazily)."""
        self._limit = math.inf

    def _fire(self) -> None:
        now = self._loop.time()
        if now >= self._limit:
            self._handle = None
            self._due = math.inf
            self.expired = True
            self._task.cancel()
            return
        if self._limit == math.inf:
            self._handle = None
            self._due = math.inf
            return
        self._due = self._limit
        self._handle = self._loop.call_at(self._limit, self._fire)

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
        self._limit = math.inf
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._due = math.inf
