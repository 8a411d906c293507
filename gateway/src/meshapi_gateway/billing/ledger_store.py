"""Database side of billing: the batched ledger write, balance reads and credits.

A batch is one transaction: insert the ledger rows (a row already present — a retried
write — is skipped), then move each owner's balance by the cost of the rows actually
inserted. So the sum of the ledger always equals the change of the balances.
"""

from __future__ import annotations

import time
from collections import defaultdict
from decimal import Decimal
from typing import Any, Sequence

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.billing.usage import UsageRecord
from meshapi_gateway.ids import prefixed
from meshapi_gateway.money import LEDGER_PRECISION
from meshapi_gateway.store.accounts_tables import Balance, Credit, LedgerEntry
from meshapi_gateway.write_behind import rows_in_slices

CENT_PRECISION = LEDGER_PRECISION  # NUMERIC(20, 10): what the database keeps exactly
MAX_CREDIT = Decimal("1000000000")


def credit_amount_problem(amount: Decimal) -> str | None:
    """Why ``amount`` cannot be credited, or ``None``.

    A credit is a whole number of the ledger's smallest unit: a smaller one (``1e-30``) would be
    stored as zero and yet open a limited account with nothing in it.
    """
    if not amount.is_finite() or amount == 0 or abs(amount) > MAX_CREDIT:
        return "must be a non-zero amount of at most 1e9 USD"
    if amount % CENT_PRECISION != 0:
        return f"must be a whole multiple of {CENT_PRECISION:f} USD, the smallest amount the ledger keeps"
    return None


# Rows per INSERT statement. Under load every statement waits about 25 ms for turns of the
# busy event loop and the GIL (measured), so statements must be large for the writer to keep up.
INSERT_CHUNK = 500


# A bill waiting for the ledger: (row id, record, cost quantized to the stored precision, the journal
# segment it was written to (billing/journal.py), 0 without a journal). A plain tuple, one made a bill:
# a slotted dataclass's ``__init__`` cost about 2 k instructions more.
Queued = tuple[str, UsageRecord, Decimal, int]


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _insert(session: AsyncSession, table: Any) -> Any:
    if _dialect(session) == "postgresql":
        # Imported where used: on SQLite the PostgreSQL dialect would be ≈ 2 MiB resident for nothing.
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    return sqlite.insert(table)


# The ledger row's columns in the order both SQLite writers bind them (here and billing/ledger_sqlite.py).
LEDGER_COLUMNS = (
    "id",
    "request_id",
    "owner",
    "key_id",
    "team_id",
    "model",
    "provider",
    "kind",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "created_at",
)
# One fixed statement for any number of rows: they arrive as one JSON array of arrays.
_SQLITE_INSERT = (
    f"INSERT INTO ledger_entries ({', '.join(LEDGER_COLUMNS)}) SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(LEDGER_COLUMNS)))
    + " FROM json_each(?)"
)
_sqlite_json = True  # False once this SQLite turned out to be built without its JSON functions


