"""Database side of the request log: batched inserts, the retention purge, and the queries of ``/v1/logs``.

Rows are listed newest first by (``created_ms``, ``id``); a cursor is the last row's pair,
so a page never repeats or skips a row while new ones arrive.
"""

from __future__ import annotations

import base64
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

import orjson
from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meshapi_gateway.errors import field_error
from meshapi_gateway.money import money
from meshapi_gateway.store.many_rows import ManyRowsInsert
from meshapi_gateway.store.request_log_tables import RequestLog
from meshapi_gateway.write_behind import in_slices

INSERT_CHUNK = 500
# Rows a PostgreSQL ``COPY`` (each is a round trip to the server, and a turn for the event loop).
COPY_CHUNK = 250
PURGE_CHUNK = 5000

# A row's values, in this order (``RequestLogWriter.row``).
COLUMNS = (
    "id",
    "request_id",
    "created_ms",
    "owner",
    "key_id",
    "team_id",
    "endpoint",
    "requested_model",
    "model",
    "deployment",
    "attempts",
    "status",
    "error_code",
    "streamed",
    "ttft_ms",
    "duration_ms",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost",
    "idempotent_replay",
    "cache_status",
    "client_address",
    "user_agent",
    "request_body",
    "response_body",
)
_COST = COLUMNS.index("cost")
_STREAMED, _REPLAY = COLUMNS.index("streamed"), COLUMNS.index("idempotent_replay")
# The columns empty in most rows: written as NULL, not bound, when empty in a whole statement (many_rows.py).
OFTEN_NULL = (
    "key_id",
    "team_id",
    "error_code",
    "ttft_ms",
    "cost",
    "cache_status",
    "client_address",
    "user_agent",
    "request_body",
    "response_body",
)
# The columns holding one value across most statements' rows (one tenant's key, one model, one client):
# bound once a statement when they do (many_rows.py). Each holds one type (text, or int) as the rows are made.
OFTEN_SHARED = (
    "owner",
    "key_id",
    "team_id",
    "endpoint",
    "requested_model",
    "model",
    "deployment",
    "status",
    "error_code",
    "streamed",
    "cached_tokens",
    "idempotent_replay",
    "cache_status",
    "client_address",
    "user_agent",
)
# 32 rows a statement: with a text per set of empty columns, smaller texts keep preparing them cheap (many_rows.py).
_SQLITE_INSERT = ManyRowsInsert(RequestLog.__tablename__, COLUMNS, OFTEN_NULL, max_rows=32, shared=OFTEN_SHARED)


async def write_rows(
    sessions: async_sessionmaker,  # type: ignore[type-arg]
    rows: Sequence[list[Any]],
    retry: bool,
) -> None:
    """One transaction through the engine (PostgreSQL; SQLite not in a file); a retried batch first skips
    the rows its unseen earlier commit already wrote."""
    async with sessions() as session, session.begin():
        present: set[str] = set()
        if retry:
            ids = [r[0] for r in rows]
            for start in range(0, len(ids), INSERT_CHUNK):
                chunk = ids[start : start + INSERT_CHUNK]
                found = await session.execute(select(RequestLog.id).where(RequestLog.id.in_(chunk)))
                present.update(found.scalars())
        todo = [r for r in rows if r[0] not in present] if present else rows
        conn = await session.connection()
        if conn.dialect.driver == "asyncpg":
            await _copy_rows((await conn.get_raw_connection()).driver_connection, todo)
            return
        # A chunk's dicts made just before its statement: the event loop gets a turn at each one's await.
        for start in range(0, len(todo), INSERT_CHUNK):
            dicts = [dict(zip(COLUMNS, r, strict=True)) for r in todo[start : start + INSERT_CHUNK]]
            await session.execute(insert(RequestLog), dicts)


