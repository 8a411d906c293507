"""The batch runner: claims items, runs them with bounded concurrency, finalizes batches.

It runs inside the serving process by default and in ``meshapi-gateway worker``
processes for scale; any number of runners may share one database. Concurrency is
bounded per batch, per owner and per process, so one big batch cannot crowd out live
traffic or other owners' batches. Every finished item is committed on its own; a runner
that dies leaves leases that lapse, and the next runner picks those items up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import select, update

from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.batches import claims
from meshapi_gateway.batches import metrics as batch_metrics
from meshapi_gateway.batches.execute import ItemExecutor, ItemOutcome, item_request_id
from meshapi_gateway.batches.output import write_outputs
from meshapi_gateway.batches.wire import ACTIVE
from meshapi_gateway.files.service import FileService
from meshapi_gateway.ids import ulid
from meshapi_gateway.store.batches_tables import Batch
from meshapi_gateway.store.data_version import Seen
from meshapi_gateway.store.tables import ApiKey

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.batches")

PRINCIPAL_TTL = 60.0
MAX_BACKOFF = 30.0
COALESCE_SECONDS = 0.02


class BatchRunner:
    def __init__(self, state: "GatewayState", files: FileService) -> None:
        self.state = state
        self.files = files
        self.settings = state.settings
        self.worker = f"{socket.gethostname()[:30]}:{os.getpid()}:{ulid()[-6:]}"
        self.executor = ItemExecutor(state)
        self.inflight: dict[int, asyncio.Task[None]] = {}
        self.per_batch: Counter[str] = Counter()
        self.per_owner: Counter[str] = Counter()
        self._principals: dict[tuple[str, str | None], tuple[float, Principal]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # With no active batch, none can appear (nor any lease lapse matter) before a commit: the
        # idle tick skips its query while the database is unchanged (store/data_version.py).
        self._seen = Seen(state.data_version)
        self._idle = False

    # -- life cycle ----------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(), name="batch-runner"),
            asyncio.create_task(self._heartbeat(), name="batch-leases"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        running = list(self.inflight.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*self._tasks, *running, return_exceptions=True)
        with contextlib.suppress(Exception):
            async with self.state.sessions() as session, session.begin():
                await claims.release_worker(session, self.worker)

    async def _loop(self) -> None:
        # Let the rest of start-up (billing, limits) finish before the first item runs.
        await asyncio.sleep(min(0.2, self.settings.batch_poll_seconds))
        woken = False
        while True:
            try:
                if not (self._seen.unchanged() and self._idle and not woken):
                    await self.tick()
                    self._seen.read_done()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away; try again on the next tick
                log.warning("batch runner tick failed", exc_info=True)
            woken = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.batch_poll_seconds)
                woken = True
                # Items finishing close together are refilled by one claim, not one claim each.
                await asyncio.sleep(COALESCE_SECONDS)
            self._wake.clear()

    async def _heartbeat(self) -> None:
        lease = self.settings.batch_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            try:
                async with self.state.sessions() as session, session.begin():
                    await claims.renew_leases(session, self.worker, list(self.inflight), lease)
            except Exception:
                log.warning("renewing batch leases failed", exc_info=True)

    # -- one pass over the active batches --------------------------------------
    async def tick(self) -> None:
        async with self.state.sessions() as session:
            batches = list(
                (await session.execute(select(Batch).where(Batch.status.in_(ACTIVE)).order_by(Batch.id))).scalars()
            )
        self._idle = not batches and not self.inflight
        # Owners with the fewest requests running here get free slots first, so no owner waits behind another.
        batches.sort(key=lambda b: self.per_owner[b.owner])
        for batch in batches:
            await self._advance(batch)

    async def _advance(self, batch: Batch) -> None:
        now = time.time()
        sessions = self.state.sessions
        if batch.status == "validating":
            async with sessions() as session, session.begin():
                await session.execute(
                    update(Batch)
                    .where(Batch.id == batch.id, Batch.status == "validating")
                    .values(status="in_progress", in_progress_at=int(now))
                )
            batch.status = "in_progress"
        if batch.status == "in_progress" and now >= batch.expires_at:
            async with sessions() as session, session.begin():
                await claims.close_pending(session, batch.id, "expired")
        elif batch.status == "cancelling":
            async with sessions() as session, session.begin():
                await claims.close_pending(session, batch.id, "cancelled")
        elif batch.status == "in_progress":
            await self._dispatch(batch)
        if self.per_batch[batch.id] == 0:
            await self._finalize(batch)

    async def _dispatch(self, batch: Batch) -> None:
        s = self.settings
        room = min(
            s.batch_concurrency_per_batch - self.per_batch[batch.id],
            s.batch_concurrency_per_owner - self.per_owner[batch.owner],
            s.batch_concurrency_total - len(self.inflight),
        )
        if room <= 0:
            return
        async with self.state.sessions() as session, session.begin():
            # The owner's bound holds across every runner sharing the database (give or take claims made
            # at the same instant); the per-batch and total bounds are this process's own.
            anywhere = await claims.running_for_owner(session, batch.owner)
            room = min(room, s.batch_concurrency_per_owner - max(anywhere, self.per_owner[batch.owner]))
            if room <= 0:
                return
            items = await claims.claim_items(session, batch.id, self.worker, room, s.batch_lease_seconds)
        if not items:
            return
        principal = await self._principal(batch)
        for item in items:
            if item.id in self.inflight:  # our own lease had lapsed and we re-took it: it is still running here
                continue
            self.per_batch[batch.id] += 1
            self.per_owner[batch.owner] += 1
            self.inflight[item.id] = asyncio.create_task(
                self._run(batch, principal, item), name=f"batch-item-{item.id}"
            )
            batch_metrics.IN_FLIGHT.inc()

    async def _principal(self, batch: Batch) -> Principal:
        """The batch's owner as a caller, with the limits of the key that created the batch."""
        cache_key = (batch.owner, batch.key_id)
        hit = self._principals.get(cache_key)
        if hit is not None and hit[0] > time.monotonic():
            return self._with_terms(hit[1])
        row = None
        if batch.key_id:
            async with self.state.sessions() as session:
                row = await session.get(ApiKey, batch.key_id)
        principal = (
            Principal(batch.owner, "data", batch.key_id, row.rpm, row.rpd, row.tpm)
            if row is not None
            else Principal(batch.owner, "data", batch.key_id)
        )
        self._principals[cache_key] = (time.monotonic() + PRINCIPAL_TTL, principal)
        return self._with_terms(principal)

    def _with_terms(self, principal: Principal) -> Principal:
        """The key's current terms (budget, models, suspension, expiry), as the key cache has them now."""
        key = self.state.key_cache.by_id(principal.key_id) if principal.key_id else None
        return dataclasses.replace(principal, key=key) if key is not principal.key else principal

    # -- one item --------------------------------------------------------------
    async def _run(self, batch: Batch, principal: Principal, item: claims.ClaimedItem) -> None:
        request_id = item_request_id(batch.id, item.custom_id)
        try:
            try:
                outcome = await self.executor.run(
                    principal, item.url, orjson.loads(item.body), request_id, Decimal(batch.multiplier)
                )
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stall the batch: retry, then report it on the item
                log.exception("batch item failed unexpectedly", extra={"request_id": request_id})
                error = {"code": "internal_error", "message": "Internal error while running the request."}
                outcome = ItemOutcome("retry", 500, {"error": error}, error)
            await self._commit(item, request_id, outcome)
        finally:
            batch_metrics.IN_FLIGHT.dec()
            self.inflight.pop(item.id, None)
            self.per_batch[batch.id] -= 1
            self.per_owner[batch.owner] -= 1
            if self.per_batch[batch.id] <= 0:
                del self.per_batch[batch.id]
            if self.per_owner[batch.owner] <= 0:
                del self.per_owner[batch.owner]
            self.wake()

    async def _commit(self, item: claims.ClaimedItem, request_id: str, outcome: ItemOutcome) -> None:
        settle = None
        async with self.state.sessions() as session, session.begin():
            if outcome.status == "retry" and (outcome.free_retry or item.attempts < self.settings.batch_max_attempts):
                delay = max(outcome.retry_after, min(MAX_BACKOFF, 0.5 * 2**item.attempts))
                await claims.requeue_item(session, item.id, self.worker, delay, free=outcome.free_retry)
                batch_metrics.ITEMS.labels("retried").inc()
                return
            kept = await claims.finish_item(
                session,
                item.id,
                self.worker,
                status="succeeded" if outcome.status == "succeeded" else "failed",
                status_code=outcome.status_code,
                request_id=request_id,
                result_json=orjson.dumps(outcome.body).decode(),
                error_json=orjson.dumps(outcome.error).decode() if outcome.error else None,
                prompt_tokens=outcome.prompt_tokens,
                completion_tokens=outcome.completion_tokens,
                cost=outcome.cost,
            )
            if kept and outcome.usage_record is not None:
                # The bill commits with the result: a crash either keeps both or loses both (and the item runs again).
                settle = await self.state.billing.record_in_transaction(session, outcome.usage_record)
        if settle is not None:
            settle()
        batch_metrics.ITEMS.labels("succeeded" if outcome.status == "succeeded" else "failed").inc()
        if not kept:
            log.warning("batch item lease was lost before its result was committed", extra={"request_id": request_id})

    # -- the end of a batch ------------------------------------------------------
    async def _finalize(self, batch: Batch) -> None:
        sessions = self.state.sessions
        now = int(time.time())
        async with sessions() as session, session.begin():
            if await claims.has_open_items(session, batch.id):
                return
            if not await claims.take_finalize_lease(session, batch.id, self.worker, self.settings.batch_lease_seconds):
                return
            if batch.status == "in_progress":
                await session.execute(
                    update(Batch).where(Batch.id == batch.id).values(status="finalizing", finalizing_at=now)
                )
            succeeded = await claims.count_status(session, batch.id, "succeeded")
            failed = await claims.count_status(session, batch.id, "failed")
            cancelled = await claims.count_status(session, batch.id, "cancelled")
            expired = await claims.count_status(session, batch.id, "expired")
        out_id, err_id = await write_outputs(self.files, sessions, batch, succeeded, failed + cancelled + expired)
        final = (
            "cancelled"
            if batch.cancelling_at or batch.status == "cancelling"
            else ("expired" if expired else "completed")
        )
        done = int(time.time())
        async with sessions() as session, session.begin():
            await session.execute(
                update(Batch)
                .where(Batch.id == batch.id, Batch.claimed_by == self.worker)
                .values(
                    status=final,
                    output_file_id=out_id,
                    error_file_id=err_id,
                    claimed_by=None,
                    lease_until=None,
                    **{f"{final}_at": done},
                )
            )
        batch_metrics.BATCHES.labels(final).inc()
        log.info(
            "batch %s %s: %d succeeded, %d failed, %d cancelled, %d expired",
            batch.id,
            final,
            succeeded,
            failed,
            cancelled,
            expired,
        )
