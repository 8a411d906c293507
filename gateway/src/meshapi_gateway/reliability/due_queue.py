"""Many deadlines of one event loop under a single timer, when they come in the order they are set.

Arming and cancelling a timer per request or per stream costs a few microseconds, as much as
a good part of the route, and most such deadlines are never reached. Deadlines set a fixed
delay after now (client watches), or with the same timeouts (upstream watchdogs), come due in
the order they were queued: they wait in one insertion-ordered dict, oldest first, under one
timer armed for the oldest. Under load it fires about once per delay, not once per item.
An item leaves early by being popped from ``due``.

Used by ``disconnect.py`` (client watches) and ``watchdog.py`` (upstream waits).
"""

from __future__ import annotations

import asyncio
import math
from typing import Callable, Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)


class DueQueue(Generic[K]):
    """The items of one loop due in the order they were queued, and the one timer for the first."""

    __slots__ = ("due", "fire", "last", "loop", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[K], None]) -> None:
        self.loop = loop
        self.fire = fire  # called with each item as it comes due
        self.due: dict[K, float] = {}  # insertion order is due order
        self.last = -math.inf  # the latest deadline queued since the queue was last empty
        self.timer: asyncio.TimerHandle | None = None

    def add(self, item: K, at: float) -> bool:
        """Queue ``item`` for ``at`` (loop time); False when ``at`` would come before one already queued."""
        if at < self.last:
            return False
        self.due[item] = at
        self.last = at
        if self.timer is None:
            self.timer = self.loop.call_at(at, self.run)
        return True

    def run(self) -> None:
        self.timer = None
        due = self.due
        now = self.loop.time()
        while due:
            item, at = next(iter(due.items()))
            if at > now:
                self.timer = self.loop.call_at(at, self.run)
                return
            del due[item]
            self.fire(item)
        self.last = -math.inf
