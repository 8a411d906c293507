"""What a key spent in its current budget period, read from the ledger (control plane only).

The data plane never runs this: it checks budgets against the in-memory or Redis view.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.governance.periods import period_bounds
from meshapi_gateway.store.accounts_tables import LedgerEntry


async def ledger_spend(session: AsyncSession, key_id: str, period: str, now: float) -> Decimal:
    start, _ = period_bounds(period, now)
    stmt = (select(func.coalesce(func.sum(LedgerEntry.cost_usd), 0))
            .where(LedgerEntry.key_id == key_id, LedgerEntry.created_at >= start * 1000))
    return Decimal((await session.execute(stmt)).scalar_one())