async def _copy_rows(driver: Any, rows: Sequence[list[Any]]) -> None:
    """The rows through asyncpg's binary ``COPY``, ``COPY_CHUNK`` at a time, on the session's connection.

    SQLAlchemy's 500-row insert compiled its statement and ran every value through its type on
    the event loop: 9-13 ms with no turn for other tasks at each statement. ``COPY`` encodes the
    rows in the driver's compiled code, with the same codecs its parameters use, so the stored
    values are the same. The driver's own transaction (a savepoint when the session has already
    begun one, for a retry's look-up) keeps the batch's chunks one unit whatever the session did.
    """
    async with driver.transaction():
        for start in range(0, len(rows), COPY_CHUNK):
            await driver.copy_records_to_table(
                RequestLog.__tablename__, records=rows[start : start + COPY_CHUNK], columns=COLUMNS
            )


def write_rows_sqlite(conn: sqlite3.Connection, rows: Sequence[list[Any]], retry: bool) -> None:
    """``write_rows`` on the writers' SQLite connection, inside its transaction (``SQLiteWriter``)."""
    insert_rows_sqlite(conn, sqlite_values(rows), retry)


def sqlite_values(rows: Sequence[list[Any]]) -> Sequence[list[Any]]:
    """The rows with their values as the sqlite3 module binds them fastest (changed in place).

    Needs no connection: the writer does it before its transaction, not while holding the write lock.
    """
    for r in rows:
        if (
            r[_COST] is not None
        ):  # Numeric binds as a float on SQLite (SQLAlchemy's own conversion), reads back as Decimal
            r[_COST] = float(r[_COST])
        # Stored as 1/0 either way; an exact int skips the sqlite3 module's adapter lookup, which for a bool
        # formats and discards an AttributeError (about 1 us a row, measured on 64-row statements).
        r[_STREAMED] = 1 if r[_STREAMED] else 0
        r[_REPLAY] = 1 if r[_REPLAY] else 0
    return rows


def insert_rows_sqlite(conn: sqlite3.Connection, rows: Sequence[list[Any]], retry: bool) -> None:
    """Rows made by ``sqlite_values`` into the table, inside the caller's transaction; a retried batch
    first skips the rows its unseen earlier commit already wrote."""
    _SQLITE_INSERT(conn, _not_written(conn, rows, retry))


async def insert_rows_yielding(conn: sqlite3.Connection, rows: Sequence[list[Any]], retry: bool) -> None:
    """``insert_rows_sqlite`` on the event loop, ``ROWS_A_SLICE`` rows at a time (a multiple of the statement's
    rows: the same statements as in one go), with a turn for its other tasks when ``Turns`` says so."""
    await in_slices(_not_written(conn, rows, retry), lambda some: _SQLITE_INSERT(conn, some))


