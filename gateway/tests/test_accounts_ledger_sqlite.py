"""The SQLite ledger writes store exactly what was billed: the engine's insert (one JSON-array statement per
chunk) and the writer thread's batch (``ledger_sqlite``), which must leave the same rows and balances."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from meshapi_gateway.billing import ledger_store
from meshapi_gateway.billing.ledger_sqlite import write_batch_sqlite
from meshapi_gateway.billing.ledger_store import Queued, credit, write_batch
from meshapi_gateway.billing.queries import UsageFilter, events, totals
from meshapi_gateway.billing.usage import UsageRecord
from meshapi_gateway.store import db
from meshapi_gateway.store.accounts_tables import Balance, LedgerEntry
from meshapi_gateway.store.sqlite_writer import SQLiteWriter
from meshapi_gateway.store.tables import Base
from sqlalchemy import select, text


def _batch(n: int) -> list[Queued]:
    out = []
    for i in range(n):
        cost = Decimal("0.0000123456") * (i + 1)
        record = UsageRecord(
            request_id=f"req_{i}",
            owner="acme" if i % 2 else "zen",
            key_id=None if i % 3 else f"key_{i}",
            model="openai/gpt-4o-mini",
            provider="openai_compat",
            prompt_tokens=i,
            completion_tokens=2 * i,
            cached_tokens=i % 5,
            cost=cost,
            kind="chat",
            created_at=1.7e9 + i,
        )
        out.append((f"led_{i:05d}", record, cost, 0))
    return out


async def _write_and_read(path: Path, batch: list[Queued]) -> list[LedgerEntry]:
    engine = db.make_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = db.sessionmaker(engine)
    async with sessions() as session, session.begin():
        await write_batch(session, batch, False, Decimal(0))
    async with sessions() as session:
        rows = list((await session.execute(select(LedgerEntry).order_by(LedgerEntry.id))).scalars())
    await engine.dispose()
    return rows


def _check(rows: list[LedgerEntry], batch: list[Queued]) -> None:
    assert len(rows) == len(batch)
    for row, (row_id, r, cost, _) in zip(rows, batch):
        assert (row.id, row.request_id, row.owner, row.key_id, row.model, row.kind) == (
            row_id,
            r.request_id,
            r.owner,
            r.key_id,
            r.model,
            r.kind,
        )
        assert (row.prompt_tokens, row.completion_tokens, row.cached_tokens) == (
            r.prompt_tokens,
            r.completion_tokens,
            r.cached_tokens,
        )
        assert row.cost_usd == cost  # exact to the stored ten decimal places
        assert row.created_at == int(r.created_at * 1000)


def test_rows_of_several_chunks_land_exactly(tmp_path: Path) -> None:
    batch = _batch(ledger_store.INSERT_CHUNK * 2 + 7)
    _check(asyncio.run(_write_and_read(tmp_path / "ledger.db", batch)), batch)


def test_an_sqlite_without_json_functions_still_gets_every_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = ledger_store._SQLITE_INSERT.replace("json_each", "json_missing")
    monkeypatch.setattr(ledger_store, "_SQLITE_INSERT", broken)
    monkeypatch.setattr(ledger_store, "_sqlite_json", True)
    batch = _batch(30)
    _check(asyncio.run(_write_and_read(tmp_path / "ledger.db", batch)), batch)
    assert ledger_store._sqlite_json is False  # the fallback is remembered


async def _both_ways(path: Path, batch: list[Queued], enforce: bool, thread: bool) -> tuple[list[Any], ...]:
    """Write ``batch`` twice (the second time as a retry) through the engine or the writer thread; what came of it."""
    engine = db.make_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = db.sessionmaker(engine)
    async with sessions() as session:
        await credit(session, "acme", Decimal("3"))  # an account; "zen" has none unless enforced
    opening = Decimal("1.5")
    returned = []
    writer = SQLiteWriter(str(path))
    try:
        for retry in (False, True):
            if thread:
                got = await writer.run(lambda conn: write_batch_sqlite(conn, batch, enforce, opening, retry))
            else:
                async with sessions() as session, session.begin():
                    got = await write_batch(session, batch, enforce, opening, retry)
            returned.append(got)
    finally:
        await writer.aclose()
    async with sessions() as session:
        rows = list((await session.execute(select(LedgerEntry).order_by(LedgerEntry.id))).scalars())
        balances = [
            (b.owner, b.balance_usd, b.credited_usd) for b in (await session.execute(select(Balance))).scalars()
        ]
    await engine.dispose()
    return returned, [(r.id, r.owner, r.key_id, r.cost_usd, r.created_at) for r in rows], sorted(balances)


@pytest.mark.parametrize("enforce", [False, True])
def test_the_writer_thread_leaves_what_the_engine_leaves(tmp_path: Path, enforce: bool) -> None:
    batch = _batch(41)
    by_engine = asyncio.run(_both_ways(tmp_path / "engine.db", batch, enforce, thread=False))
    by_thread = asyncio.run(_both_ways(tmp_path / "thread.db", batch, enforce, thread=True))
    assert by_thread == by_engine
    returned, rows, balances = by_thread
    assert len(rows) == len(batch) and returned[1] == {}  # the retry found every row there: nothing billed twice
    spent = {o: sum((cost for _, r, cost, _ in batch if r.owner == o), Decimal(0)) for o in ("acme", "zen")}
    assert returned[0]["acme"] == Decimal("3") - spent["acme"]
    assert ("zen" in returned[0]) is enforce
    if enforce:
        assert returned[0]["zen"] == Decimal("1.5") - spent["zen"]
        assert ("zen", Decimal("1.5") - spent["zen"], Decimal("1.5")) in balances


def test_a_usage_lookup_by_request_id_reads_that_request_s_rows_not_the_owner_s(tmp_path: Path) -> None:
    # GET /v1/usage?request_id=...: a large owner's lookup must not walk all of the owner's rows.
    async def run() -> tuple[list[str], list[LedgerEntry], int]:
        engine = db.make_engine(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}")
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sessions = db.sessionmaker(engine)
        async with sessions() as session, session.begin():
            await write_batch(session, _batch(40), False, Decimal(0))
        flt = UsageFilter("acme", request_id="req_7")
        plans = []
        async with sessions() as session:
            order = (LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
            lookups = (
                select(LedgerEntry).where(*flt.where()).order_by(*order),
                select(LedgerEntry).where(*flt.where()),
            )
            for stmt in lookups:
                compiled = stmt.compile(engine.sync_engine, compile_kwargs={"literal_binds": True})
                found = await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
                plans.append(" ".join(str(r[-1]) for r in found))
            rows, _ = await events(session, flt, 10, newest_first=True)
            count, _ = await totals(session, flt)
            none, _ = await events(session, UsageFilter("zen", request_id="req_7"), 10, newest_first=True)
        await engine.dispose()
        assert not none  # the owner still guards the lookup
        return plans, rows, count

    plans, rows, count = asyncio.run(run())
    for plan in plans:
        assert "request_id" in plan and "owner" not in plan.split("USING")[1], plan
    assert [r.request_id for r in rows] == ["req_7"] and count == 1
