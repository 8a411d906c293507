"""Many rows into one SQLite table per statement: ``INSERT … VALUES (?, …), (?, …), …`` with one flat tuple.

The request log writes hundreds of rows a transaction, behind the requests but on the same
two cores. SQLAlchemy's many-row insert builds a parameter dict per row and runs every value
through its type's processor, which measured about as much CPU as the rest of the write; an
``executemany`` would step row by row, and the sqlite3 module releases the GIL around every
step, so under load each re-acquisition waits out the interpreter's switch interval. Here
the rows' values are chained into one tuple (in C) and bound by the driver, and the statement
steps once. Its text depends only on the number of rows, so a chunk is split into sizes that
are powers of two up to ``MAX_ROWS``: seven statement texts, each prepared once and kept in
the connection's statement cache.

``MAX_ROWS`` is 64, not more: a prepared statement's size grows with its rows (26 columns:
about 160 KiB at 64 rows, 1.3 MiB at 512), and every connection that ran one keeps it. With
sizes up to 512 the engine's five pooled connections held about 14 MiB of prepared inserts;
CPU per row measured the same at 64 rows a statement as at 512.

PostgreSQL's driver runs in the event loop and batches by itself: callers keep SQLAlchemy there.
"""

from __future__ import annotations

import sqlite3
from itertools import chain
from typing import Any, Sequence

# Rows per statement at most (see above); times the columns it must stay under SQLite's 32,766 bound variables.
MAX_ROWS = 64


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

    def __call__(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values the sqlite3 module binds: str, int, float, bool, bytes, None)."""
        start = 0
        while start < len(rows):
            size = min(MAX_ROWS, 1 << ((len(rows) - start).bit_length() - 1))  # the largest power of two that fits
            chunk = rows[start : start + size]
            conn.execute(self.statement(size), tuple(chain.from_iterable(chunk)))
            start += size