def _not_written(conn: sqlite3.Connection, rows: Sequence[list[Any]], retry: bool) -> Sequence[list[Any]]:
    """The rows to insert: on a retry, those an unseen earlier commit did not write."""
    todo = rows
    if retry:
        present: set[str] = set()
        ids = [r[0] for r in rows]
        for start in range(0, len(ids), INSERT_CHUNK):
            chunk = ids[start : start + INSERT_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found = conn.execute(f"SELECT id FROM {RequestLog.__tablename__} WHERE id IN ({marks})", chunk)
            present.update(row[0] for row in found)
        todo = [r for r in rows if r[0] not in present]
    return todo


async def purge(sessions: async_sessionmaker, before_ms: int) -> int:  # type: ignore[type-arg]
    """Remove rows older than ``before_ms``, a chunk per transaction (a long delete would hold SQLite's lock)."""
    removed = 0
    while True:
        async with sessions() as session, session.begin():
            ids = list(
                (
                    await session.execute(
                        select(RequestLog.id).where(RequestLog.created_ms < before_ms).limit(PURGE_CHUNK)
                    )
                ).scalars()
            )
            if not ids:
                return removed
            await session.execute(delete(RequestLog).where(RequestLog.id.in_(ids)))
            removed += len(ids)


@dataclass(slots=True)
class LogFilter:
    owner: str | None = None  # None: every owner (the admin)
    since_ms: int | None = None
    until_ms: int | None = None
    key_id: str | None = None
    team_id: str | None = None
    model: str | None = None  # the answering or the requested model
    status: int | None = None
    error_code: str | None = None
    min_duration_ms: float | None = None


def encode_cursor(created_ms: int, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_ms}:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ms, row_id = text.split(":", 1)
        return int(ms), row_id
    except (ValueError, UnicodeDecodeError):
        raise field_error("cursor", "not a cursor this endpoint returned", value=cursor) from None


def log_conditions(f: LogFilter) -> list[Any]:
    out: list[Any] = []
    if f.owner is not None:
        out.append(RequestLog.owner == f.owner)
    if f.since_ms is not None:
        out.append(RequestLog.created_ms >= f.since_ms)
    if f.until_ms is not None:
        out.append(RequestLog.created_ms < f.until_ms)
    if f.key_id is not None:
        out.append(RequestLog.key_id == f.key_id)
    if f.team_id is not None:
        out.append(RequestLog.team_id == f.team_id)
    if f.model is not None:
        out.append(or_(RequestLog.model == f.model, RequestLog.requested_model == f.model))
    if f.status is not None:
        out.append(RequestLog.status == f.status)
    if f.error_code is not None:
        out.append(RequestLog.error_code == f.error_code)
    if f.min_duration_ms is not None:
        out.append(RequestLog.duration_ms >= f.min_duration_ms)
    return out


async def list_logs(
    session: AsyncSession, f: LogFilter, limit: int, cursor: str | None
) -> tuple[list[RequestLog], str | None]:
    conditions = log_conditions(f)
    if cursor:
        ms, row_id = decode_cursor(cursor)
        conditions.append(or_(RequestLog.created_ms < ms, and_(RequestLog.created_ms == ms, RequestLog.id < row_id)))
    stmt = (
        select(RequestLog)
        .where(*conditions)
        .order_by(RequestLog.created_ms.desc(), RequestLog.id.desc())
        .limit(limit + 1)
    )
    rows = list((await session.execute(stmt)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].created_ms, rows[-1].id) if more and rows else None


async def find_log(session: AsyncSession, request_id: str, owner: str | None) -> RequestLog | None:
    """The newest row of ``request_id`` (a client may reuse its own ids), the owner's own unless admin."""
    stmt = select(RequestLog).where(RequestLog.request_id == request_id)
    if owner is not None:
        stmt = stmt.where(RequestLog.owner == owner)
    stmt = stmt.order_by(RequestLog.created_ms.desc(), RequestLog.id.desc()).limit(1)
    return (await session.execute(stmt)).scalars().first()


def log_view(row: RequestLog, *, detail: bool = False) -> dict[str, Any]:
    """A row as the API shows it; the list leaves out attempts and bodies (``detail`` adds them)."""
    out: dict[str, Any] = {
        "object": "request_log",
        "id": row.id,
        "request_id": row.request_id,
        "created_at": row.created_ms // 1000,
        "created_ms": row.created_ms,
        "owner": row.owner,
        "key_id": row.key_id,
        "team_id": row.team_id,
        "endpoint": row.endpoint,
        "requested_model": row.requested_model,
        "model": row.model,
        "deployment": row.deployment,
        "status": row.status,
        "error_code": row.error_code,
        "streamed": row.streamed,
        "time_to_first_token_ms": row.ttft_ms,
        "duration_ms": row.duration_ms,
        "usage": {
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "cached_tokens": row.cached_tokens,
        },
        "cost": money(Decimal(row.cost)) if row.cost is not None else None,
        "idempotent_replay": row.idempotent_replay,
        "cache_status": row.cache_status,
        "client_address": row.client_address,
        "user_agent": row.user_agent,
    }
    attempts = orjson.loads(row.attempts or "[]")
    out["attempt_count"] = len(attempts)
    if detail:
        out["attempts"] = attempts
        out["request_body"] = row.request_body
        out["response_body"] = row.response_body
    return out
