"""Helpers for the accounts tests: admin credits and reading the ledger straight from the database."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from meshapi_gateway.store import db
from meshapi_gateway.store.accounts_tables import Balance, LedgerEntry
from sqlalchemy import func, select

from gwtest.harness import Gateway

ADMIN = "admin-token-" + "z" * 32


def credit(gw: Gateway, owner: str, usd: str) -> dict[str, Any]:
    with gw.client(ADMIN) as c:
        r = c.post("/v1/admin/credits", json={"owner": owner, "usd": usd})
    assert r.status_code == 200, r.text
    return r.json()


def database_url_of(gw: Gateway | str) -> str:
    return gw if isinstance(gw, str) else gw.settings.resolved_database_url()


def _run(gw: Gateway | str, query: Any) -> Any:
    async def run() -> Any:
        engine = db.make_engine(database_url_of(gw))
        try:
            async with db.sessionmaker(engine)() as session:
                return await query(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def ledger(gw: Gateway | str, owner: str) -> list[LedgerEntry]:
    async def q(session: Any) -> list[LedgerEntry]:
        return list((await session.execute(select(LedgerEntry).where(LedgerEntry.owner == owner))).scalars())

    return _run(gw, q)  # type: ignore[no-any-return]


def ledger_sum(gw: Gateway | str, owner: str) -> tuple[int, Decimal]:
    async def q(session: Any) -> tuple[int, Decimal]:
        n, total = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(LedgerEntry.cost_usd), 0)).where(LedgerEntry.owner == owner)
            )
        ).one()
        return int(n), Decimal(total)

    return _run(gw, q)  # type: ignore[no-any-return]


def stored_balance(gw: Gateway | str, owner: str) -> Decimal | None:
    async def q(session: Any) -> Decimal | None:
        value = (await session.execute(select(Balance.balance_usd).where(Balance.owner == owner))).scalar_one_or_none()
        return None if value is None else Decimal(value)

    return _run(gw, q)  # type: ignore[no-any-return]
