"""The request log's SQLite insert (many rows a statement, bound by the driver, on the writer's own connection)
stores exactly the rows given.

Each row holds every kind of value the log keeps (bools, None, Decimal cost, floats, text
with quotes and non-ASCII characters, bodies): the driver-level insert must store them as
SQLAlchemy's own insert does, in batches of any size.
"""

from __future__ import annotations

import asyncio
import collections
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from meshapi_gateway.config import RequestLogSettings
from meshapi_gateway.observability import log_store
from meshapi_gateway.observability.record import RequestRecord
from meshapi_gateway.observability.request_log import RequestLogWriter
from meshapi_gateway.store import db, many_rows
from meshapi_gateway.store.request_log_tables import RequestLog
from meshapi_gateway.store.sqlite_writer import SQLiteWriter, sqlite_file
from meshapi_gateway.store.tables import Base


def _rows(n: int) -> list[list[Any]]:
    out = []
    for i in range(n):
        values: dict[str, Any] = {
            "id": f"log_{i:05d}",
            "request_id": f"req-{i}",
            "created_ms": 1_700_000_000_000 + i,
            "owner": "acme" if i % 2 else "zoë",
            "key_id": None if i % 3 else f"key_{i}",
            "team_id": None,
            "endpoint": "/v1/chat/completions",
            "requested_model": 'say "hi"' if i % 4 == 0 else None,
            "model": "openai/gpt-4o-mini",
            "deployment": "openai/gpt-4o-mini#0",
            "attempts": '[{"model":"m","outcome":"ok","duration_ms":1.25}]',
            "status": 200 if i % 5 else 502,
            "error_code": None if i % 5 else "upstream_error",
            "streamed": bool(i % 2),
            "ttft_ms": None if i % 2 == 0 else 12.345,
            "duration_ms": 20.5 + i,
            "prompt_tokens": i,
            "completion_tokens": 2 * i,
            "cached_tokens": i % 3,
            "cost": None if i % 7 == 0 else Decimal("0.0000123456") * (i + 1),
            "idempotent_replay": i % 6 == 0,
            "cache_status": "hit" if i % 8 == 0 else None,
            "client_address": "127.0.0.1",
            "user_agent": "tést/1.0 \\ back",
            "request_body": '{"messages":[{"content":"ünïcode \\"quoted\\""}]}' if i % 2 else None,
            "response_body": "line\nbreak\ttab" if i % 2 else None,
        }
        out.append([values[c] for c in log_store.COLUMNS])
    return out


async def _write_and_read(path: Path, rows: list[list[Any]]) -> list[RequestLog]:
    engine = db.make_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = db.sessionmaker(engine)
    writer = SQLiteWriter(str(path))
    await writer.run(lambda c: log_store.write_rows_sqlite(c, [list(r) for r in rows], False))
    await writer.run(lambda c: log_store.write_rows_sqlite(c, [list(r) for r in rows[:3]], True))  # skips what landed
    await writer.aclose()
    async with sessions() as session:
        found = list((await session.execute(select(RequestLog).order_by(RequestLog.id))).scalars())
    await engine.dispose()
    return found


def _check(found: list[RequestLog], rows: list[list[Any]]) -> None:
    assert len(found) == len(rows)
    for got, want in zip(found, rows, strict=True):
        for column, value in zip(log_store.COLUMNS, want, strict=True):
            assert getattr(got, column) == value, column  # cost exact to its ten stored decimals


@pytest.mark.parametrize("n", [1, 7, log_store._SQLITE_INSERT.max_rows * 2 + 7, many_rows.MAX_ROWS * 2 + 7])
def test_rows_land_exactly_in_batches_of_any_size(tmp_path: Path, n: int) -> None:
    rows = _rows(n)
    _check(asyncio.run(_write_and_read(tmp_path / "log.db", rows)), rows)


def test_statements_come_in_a_few_sizes(tmp_path: Path) -> None:
    """A batch of any size is written with statements of power-of-two sizes: few texts to prepare."""
    rows = _rows(1031)
    _check(asyncio.run(_write_and_read(tmp_path / "log.db", rows)), rows)
    sizes = {size for size, _nulls, _once in log_store._SQLITE_INSERT._sql}
    assert {32, 4, 2, 1} <= sizes  # 1031 = 32 * 32 + 4 + 2 + 1
    assert max(sizes) == 32  # a prepared statement's memory grows with its rows: kept small
    assert all(size & (size - 1) == 0 and size <= many_rows.MAX_ROWS for size in sizes)


def test_the_writers_statement_journals_stay_in_memory(tmp_path: Path) -> None:
    """A many-row insert's statement journal would otherwise spill to a file outside the data folder."""

    async def run() -> int:
        writer = SQLiteWriter(str(tmp_path / "log.db"))
        try:
            return int(await writer.run(lambda c: c.execute("PRAGMA temp_store").fetchone()[0]))
        finally:
            await writer.aclose()

    assert asyncio.run(run()) == 2  # MEMORY


