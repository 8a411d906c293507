"""A queue written to the database behind the requests, in batches: the one skeleton both writers share.

The request path only appends (``add``), so it never waits on the database. A background
task writes what gathered every ``flush_seconds`` as one transaction of up to
``batch_size`` items, then waits ``flush_seconds`` again: it writes the next batch at once
only when a full one is already waiting (a backlog). Writing on while anything at all was
queued turned a steady load into a chain of small transactions, each paying a hand-off to
the writer's thread, a commit and a rewrite of the same pages of the database's log: under
load nine in ten carried under 100 rows. A failed write is retried with backoff, and told
that it is a retry, since the failed commit may have landed. ``flush`` (a reader of its own
writes) and ``aclose`` (graceful stop) write everything queued; ``aclose`` gives up only
after ``STOP_TIMEOUT_SECONDS`` of an unreachable database, and says how much was lost. An
optional upkeep (purging expired rows) runs every ``upkeep_seconds`` on the same task.

Used by the ledger (billing/ledger.py), the idempotency answers (idempotency/writer.py) and the request
log (observability/request_log.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from itertools import islice, repeat
from typing import Awaitable, Callable, Generic, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
STOP_TIMEOUT_SECONDS = 60.0

# A writer builds a batch's rows this many at a time, giving the event loop (or, on a thread of its
# own, the GIL) back between slices: a 2,000-row batch built in one go kept every request waiting
# for several ms.
ROWS_A_SLICE = 64
# The SQLite writers' transaction stays open across the loop's turns (store/sqlite_writer.py), and under
# load each turn waits out a whole iteration of the busy loop: a turn after every 64-row slice held the
# file's write lock for 0.5-1 s a 2,000-row batch. They take one only once this much work ran since the last.
TURN_SECONDS = 0.001


class Turns:
    """``await turns.take()`` after each slice: a turn for the loop once ``TURN_SECONDS`` of work has run."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = time.perf_counter()

    async def take(self) -> None:
        if time.perf_counter() - self._last >= TURN_SECONDS:
            await asyncio.sleep(0)
            self._last = time.perf_counter()


async def in_slices(rows: Sequence[R], write: Callable[[Sequence[R]], object]) -> None:
    """``write`` each ``ROWS_A_SLICE`` rows in turn on the event loop (the SQLite writers' inserts), a turn for its
    other tasks when ``Turns`` says so (the transaction stays open meanwhile)."""
    turns = Turns()
    for start in range(0, len(rows), ROWS_A_SLICE):
        if start:
            await turns.take()
        write(rows[start : start + ROWS_A_SLICE])


async def rows_in_slices(items: Sequence[T], make: Callable[[T], R], turns: Turns | None = None) -> list[R]:
    """``[make(item) for item in items]`` on the event loop (PostgreSQL's driver runs there), with a turn
    for the loop's other tasks after each ``ROWS_A_SLICE`` (with ``turns``: when it says so)."""
    out: list[R] = []
    for start in range(0, len(items), ROWS_A_SLICE):
        if start:
            if turns is None:
                await asyncio.sleep(0)
            else:
                await turns.take()
        out.extend([make(item) for item in items[start : start + ROWS_A_SLICE]])
    return out


# Writes one batch; the flag says a previous attempt at it failed (its commit may have landed).
WriteBatch = Callable[[Sequence[T], bool], Awaitable[None]]


class WriteBehind(Generic[T]):
    def __init__(
        self,
        write: WriteBatch[T],
        *,
        what: str,
        log: logging.Logger,
        flush_seconds: float = 0.25,
        batch_size: int = 2000,
        upkeep: Callable[[], Awaitable[None]] | None = None,
        upkeep_seconds: float = 600.0,
    ) -> None:
        self._write = write
        self._what = what  # "usage records", "answers": for the log lines
        self._log = log
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self._upkeep = upkeep
        self._upkeep_seconds = upkeep_seconds
        self._next_upkeep = time.monotonic() + upkeep_seconds
        self.queue: deque[T] = deque()
        # One flush at a time: a batch is taken, written and removed before the next is taken.
        self._flushing = asyncio.Lock()
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def __len__(self) -> int:
        return len(self.queue)

    def add(self, item: T) -> None:
        queue = self.queue
        # Only an empty queue can have the writer waiting for it (``_run`` waits only then, and a batch
        # stays queued while it is written): one Event.set a wake-up, not one a request.
        if not queue:
            self._wake.set()
        queue.append(item)

    def start(self, name: str) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=name)

    async def aclose(self) -> None:
        self._closing.set()
        self._wake.set()
        try:
            await asyncio.wait_for(self._drain(), STOP_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            self._log.error("%d %s could not be written before stopping", len(self.queue), self._what)

    async def flush(self) -> None:
        """Write everything queued so far (a reader of its own writes calls this first)."""
        async with self._flushing:
            while self.queue:
                await self._write_one()

    async def _write_gathered(self) -> None:
        """The background pass: what gathered, and more batches only while a full one is waiting."""
        async with self._flushing:
            if self.queue:
                await self._write_one()
            while len(self.queue) >= self.batch_size:
                await self._write_one()

    async def _write_one(self) -> None:
        """Write the queue's first batch (retrying until it is in), then remove it from the queue.

        The batch stays queued while it is written: the ledger's journal and the idempotency
        lookups read the queue meanwhile.
        """
        delay = RETRY_FIRST_SECONDS
        retry = False
        while True:
            batch = list(islice(self.queue, self.batch_size))
            try:
                await self._write(batch, retry)
                break
            except Exception:
                self._log.exception("write failed; retrying (%d %s queued)", len(self.queue), self._what)
                retry = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        queue, n = self.queue, len(batch)
        if n == len(queue):
            queue.clear()
        else:
            for _ in repeat(None, n):
                queue.popleft()
        self.written += n

    async def _drain(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        wait = self._upkeep_seconds if self._upkeep is not None else None
        while not self._closing.is_set():
            if not self.queue:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            if not self._closing.is_set():
                # Let a batch gather; a stop request cuts the wait short.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self.flush_seconds)
            await self._write_gathered()
            if self._upkeep is not None and time.monotonic() >= self._next_upkeep:
                self._next_upkeep = time.monotonic() + self._upkeep_seconds
                await self._upkeep()
