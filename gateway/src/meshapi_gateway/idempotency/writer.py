"""Writing finished idempotency answers to the database behind the requests, in batches.

``add`` only appends to a queue. A background task writes what gathered every
``flush_seconds`` as one transaction; a failed write is retried (upserts make that
harmless); ``aclose`` (graceful stop) drains the queue so a restart still replays every
answer given before it. The same task purges expired rows now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

from meshapi_gateway.idempotency.store import FinishedKey, IdempotencyStore

log = logging.getLogger("meshapi_gateway.idempotency")

RETRY_MAX_SECONDS = 5.0
STOP_TIMEOUT_SECONDS = 60.0
PURGE_EVERY_SECONDS = 600.0


class WriteBehind:
    # Rows per transaction: under load each transaction waits for turns of the busy event loop,
    # so it must carry many rows for the writer to keep up (the store chunks them into statements).
    def __init__(self, store: IdempotencyStore, flush_seconds: float = 0.25, batch_size: int = 2000) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self._queue: deque[FinishedKey] = deque()
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
        self.written = 0

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, item: FinishedKey) -> None:
        self._queue.append(item)
        self._wake.set()

    def pending(self, owner: str, key_hash: str) -> FinishedKey | None:
        """A queued answer not yet in the database (newest first)."""
        for item in reversed(self._queue):
            if item.owner == owner and item.key_hash == key_hash:
                return item
        return None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="idempotency-writer")

    async def aclose(self) -> None:
        self._closing.set()
        self._wake.set()
        try:
            await asyncio.wait_for(self._drain(), STOP_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            log.error("idempotency: %d answers could not be written before stopping", len(self._queue))

    async def _drain(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        delay = 0.2
        while self._queue:
            batch = [self._queue[i] for i in range(min(self.batch_size, len(self._queue)))]
            try:
                await self.store.write(batch)
            except Exception:
                log.exception("idempotency write failed; retrying (%d answers queued)", len(self._queue))
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            for _ in batch:
                self._queue.popleft()
            self.written += len(batch)

    async def _run(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), PURGE_EVERY_SECONDS)
            if not self._closing.is_set():
                # Let a batch gather; a stop request cuts the wait short.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self.flush_seconds)
            self._wake.clear()
            await self.flush()
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
                try:
                    removed = await self.store.purge(int(time.time()))
                    if removed:
                        log.info("removed %d expired idempotency keys", removed)
                except Exception as exc:
                    log.warning("could not purge idempotency keys: %s", exc)
