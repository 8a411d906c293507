"""Writing finished idempotency answers to the database behind the requests, in batches.

The queue, batching, retries and draining on a graceful stop are ``write_behind``'s (so a
restart still replays every answer given before it; upserts make a retried write
harmless). Here: what a batch is written with, finding an answer still in the queue, and
purging expired rows now and then on the same task.
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

from meshapi_gateway.idempotency.store import FinishedKey, IdempotencyStore
from meshapi_gateway.write_behind import WriteBehind

log = logging.getLogger("meshapi_gateway.idempotency")

PURGE_EVERY_SECONDS = 600.0


class AnswerWriter(WriteBehind[FinishedKey]):
    def __init__(self, store: IdempotencyStore, flush_seconds: float = 0.25, batch_size: int = 2000) -> None:
        super().__init__(
            self._write,
            what="answers",
            log=log,
            flush_seconds=flush_seconds,
            batch_size=batch_size,
            upkeep=self._purge,
            upkeep_seconds=PURGE_EVERY_SECONDS,
        )
        self.store = store

    def pending(self, owner: str, key_hash: str) -> FinishedKey | None:
        """A queued answer not yet in the database (newest first)."""
        for item in reversed(self.queue):
            if item.owner == owner and item.key_hash == key_hash:
                return item
        return None

    def start(self, name: str = "idempotency-writer") -> None:
        super().start(name)

    async def aclose(self) -> None:
        await super().aclose()
        await self.store.aclose()

    async def _write(self, batch: Sequence[FinishedKey], retry: bool) -> None:
        await self.store.write(batch)

    async def _purge(self) -> None:
        try:
            removed = await self.store.purge(int(time.time()))
            if removed:
                log.info("removed %d expired idempotency keys", removed)
        except Exception as exc:
            log.warning("could not purge idempotency keys: %s", exc)
