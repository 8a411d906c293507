"""The ledger's batch write on the writers' SQLite connection (``store/sqlite_writer.py``).

Through the async engine each of a batch's statements (the insert chunks, one balance update
per owner) was a round trip from the event loop to the driver's thread, and each paid for a
SQLAlchemy session, a compiled statement and a turn of the busy loop. Here the whole batch,
its commit included, is one call on the writer's thread. It does what ``ledger_store.write_batch``
does, with the same rules: a retried batch first skips the rows its unseen earlier commit wrote,
and balances move by the cost of the rows actually inserted, so the ledger's sum still equals
the change of the balances.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any, Sequence

from meshapi_gateway.billing.cost import PLACES
from meshapi_gateway.billing.ledger_store import INSERT_CHUNK, LEDGER_COLUMNS, Queued
from meshapi_gateway.store.accounts_tables import Balance, LedgerEntry
from meshapi_gateway.store.many_rows import ManyRowsInsert
from meshapi_gateway.write_behind import in_slices

# A key_id or team_id is None for whole batches (calls outside a key or a team): written as NULL, not bound
# (store/many_rows.py says what binding None costs). The owner, key, team, model, provider and kind are often
# one value across a chunk (one busy caller): bound once for it then, 4.3 k of 35.6 k instructions a row
# less (callgrind, 100-row transactions), as the request log binds its shared columns.
_INSERT = ManyRowsInsert(
    LedgerEntry.__tablename__,
    LEDGER_COLUMNS,
    nullable=("key_id", "team_id"),
    shared=("owner", "key_id", "team_id", "model", "provider", "kind"),
)
_B = Balance.__tablename__
# SQLAlchemy's statements of ``write_batch``, spelled out (money binds as a float on SQLite, as SQLAlchemy binds it).
_OPEN_OR_SPEND = (
    f"INSERT INTO {_B} (owner, balance_usd, credited_usd, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (owner) DO UPDATE SET balance_usd = balance_usd - ?, updated_at = ? RETURNING balance_usd"
)
_SPEND = f"UPDATE {_B} SET balance_usd = balance_usd - ?, updated_at = ? WHERE owner = ? RETURNING balance_usd"
_UNITS_A_USD = 10**PLACES  # the budget counters' units in one USD (``row_sqlite``)
# How SQLAlchemy reads a NUMERIC(20, 10) back from SQLite (a float or an int): to ten places, then Decimal.
_MONEY_TEXT = "%.10f"


def row_sqlite(q: Queued) -> tuple[Any, ...]:
    """A queued record's row as the sqlite3 module binds it.

    The cost binds as ``float(cost)`` (SQLAlchemy's binding of a Numeric on SQLite). A record priced from
    integers carries its cost in counter units (``billing.cost``: 10^-10 USD, rounded half to even as the
    queued cost was quantized), so the queued cost is exactly ``units`` times 10^-10 and its float is the
    int quotient, which Python rounds once, to the same float (``test_billing_cost.py``), without the
    Decimal's conversion through its text: 0.9 k instructions a row less for the bench's zero-priced
    rows (``bench/writer_cost.py``), up to the 1.7 k ``billing.cost.price`` found for a cost with digits.
    """
    row_id, r, cost, _ = q
    units = r.cost_units
    return (
        row_id,
        r.request_id[:300],
        r.owner,
        r.key_id,
        r.team_id,
        r.model[:200],
        (r.provider or "")[:100],
        r.kind[:32],
        r.prompt_tokens,
        r.completion_tokens,
        r.cached_tokens,
        float(cost) if units is None else units / _UNITS_A_USD,
        int(r.created_at * 1000),
    )


def rows_sqlite(batch: Sequence[Queued]) -> list[tuple[Any, ...]]:
    """The batch's rows, in its order. Needs no connection: the writer builds them before ``BEGIN``
    (about 1 us a row that would otherwise be spent holding the file's write lock)."""
    return [row_sqlite(q) for q in batch]


def write_batch_sqlite(
    conn: sqlite3.Connection,
    batch: Sequence[Queued],
    enforce: bool,
    default_credit: Decimal,
    retry: bool,
    rows: Sequence[tuple[Any, ...]] | None = None,
) -> dict[str, Decimal]:
    """``ledger_store.write_batch`` inside the caller's transaction; owner → new balance.

    ``rows``: ``rows_sqlite(batch)`` made beforehand. The retry's check stays in here: what an unseen
    earlier commit wrote is only known under the lock.
    """
    if rows is None:
        rows = rows_sqlite(batch)
    inserted, rows = _not_written(conn, batch, rows, retry)
    _INSERT(conn, rows)
    return _spend(conn, inserted, enforce, default_credit)


async def write_batch_yielding(
    conn: sqlite3.Connection,
    batch: Sequence[Queued],
    enforce: bool,
    default_credit: Decimal,
    retry: bool,
    rows: Sequence[tuple[Any, ...]],
) -> dict[str, Decimal]:
    """``write_batch_sqlite`` on the event loop, ``ROWS_A_SLICE`` rows inserted at a time, with a turn for its
    other tasks when ``Turns`` says so (the transaction stays open meanwhile)."""
    inserted, rows = _not_written(conn, batch, rows, retry)
    await in_slices(rows, lambda some: _INSERT(conn, some))
    return _spend(conn, inserted, enforce, default_credit)


def _not_written(
    conn: sqlite3.Connection, batch: Sequence[Queued], rows: Sequence[tuple[Any, ...]], retry: bool
) -> tuple[Sequence[Queued], Sequence[tuple[Any, ...]]]:
    """The records and rows to insert: on a retry, those an unseen earlier commit did not write."""
    present: set[str] = set()
    if retry:
        ids = [q[0] for q in batch]
        for start in range(0, len(ids), INSERT_CHUNK):
            chunk = ids[start : start + INSERT_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found = conn.execute(f"SELECT id FROM {LedgerEntry.__tablename__} WHERE id IN ({marks})", chunk)
            present.update(row[0] for row in found)
    if not present:
        return batch, rows
    kept = [i for i, q in enumerate(batch) if q[0] not in present]
    return [batch[i] for i in kept], [rows[i] for i in kept]


def _spend(
    conn: sqlite3.Connection, inserted: Sequence[Queued], enforce: bool, default_credit: Decimal
) -> dict[str, Decimal]:
    """Balances moved by the cost of the rows inserted; owner → new balance."""
    spent: dict[str, Decimal] = defaultdict(Decimal)
    for _, record, cost, _ in inserted:
        if cost:
            spent[record.owner] += cost
    now = int(time.time())
    balances: dict[str, Decimal] = {}
    for owner in sorted(spent):  # the order ``write_batch`` keeps, for the same reason
        amount = float(spent[owner])
        if enforce:
            opening = float(default_credit - spent[owner])
            found = conn.execute(_OPEN_OR_SPEND, (owner, opening, float(default_credit), now, now, amount, now))
        else:
            found = conn.execute(_SPEND, (amount, now, owner))
        got = found.fetchall()
        if got and got[0][0] is not None:
            balances[owner] = Decimal(_MONEY_TEXT % got[0][0])
    return balances