async def _insert_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert in statements of ``INSERT_CHUNK`` rows.

    On SQLite a chunk is one statement over a JSON array, not an ``executemany``: the
    sqlite3 module releases the GIL around every row it steps, and while the event loop
    keeps the GIL busy each re-acquisition waits out the interpreter's switch interval
    (5 ms), so a writer stepping row by row fell ever further behind a loaded gateway
    (and its queue grew without bound). One statement steps once, and being always the
    same text it is prepared once. PostgreSQL's driver runs in the event loop: nothing to wait for.
    """
    global _sqlite_json
    if _dialect(session) == "sqlite" and _sqlite_json:
        conn = await session.connection()
        for start in range(0, len(rows), INSERT_CHUNK):
            # Numeric binds as a float on SQLite (SQLAlchemy's own conversion) and reads back as Decimal.
            data = orjson.dumps(
                [
                    [float(r["cost_usd"]) if name == "cost_usd" else r[name] for name in LEDGER_COLUMNS]
                    for r in rows[start : start + INSERT_CHUNK]
                ]
            )
            try:
                await conn.exec_driver_sql(_SQLITE_INSERT, (data.decode(),))
            except OperationalError as exc:
                if start or "json" not in str(exc).lower():
                    raise
                _sqlite_json = False  # nothing was written: the statement did not even prepare
                break
        else:
            return
    for start in range(0, len(rows), INSERT_CHUNK):
        await session.execute(insert(LedgerEntry), rows[start : start + INSERT_CHUNK])


def _row(q: Queued) -> dict[str, Any]:
    row_id, r, cost, _ = q
    return {
        "id": row_id,
        "request_id": r.request_id[:300],
        "owner": r.owner,
        "key_id": r.key_id,
        "team_id": r.team_id,
        "model": r.model[:200],
        "provider": (r.provider or "")[:100],
        "kind": r.kind[:32],
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cached_tokens": r.cached_tokens,
        "cost_usd": cost,
        "created_at": int(r.created_at * 1000),
    }


async def write_batch(
    session: AsyncSession, batch: Sequence[Queued], enforce: bool, default_credit: Decimal, retry: bool = False
) -> dict[str, Decimal]:
    """Write one batch in the session's transaction; returns owner → new balance for owners with an account.

    The rows go in as one executemany of a single cached INSERT: compiling a many-row
    ``ON CONFLICT … RETURNING`` statement per batch cost more than the rest of a proxied
    request. A conflict can only come from a retried batch whose earlier commit went
    through unseen, so only a retry first asks which of its rows are already there.
    """
    present: set[str] = set()
    if retry:
        ids = [q[0] for q in batch]
        for start in range(0, len(ids), INSERT_CHUNK):
            chunk = ids[start : start + INSERT_CHUNK]
            found = await session.execute(select(LedgerEntry.id).where(LedgerEntry.id.in_(chunk)))
            present.update(found.scalars())
    todo = [q for q in batch if q[0] not in present] if present else batch
    rows = await rows_in_slices(todo, _row)
    await _insert_rows(session, rows)
    inserted = {q[0] for q in batch} - present
    spent: dict[str, Decimal] = defaultdict(Decimal)
    for row_id, record, cost, _ in batch:
        if row_id in inserted and cost:
            spent[record.owner] += cost
    now = int(time.time())
    balances: dict[str, Decimal] = {}
    for owner in sorted(spent):  # a fixed order: two writers never deadlock on balance rows
        amount = spent[owner]
        if enforce:
            stmt = _insert(session, Balance).values(
                owner=owner,
                balance_usd=default_credit - amount,
                credited_usd=default_credit,
                created_at=now,
                updated_at=now,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["owner"],
                set_={"balance_usd": Balance.balance_usd - amount, "updated_at": now},
            ).returning(Balance.balance_usd)
        else:
            stmt = (
                update(Balance)
                .where(Balance.owner == owner)
                .values(balance_usd=Balance.balance_usd - amount, updated_at=now)
                .returning(Balance.balance_usd)
            )
        value = (await session.execute(stmt)).scalar_one_or_none()
        if value is not None:
            balances[owner] = Decimal(value)
    return balances


async def changed_balances(session: AsyncSession, since: int) -> list[tuple[str, Decimal, int]]:
    rows = await session.execute(
        select(Balance.owner, Balance.balance_usd, Balance.updated_at).where(Balance.updated_at >= since)
    )
    return [(o, Decimal(b), int(u)) for o, b, u in rows]


async def credit(
    session: AsyncSession, owner: str, amount: Decimal, note: str = "", opening: Decimal = Decimal(0)
) -> Balance:
    """Add ``amount`` (negative to debit) to the owner's balance, creating the account at ``opening``; commits."""
    now = int(time.time())
    stmt = _insert(session, Balance).values(
        owner=owner, balance_usd=opening + amount, credited_usd=opening + amount, created_at=now, updated_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["owner"],
        set_={
            "balance_usd": Balance.balance_usd + amount,
            "credited_usd": Balance.credited_usd + amount,
            "updated_at": now,
        },
    )
    await session.execute(stmt)
    session.add(Credit(id=prefixed("cred"), owner=owner, amount_usd=amount, note=note[:500], created_at=now))
    await session.commit()
    row = (
        await session.execute(select(Balance).where(Balance.owner == owner).execution_options(populate_existing=True))
    ).scalar_one()
    return row
