"""What a key or a team spent in its current budget period, read from the ledger (control plane only).

The data plane never runs this: it checks budgets against the in-memory or Redis counters.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.governance.periods import period_bounds
from meshapi_gateway.store.accounts_tables import LedgerEntry


async def ledger_spend(session: AsyncSession, key_id: str, period: str, now: float, *, team: bool = False) -> Decimal:
    """Spend since the period began of the key ``key_id`` (or, with ``team``, of the team of that id)."""
    start, _ = period_bounds(period, now)
    column = LedgerEntry.team_id if team else LedgerEntry.key_id
    stmt = select(func.coalesce(func.sum(LedgerEntry.cost_usd), 0)).where(
        column == key_id, LedgerEntry.created_at >= start * 1000
    )
    return Decimal((await session.execute(stmt)).scalar_one())
