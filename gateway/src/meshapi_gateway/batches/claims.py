"""The statements that hand batch work to exactly one runner at a time.

Items are claimed with one conditional UPDATE: on PostgreSQL the rows are picked with
``SELECT … FOR UPDATE SKIP LOCKED`` inside it, so concurrent workers skip each other's
rows instead of waiting; SQLite runs the same single statement under its database
write lock, which makes it atomic as well. A claim is a lease: the claimer renews it
while the request runs, and anyone may take an item whose lease has lapsed (its runner
died). Results are committed only by the current lease holder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.store.batches_tables import Batch, BatchItem


@dataclass(slots=True)
class ClaimedItem:
    id: int
    custom_id: str
    url: str
    body: str
    attempts: int


def _claimable(now: float) -> Any:
    pending = and_(BatchItem.status == "pending", or_(BatchItem.lease_until.is_(None), BatchItem.lease_until <= now))
    lapsed = and_(BatchItem.status == "running", BatchItem.lease_until < now)
    return or_(pending, lapsed)


async def claim_items(
    session: AsyncSession, batch_id: str, worker: str, count: int, lease_seconds: float
) -> list[ClaimedItem]:
    now = time.time()
    # No ORDER BY: sorting a big batch's open items on every claim costs more than the order is worth
    # (the index hands them out roughly in input order anyway; the output files are sorted by line).
    pick = select(BatchItem.id).where(BatchItem.batch_id == batch_id, _claimable(now)).limit(count)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        update(BatchItem)
        .where(BatchItem.id.in_(pick.scalar_subquery()))
        .values(status="running", claimed_by=worker, lease_until=now + lease_seconds, attempts=BatchItem.attempts + 1)
        .returning(BatchItem.id, BatchItem.custom_id, BatchItem.url, BatchItem.body, BatchItem.attempts)
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    return [ClaimedItem(*row) for row in rows]


async def running_for_owner(session: AsyncSession, owner: str) -> int:
    """Requests of the owner's batches that some runner (any process) holds right now."""
    stmt = (
        select(func.count())
        .select_from(BatchItem)
        .join(Batch, Batch.id == BatchItem.batch_id)
        .where(
            Batch.owner == owner,
            Batch.status.in_(("in_progress", "cancelling")),
            BatchItem.status == "running",
            BatchItem.lease_until >= time.time(),
        )
    )
    return int((await session.execute(stmt)).scalar_one())


async def renew_leases(session: AsyncSession, worker: str, item_ids: list[int], lease_seconds: float) -> None:
    if item_ids:
        await session.execute(
            update(BatchItem)
            .where(BatchItem.id.in_(item_ids), BatchItem.claimed_by == worker, BatchItem.status == "running")
            .values(lease_until=time.time() + lease_seconds)
            .execution_options(synchronize_session=False)
        )


async def finish_item(
    session: AsyncSession,
    item_id: int,
    worker: str,
    *,
    status: str,
    status_code: int,
    request_id: str,
    result_json: str | None,
    error_json: str | None,
    prompt_tokens: int,
    completion_tokens: int,
    cost: Decimal,
) -> bool:
    """Commit an item's result; False if the lease was lost meanwhile (another runner owns it now)."""
    result = await session.execute(
        update(BatchItem)
        .where(BatchItem.id == item_id, BatchItem.claimed_by == worker, BatchItem.status == "running")
        .values(
            status=status,
            status_code=status_code,
            request_id=request_id,
            result_json=result_json,
            error_json=error_json,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=cost,
            finished_at=int(time.time()),
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


async def requeue_item(session: AsyncSession, item_id: int, worker: str, delay: float, *, free: bool) -> None:
    """Put a claimed item back, not to be tried for ``delay`` seconds."""
    values: dict[str, Any] = {"status": "pending", "claimed_by": None, "lease_until": time.time() + delay}
    if free:
        values["attempts"] = BatchItem.attempts - 1
    await session.execute(
        update(BatchItem)
        .where(BatchItem.id == item_id, BatchItem.claimed_by == worker, BatchItem.status == "running")
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def release_worker(session: AsyncSession, worker: str) -> None:
    """On a graceful stop: give this runner's unfinished items back at once (no lease to wait out)."""
    await session.execute(
        update(BatchItem)
        .where(BatchItem.claimed_by == worker, BatchItem.status == "running")
        .values(status="pending", claimed_by=None, lease_until=None, attempts=BatchItem.attempts - 1)
        .execution_options(synchronize_session=False)
    )


async def close_pending(session: AsyncSession, batch_id: str, status: str) -> None:
    """Cancel or expire every item that has not started, or whose runner died (running ones finish and are kept)."""
    now = time.time()
    unstarted = or_(BatchItem.status == "pending", and_(BatchItem.status == "running", BatchItem.lease_until < now))
    await session.execute(
        update(BatchItem)
        .where(BatchItem.batch_id == batch_id, unstarted)
        .values(status=status, finished_at=int(now), lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def has_open_items(session: AsyncSession, batch_id: str) -> bool:
    stmt = select(exists().where(BatchItem.batch_id == batch_id, BatchItem.status.in_(("pending", "running"))))
    return bool((await session.execute(stmt)).scalar())


async def count_status(session: AsyncSession, batch_id: str, status: str) -> int:
    stmt = select(func.count()).select_from(BatchItem).where(BatchItem.batch_id == batch_id, BatchItem.status == status)
    return int((await session.execute(stmt)).scalar_one())


async def take_finalize_lease(session: AsyncSession, batch_id: str, worker: str, lease_seconds: float) -> bool:
    """Become the one runner that writes the batch's output files (or take over from a dead one)."""
    now = time.time()
    result = await session.execute(
        update(Batch)
        .where(
            Batch.id == batch_id,
            Batch.status.in_(("in_progress", "cancelling", "finalizing")),
            or_(
                Batch.claimed_by.is_(None),
                Batch.lease_until.is_(None),
                Batch.lease_until < now,
                Batch.claimed_by == worker,
            ),
        )
        .values(claimed_by=worker, lease_until=now + lease_seconds)
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], result).rowcount)
