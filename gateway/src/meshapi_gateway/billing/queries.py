"""Reading the ledger and balances for their owner: usage events, usage lists, the balance object."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.billing.book import BalanceBook
from meshapi_gateway.money import money
from meshapi_gateway.store.accounts_tables import Balance, LedgerEntry

# The name the accounts area reads best with; the one formatter is ``meshapi_gateway.money``.
usd = money


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_view(row: LedgerEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "usage.event",
        "request_id": row.request_id,
        "created_at": iso_ms(row.created_at),
        "model": row.model,
        "provider": row.provider,
        "key_id": row.key_id,
        "team_id": row.team_id,
        "kind": row.kind,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cached_tokens": row.cached_tokens,
        "total_tokens": row.prompt_tokens + row.completion_tokens,
        "cost_usd": usd(row.cost_usd),
    }


@dataclass(slots=True)
class UsageFilter:
    owner: str
    since_ms: int | None = None
    until_ms: int | None = None
    model: str | None = None
    key_id: str | None = None
    request_id: str | None = None
    kind: str | None = None
    team_id: str | None = None

    def where(self) -> list[Any]:
        # Looked up by request id, the owner is only a guard: written as an expression, so SQLite's
        # planner (without statistics) takes the request id's index, not a walk of the owner's rows
        # that its ``(owner, created_at)`` index offers for the order.
        owner = LedgerEntry.owner if self.request_id is None else LedgerEntry.owner + ""
        out: list[Any] = [owner == self.owner]
        if self.since_ms is not None:
            out.append(LedgerEntry.created_at >= self.since_ms)
        if self.until_ms is not None:
            out.append(LedgerEntry.created_at < self.until_ms)
        for column, value in (
            (LedgerEntry.model, self.model),
            (LedgerEntry.key_id, self.key_id),
            (LedgerEntry.team_id, self.team_id),
            (LedgerEntry.request_id, self.request_id),
            (LedgerEntry.kind, self.kind),
        ):
            if value is not None:
                out.append(column == value)
        return out


async def events(
    session: AsyncSession, flt: UsageFilter, limit: int, newest_first: bool
) -> tuple[list[LedgerEntry], bool]:
    order = (
        (LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        if newest_first
        else (LedgerEntry.created_at.asc(), LedgerEntry.id.asc())
    )
    rows = list(
        (await session.execute(select(LedgerEntry).where(*flt.where()).order_by(*order).limit(limit + 1))).scalars()
    )
    return rows[:limit], len(rows) > limit


async def totals(session: AsyncSession, flt: UsageFilter) -> tuple[int, Decimal]:
    count, cost = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(LedgerEntry.cost_usd), 0)).where(*flt.where())
        )
    ).one()
    return int(count), Decimal(cost)


GROUPS = ("key", "team", "model", "day")
DAY_MS = 86_400_000


async def grouped(session: AsyncSession, flt: UsageFilter, by: str) -> list[dict[str, Any]]:
    """Usage summed per key, team, model or UTC day (``GROUPS``), largest cost first (days: oldest first)."""
    column: Any = {"key": LedgerEntry.key_id, "team": LedgerEntry.team_id, "model": LedgerEntry.model}.get(
        by, LedgerEntry.created_at // DAY_MS
    )
    stmt = (
        select(
            column,
            func.count(),
            func.coalesce(func.sum(LedgerEntry.prompt_tokens), 0),
            func.coalesce(func.sum(LedgerEntry.completion_tokens), 0),
            func.coalesce(func.sum(LedgerEntry.cost_usd), 0),
        )
        .where(*flt.where())
        .group_by(column)
    )
    out = []
    for value, n, prompt, completion, cost in (await session.execute(stmt)).all():
        if by == "day":
            value = datetime.fromtimestamp(int(value) * DAY_MS / 1000, tz=timezone.utc).date().isoformat()
        name = {"key": "key_id", "team": "team_id"}.get(by, by)
        out.append(
            {
                name: value,
                "requests": int(n),
                "prompt_tokens": int(prompt),
                "completion_tokens": int(completion),
                "cost_usd": usd(Decimal(cost)),
                "_cost": Decimal(cost),
            }
        )
    out.sort(key=lambda g: g["day"] if by == "day" else -g["_cost"])
    for g in out:
        del g["_cost"]
    return out


async def balance_view(session: AsyncSession, owner: str, book: BalanceBook | None) -> dict[str, Any]:
    """The balance object (``available_usd`` as meshapi-code reads it).

    For an account, ``spent_usd`` is what was charged to it (credited - balance + pending), so
    no ledger scan is needed; only owners without an account get a sum over their ledger rows.
    """
    row = (
        await session.execute(select(Balance).where(Balance.owner == owner).execution_options(populate_existing=True))
    ).scalar_one_or_none()
    pending = book.pending.get(owner, Decimal(0)) if book is not None else Decimal(0)
    remote = book.remote.get(owner, Decimal(0)) if book is not None else Decimal(0)
    enforce = book.enforce if book is not None else False
    if row is not None:
        balance, credited, limited = Decimal(row.balance_usd), Decimal(row.credited_usd), True
        spent = credited - balance + pending
    elif enforce and book is not None:
        balance, credited, limited = book.default_credit, book.default_credit, True
        spent = pending
    else:
        balance, credited, limited = Decimal(0), Decimal(0), False
        spent = (await totals(session, UsageFilter(owner)))[1] + pending
    available = balance - pending - remote if limited else Decimal(0)
    return {
        "object": "balance",
        "owner": owner,
        "currency": "USD",
        "available_usd": usd(available),
        "balance_usd": usd(balance),
        "pending_usd": usd(pending),
        "credited_usd": usd(credited),
        "spent_usd": usd(spent),
        "limited": limited,
    }
