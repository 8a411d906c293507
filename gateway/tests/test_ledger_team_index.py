"""Migration 0011 (the ledger's team index for rows with a team only) on a ledger that has rows: the rows
stay, and spend by team and by key reads the same, through the index, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select, text

from meshapi_gateway.governance.spend import ledger_spend
from meshapi_gateway.store import db
from meshapi_gateway.store.accounts_tables import LedgerEntry

NOW = 1_800_000_000.0  # a fixed time, so the month's period holds every row below


def _upgrade(url: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, revision)


def test_team_spend_after_the_migration(database_url: str) -> None:
    _upgrade(database_url, "0010_audit")
    rows = [
        # (id, team, cost): two teams, and rows without one (keys outside any team)
        ("led_1", "team_a", "0.25"),
        ("led_2", "team_a", "0.50"),
        ("led_3", "team_b", "1.00"),
        ("led_4", None, "2.00"),
        ("led_5", None, "4.00"),
    ]

    async def fill() -> None:
        engine = db.make_engine(database_url)
        async with db.sessionmaker(engine)() as session, session.begin():
            for row_id, team, cost in rows:
                session.add(
                    LedgerEntry(
                        id=row_id,
                        request_id="req_" + row_id,
                        owner="acme",
                        key_id="key_1",
                        team_id=team,
                        model="m",
                        provider="p",
                        kind="chat",
                        prompt_tokens=1,
                        completion_tokens=1,
                        cached_tokens=0,
                        cost_usd=Decimal(cost),
                        created_at=int(NOW * 1000),
                    )
                )
        await engine.dispose()

    asyncio.run(fill())
    _upgrade(database_url, "head")

    async def read() -> None:
        engine = db.make_engine(database_url)
        async with db.sessionmaker(engine)() as session:
            assert (await session.execute(select(func.count()).select_from(LedgerEntry))).scalar_one() == 5
            assert await ledger_spend(session, "team_a", "monthly", NOW, team=True) == Decimal("0.75")
            assert await ledger_spend(session, "team_b", "monthly", NOW, team=True) == Decimal("1.00")
            assert await ledger_spend(session, "team_none", "monthly", NOW, team=True) == Decimal(0)
            assert await ledger_spend(session, "key_1", "monthly", NOW) == Decimal("7.75")
            # The queries by team (one team's spend, the budget refresher's sums) still find their rows through the
            # (now partial) index, not by reading the table.
            if engine.dialect.name != "sqlite":
                await session.execute(text("SET enable_seqscan = off"))  # a five-row table is read whole otherwise
            for where in ("team_id = 'team_a'", "team_id IN ('team_a', 'team_b')"):
                query = f"SELECT team_id, sum(cost_usd) FROM ledger_entries WHERE {where} AND created_at >= 0"
                query += " GROUP BY team_id"
                if engine.dialect.name == "sqlite":
                    found = await session.execute(text("EXPLAIN QUERY PLAN " + query))
                    plan = " ".join(r[3] for r in found.all())
                else:
                    plan = " ".join(r[0] for r in (await session.execute(text("EXPLAIN " + query))).all())
                assert "ix_ledger_team_created" in plan, plan
        await engine.dispose()

    asyncio.run(read())
