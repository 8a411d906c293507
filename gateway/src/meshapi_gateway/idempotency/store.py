"""The database copy of idempotency answers: written behind the requests, read at start-up.

Requests never wait on this module. The in-memory table (``memory.py``) or Redis
(``shared.py``) decides who runs a key; this table only keeps finished answers so a
restarted gateway (or a Redis that lost its data) can still replay them. Writes are
batched upserts on the (owner, key) primary key, so writing the same answer twice —
a retried batch, two replicas — is harmless.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from typing import AsyncIterator, Sequence

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meshapi_gateway.store.idempotency_tables import IdempotencyKey
from meshapi_gateway.store.sqlite_writer import SQLiteWriter
from meshapi_gateway.write_behind import Turns

DONE = "done"
LOAD_BATCH_ROWS = 500


@dataclass(slots=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(slots=True)
class FinishedKey:
    """One remembered answer, as the table keeps it."""

    owner: str
    key_hash: str
    fingerprint: str
    response: StoredResponse
    created_at: int
    expires_at: int


def _row_values(item: FinishedKey) -> dict[str, object]:
    return {
        "owner": item.owner,
        "key_hash": item.key_hash,
        "fingerprint": item.fingerprint,
        "state": DONE,
        "status": item.response.status,
        "headers": orjson.dumps(item.response.headers).decode(),
        "body": item.response.body,
        "created_at": item.created_at,
        "expires_at": item.expires_at,
    }


def _finished(row: IdempotencyKey) -> FinishedKey:
    headers = [(str(k), str(v)) for k, v in orjson.loads(row.headers or "[]")]
    return FinishedKey(
        row.owner,
        row.key_hash,
        row.fingerprint,
        StoredResponse(int(row.status or 0), headers, row.body or b""),
        row.created_at,
        row.expires_at,
    )


_COLUMNS = ("owner", "key_hash", "fingerprint", "state", "status", "headers", "body", "created_at", "expires_at")
# Rows per SQLite statement: its limit of bound parameters is 32,766 (999 before 3.32).
SQLITE_ROWS = 500 if sqlite3.sqlite_version_info >= (3, 32) else 100


@lru_cache(maxsize=16)
def _sqlite_upsert(rows: int) -> str:
    one = "(" + ", ".join("?" * len(_COLUMNS)) + ")"
    changed = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:])
    return (
        f"INSERT INTO idempotency_keys ({', '.join(_COLUMNS)}) VALUES {', '.join([one] * rows)} "
        f"ON CONFLICT (owner, key_hash) DO UPDATE SET {changed}"
    )


def statement_sizes(rows: int) -> list[int]:
    """Full statements, then the rest as powers of two: only a handful of texts are ever prepared."""
    sizes = [SQLITE_ROWS] * (rows // SQLITE_ROWS)
    rest = rows % SQLITE_ROWS
    while rest:
        size = 1 << (rest.bit_length() - 1)
        sizes.append(size)
        rest -= size
    return sizes


def _params(rows: list[dict[str, object]]) -> list[tuple[str, tuple[object, ...]]]:
    """Large multi-row statements of text made once per size.

    Behind a busy event loop every statement waits tens of milliseconds for its turn (and
    for the GIL, which the driver's thread must take back after each step), so a writer of
    50-row statements compiled per batch fell behind a loaded gateway and its queue grew.
    """
    out = []
    start = 0
    for size in statement_sizes(len(rows)):
        out.append((_sqlite_upsert(size), tuple(row[c] for row in rows[start : start + size] for c in _COLUMNS)))
        start += size
    return out


async def _write_sqlite(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    conn = await session.connection()
    for sql, params in _params(rows):
        await conn.exec_driver_sql(sql, params)


async def _write_sqlite_yielding(conn: sqlite3.Connection, rows: list[dict[str, object]]) -> None:
    """The statements on the writers' connection, on the event loop: between two, a turn for its other tasks
    when ``Turns`` says so, as the other writers take theirs."""
    turns = Turns()
    for n, (sql, params) in enumerate(_params(rows)):
        if n:
            await turns.take()
        conn.execute(sql, params)


def _upsert(session: AsyncSession, rows: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database: {dialect}")
    stmt = insert(IdempotencyKey).values(rows)
    changed = {
        name: stmt.excluded[name]
        for name in ("fingerprint", "state", "status", "headers", "body", "created_at", "expires_at")
    }
    return stmt.on_conflict_do_update(index_elements=["owner", "key_hash"], set_=changed)


class IdempotencyStore:
    def __init__(self, sessions: async_sessionmaker, sqlite: SQLiteWriter | None = None) -> None:  # type: ignore[type-arg]
        self.sessions = sessions
        # A SQLite file: a batch is written through the writers' connection on the event loop (store/sqlite_writer.py).
        self.sqlite = sqlite

    async def write(self, items: Sequence[FinishedKey]) -> None:
        """Upsert finished answers in one transaction (the newest of duplicates wins)."""
        latest: dict[tuple[str, str], FinishedKey] = {}
        for item in items:
            latest[(item.owner, item.key_hash)] = item
        if not latest:
            return
        rows = [_row_values(item) for item in latest.values()]
        if self.sqlite is not None:
            async with self.sqlite.transaction() as conn:
                await _write_sqlite_yielding(conn, rows)
            return
        async with self.sessions() as session, session.begin():
            if session.get_bind().dialect.name == "sqlite":
                await _write_sqlite(session, rows)
                return
            # A few rows per statement: bodies can be large.
            for start in range(0, len(rows), 50):
                await session.execute(_upsert(session, rows[start : start + 50]))

    async def load(self, now: int) -> AsyncIterator[FinishedKey]:
        """Every unexpired answer, oldest first (start-up preload: the memory table keeps expiry order)."""
        query = (
            select(IdempotencyKey)
            .where(IdempotencyKey.expires_at > now, IdempotencyKey.state == DONE)
            .order_by(IdempotencyKey.expires_at)
            .execution_options(yield_per=LOAD_BATCH_ROWS)
        )
        async with self.sessions() as session:
            result = await session.stream_scalars(query)
            async for row in result:
                yield _finished(row)

    async def find(self, owner: str, key_hash: str, now: int) -> FinishedKey | None:
        """One answer (only for keys whose body the memory table let go)."""
        async with self.sessions() as session:
            row = await session.get(IdempotencyKey, (owner, key_hash))
            if row is None or row.state != DONE or row.expires_at <= now:
                return None
            return _finished(row)

    async def purge(self, now: int) -> int:
        async with self.sessions() as session:
            result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
            await session.commit()
            return int(result.rowcount or 0)

    async def aclose(self) -> None:
        if self.sqlite is not None:
            await self.sqlite.aclose()

    async def count(self) -> int:
        async with self.sessions() as session:
            return int((await session.execute(select(func.count()).select_from(IdempotencyKey))).scalar_one())
