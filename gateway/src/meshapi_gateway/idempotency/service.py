"""Idempotency keys in a running gateway: who runs a keyed request, who waits, who replays.

The request path never waits on the database. Finished answers live in a bounded
in-memory table (``memory.py``), preloaded from the database at start-up; new answers
go to the database behind the requests (``writer.py``), flushed on a graceful stop.

Without Redis this process decides alone: a second request with a key that is still
running waits for the first (an in-memory future, no polling). With Redis the claim is a
``SET NX`` shared by every replica (``shared.py``): a duplicate on another replica polls
Redis briefly and answers 409 if the first is still running after ``WAIT_SECONDS``; a claim
whose replica died (its heartbeat stopped) is taken over by the duplicate, which runs. If
Redis is unreachable, this process's own claims still hold (a warning is logged).

Only successful (2xx), complete answers are remembered; a failed or abandoned attempt
releases its key so the retry runs anew (nothing was billed for it, except the tokens an
interrupted stream had already produced).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable

from meshapi_gateway import attempt_claim
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.idempotency.memory import MemoryTable, Slot
from meshapi_gateway.idempotency.shared import SharedClaims, marker_token
from meshapi_gateway.idempotency.store import FinishedKey, IdempotencyStore, StoredResponse
from meshapi_gateway.idempotency.writer import AnswerWriter

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.idempotency")

WAIT_SECONDS = 10.0
MAX_KEY_LENGTH = 255
SWEEP_EVERY_SECONDS = 60.0


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def _mismatch() -> GatewayError:
    return GatewayError(
        "unprocessable_entity", "This Idempotency-Key was already used for a different request.", status=422
    )


@dataclass(slots=True)
class Running:
    """A key this process is running: local duplicates wait on ``settled``."""

    settled: asyncio.Future[None]
    fingerprint: str
    marker: bytes = b""  # the Redis claim held for it, if any


class IdempotencyService:
    def __init__(
        self,
        table: MemoryTable,
        writer: AnswerWriter,
        store: IdempotencyStore,
        ttl_seconds: int,
        max_body_bytes: int,
        shared: SharedClaims | None = None,
    ) -> None:
        self.table = table
        self.writer = writer
        self.store = store
        self.ttl = ttl_seconds
        self.max_body_bytes = max_body_bytes
        self.shared = shared
        self._running: dict[Slot, Running] = {}
        self._shared_down = False

    async def begin(self, owner: str, hashed: str, fingerprint: str) -> StoredResponse | None:
        """None when this request owns the key and must run; otherwise the answer to replay."""
        loop = asyncio.get_running_loop()
        slot = (owner, hashed)
        deadline = loop.time() + WAIT_SECONDS
        pause = 0.02
        while True:
            waiting = self._running.get(slot)
            if waiting is not None:
                if waiting.fingerprint != fingerprint:
                    raise _mismatch()
                await asyncio.shield(waiting.settled)
                continue
            known = await self._remembered(slot, int(time.time()))
            if known is not None:
                if known.fingerprint != fingerprint:
                    raise _mismatch()
                return known.response
            if slot in self._running:  # claimed while the database was read
                continue
            mine = Running(loop.create_future(), fingerprint)
            self._running[slot] = mine
            if self.shared is None:
                return None
            try:
                claim = await self.shared.claim(owner, hashed, fingerprint)
            except Exception as exc:
                self._shared_failed(exc)
                return None  # this process's claim still holds
            except BaseException:
                self._settle(slot)
                raise
            self._shared_back()
            if claim.outcome == "claimed":
                mine.marker = claim.marker
                # The ledger journal keeps it beside this request's bill (attempt_claim.py).
                attempt_claim.CURRENT.set(attempt_claim.Claim(owner, hashed, marker_token(claim.marker)))
                return None
            self._settle(slot)
            if claim.outcome == "done" and claim.response is not None:
                self.table.put(slot, fingerprint, claim.expires_at, claim.response)
                return claim.response
            if claim.outcome == "mismatch":
                raise _mismatch()
            if loop.time() >= deadline:  # running on another replica
                raise GatewayError(
                    "conflict", "A request with this Idempotency-Key is still in progress.", retry_after_seconds=1
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)

    async def finish(self, owner: str, hashed: str, response: StoredResponse | None) -> None:
        """Remember the answer (or release the key when there is none worth remembering)."""
        slot = (owner, hashed)
        mine = self._running.get(slot)
        if mine is None:
            return
        try:
            now = int(time.time())
            if response is not None:
                expires_at = now + self.ttl
                self.table.put(slot, mine.fingerprint, expires_at, response)
                self.writer.add(FinishedKey(owner, hashed, mine.fingerprint, response, now, expires_at))
            self._settle(slot)  # local duplicates go on at once; Redis follows
            if self.shared is not None and mine.marker:
                if response is not None:
                    await self.shared.complete(
                        owner, hashed, mine.marker, mine.fingerprint, response, now + self.ttl, now
                    )
                else:
                    await self.shared.release(owner, hashed, mine.marker)
        except Exception:
            log.exception("could not record the outcome of an idempotent request")
        finally:
            self._settle(slot)

    async def _remembered(self, slot: Slot, now: int) -> FinishedKey | None:
        """The finished answer for a key, from memory; the database only for keys memory let go."""
        entry = self.table.get(slot, now)
        if entry is not None:
            if entry.response is not None:
                return FinishedKey(slot[0], slot[1], entry.fingerprint, entry.response, 0, entry.expires_at)
        elif not self.table.forgotten(now):
            return None
        queued = self.writer.pending(*slot)
        if queued is not None:
            return queued
        try:
            return await self.store.find(slot[0], slot[1], now)
        except Exception:
            log.exception("could not read a remembered idempotency answer")
            raise GatewayError(
                "internal_error",
                "Could not check this Idempotency-Key; retry shortly.",
                status=503,
                retry_after_seconds=1,
            ) from None

    def _settle(self, slot: Slot) -> None:
        running = self._running.pop(slot, None)
        if running is not None and not running.settled.done():
            running.settled.set_result(None)

    def _shared_failed(self, exc: Exception) -> None:
        if not self._shared_down:
            self._shared_down = True
            log.warning("Redis unreachable for idempotency claims; deciding in this process only: %s", exc)

    def _shared_back(self) -> None:
        if self._shared_down:
            self._shared_down = False
            log.warning("Redis reachable again for idempotency claims")

    def sweep(self) -> None:
        self.table.sweep(int(time.time()))


async def preload(table: MemoryTable, store: IdempotencyStore) -> int:
    loaded = 0
    async for item in store.load(int(time.time())):
        table.put((item.owner, item.key_hash), item.fingerprint, item.expires_at, item.response)
        loaded += 1
    return loaded


async def start_idempotency(state: "GatewayState") -> Callable[[], Awaitable[None]]:
    s = state.settings
    sqlite = state.sqlite_writer
    store = IdempotencyStore(state.sessions, sqlite.share() if sqlite is not None else None)
    table = MemoryTable(s.idempotency_memory_body_bytes, s.idempotency_memory_max_keys)
    loaded = await preload(table, store)
    if loaded:
        log.info("loaded %d remembered idempotency answers", loaded)
    writer = AnswerWriter(store)
    shared: SharedClaims | None = None
    owned_redis = None
    if s.redis_url:
        from meshapi_gateway.shared_redis import redis_client  # a gateway without Redis does not load it

        client, owned = redis_client(state)
        owned_redis = client if owned else None
        # A claim outlives the longest request; one whose replica died frees itself.
        shared = SharedClaims(
            client, s.idempotency_ttl_seconds, running_seconds=int(max(600.0, s.upstream_total_timeout * 2))
        )
        await shared.start()
        from meshapi_gateway.billing.ledger import LedgerBilling

        if isinstance(state.billing, LedgerBilling):
            state.billing.claim_fate = shared.attempt_fate  # the journal replay asks it (billing/journal.py)
    service = IdempotencyService(table, writer, store, s.idempotency_ttl_seconds, s.idempotency_max_body_bytes, shared)
    state.idempotency = service
    writer.start()
    loop = asyncio.get_running_loop()
    sweeper: asyncio.TimerHandle | None = None

    def sweep_forever() -> None:
        nonlocal sweeper
        service.sweep()
        sweeper = loop.call_later(SWEEP_EVERY_SECONDS, sweep_forever)

    sweeper = loop.call_later(SWEEP_EVERY_SECONDS, sweep_forever)

    async def stop() -> None:
        if sweeper is not None:
            sweeper.cancel()
        await writer.aclose()
        if shared is not None:
            await shared.aclose()
        if owned_redis is not None:
            await owned_redis.aclose()

    return stop
