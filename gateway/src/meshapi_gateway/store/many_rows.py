"""Many rows into one SQLite table per statement: ``INSERT … VALUES (?, …), (?, …), …`` with one flat tuple.

The request log writes hundreds of rows a transaction, behind the requests but on the same
two cores. SQLAlchemy's many-row insert builds a parameter dict per row and runs every value
through its type's processor, which measured about as much CPU as the rest of the write; an
``executemany`` would step row by row, and the sqlite3 module releases the GIL around every
step, so under load each re-acquisition waits out the interpreter's switch interval. Here
the rows' values are chained into one tuple (in C) and bound by the driver, and the statement
steps once. Its text depends only on the number of rows, so a chunk is split into sizes that
are powers of two: a handful of statement texts, each prepared once and kept in the driver's
statement cache.

PostgreSQL's driver runs in the event loop and batches by itself: callers keep SQLAlchemy there.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

# Rows per statement at most; times the columns it stays under SQLite's 32,766 bound variables.
MAX_ROWS = 512


class ManyRowsInsert:
    """The insert of ``columns`` of ``table`` from rows given as sequences in that order."""

    def __init__(self, table: str, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        if MAX_ROWS * len(self.columns) > 32_766:
            raise ValueError(f"{table}: too many columns for {MAX_ROWS} rows a statement")
        self._row = "(" + ", ".join("?" * len(self.columns)) + ")"
        self._sql: dict[int, str] = {}

    def statement(self, rows: int) -> str:
        sql = self._sql.get(rows)
        if sql is None:
            sql = self._sql[rows] = f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES " + ", ".join(
                [self._row] * rows
            )
        return sql

    async def __call__(self, conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values the sqlite3 module binds: str, int, float, bool, bytes, None)."""
        start = 0
        while start < len(rows):
            size = min(MAX_ROWS, 1 << ((len(rows) - start).bit_length() - 1))  # the largest power of two that fits
            chunk = rows[start : start + size]
            await conn.exec_driver_sql(self.statement(size), tuple(chain.from_iterable(chunk)))
            start += size