async def _write_through_engine(url: str, rows: list[list[Any]]) -> list[RequestLog]:
    engine = db.make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = db.sessionmaker(engine)
    await log_store.write_rows(sessions, [list(r) for r in rows], False)
    await log_store.write_rows(sessions, [list(r) for r in rows[:3]], True)  # skips what landed
    async with sessions() as session:
        found = list((await session.execute(select(RequestLog).order_by(RequestLog.id))).scalars())
    await engine.dispose()
    return found


def test_rows_land_exactly_through_the_engine(database_url: str) -> None:
    """PostgreSQL takes a batch as ``COPY``s of ``COPY_CHUNK`` rows (SQLite not in a file, as inserts): every
    value lands as given."""
    rows = _rows(log_store.COPY_CHUNK + 7)
    _check(asyncio.run(_write_through_engine(database_url, rows)), rows)


async def _write_batch_twice(url: str, n: int) -> list[str]:
    engine = db.make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = db.sessionmaker(engine)
    path = sqlite_file(url)
    writer = RequestLogWriter(sessions, RequestLogSettings(), SQLiteWriter(path) if path else None)
    batch = [RequestRecord(request_id=f"retry-{i}", endpoint="/v1/chat/completions", status=200) for i in range(n)]
    await writer._write(batch, False)
    await writer._write(batch, True)  # as after a commit that landed but was reported failed
    await writer.aclose()
    async with sessions() as session:
        ids = list((await session.execute(select(RequestLog.request_id).order_by(RequestLog.request_id))).scalars())
    await engine.dispose()
    return ids


def test_a_retried_batch_writes_each_record_once(database_url: str) -> None:
    """A retry carries the row ids of the first attempt, so the rows that landed are recognised and skipped."""
    assert asyncio.run(_write_batch_twice(database_url, 5)) == [f"retry-{i}" for i in range(5)]


def test_columns_empty_in_a_whole_statement_are_written_as_null(tmp_path: Path) -> None:
    """A column None in every row of a statement is a NULL in its text, not a bound None (many_rows.py)."""
    log_store._SQLITE_INSERT._sql.clear()  # the texts this test's statements make, only
    rows = _rows(32)
    _check(asyncio.run(_write_and_read(tmp_path / "log.db", rows)), rows)
    team = log_store.COLUMNS.index("team_id")
    [(sql, _pick)] = [made for (size, nulls, _once), made in log_store._SQLITE_INSERT._sql.items() if size == 32]
    assert sql.count("NULL") == 32  # team_id is empty in all 32 rows, the other optional columns in some
    assert [key[1] for key in log_store._SQLITE_INSERT._sql if key[0] == 32] == [(team,)]


def test_columns_holding_one_value_in_a_whole_statement_are_bound_once(tmp_path: Path) -> None:
    """A shared column with one value in every row of a statement is one parameter, named by every row
    (many_rows.py); a shared column whose value varies (owner, status here) stays bound per row."""
    log_store._SQLITE_INSERT._sql.clear()  # the texts this test's statements make, only
    rows = _rows(32)
    _check(asyncio.run(_write_and_read(tmp_path / "log.db", rows)), rows)
    [(_size, nulls, once)] = [key for key in log_store._SQLITE_INSERT._sql if key[0] == 32]
    same = ("endpoint", "model", "deployment", "client_address", "user_agent")  # alike in every row of _rows
    assert once == tuple(log_store.COLUMNS.index(c) for c in same)
    sql, _pick = log_store._SQLITE_INSERT.statement(32, nulls, once)
    per_row = len(log_store.COLUMNS) - len(nulls) - len(once)
    numbered = collections.Counter(re.findall(r"\?(\d+)", sql))
    assert sorted(int(n) for n in numbered) == list(range(1, per_row + len(once) + 1))  # the first row's
    assert {n for n, times in numbered.items() if times == 32} == {str(per_row + i + 1) for i in range(len(once))}
    assert len(re.findall(r"\?(?!\d)", sql)) == 31 * per_row  # every later row's own values


def test_values_alike_in_some_statements_only_land_exactly(tmp_path: Path) -> None:
    """Rows whose shared columns change between statements of one batch: each statement binds its own."""
    rows = _rows(64 + 16 + 4)
    for i, row in enumerate(rows):
        row[log_store.COLUMNS.index("owner")] = "acme" if i < 40 else "zoë"
        row[log_store.COLUMNS.index("status")] = 200 if i < 70 else 429
        row[log_store.COLUMNS.index("model")] = None if i >= 80 else "openai/gpt-4o-mini"
    _check(asyncio.run(_write_and_read(tmp_path / "log.db", rows)), rows)
