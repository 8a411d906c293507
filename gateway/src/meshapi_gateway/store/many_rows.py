"""Many rows into one SQLite table per statement: ``INSERT … VALUES (?, …), (?, …), …`` with one flat tuple.

The request log writes hundreds of rows a transaction, behind the requests but on the same
two cores. SQLAlchemy's many-row insert builds a parameter dict per row and runs every value
through its type's processor, which measured about as much CPU as the rest of the write; an
``executemany`` would step row by row, and the sqlite3 module releases the GIL around every
step, so under load each re-acquisition waits out the interpreter's switch interval. Here
the rows' values are chained into one tuple (in C) and bound by the driver, and the statement
steps once. Its text depends on the number of rows, so a chunk is split into sizes that are
powers of two up to ``MAX_ROWS`` (seven sizes), each text prepared once and kept in the
connection's statement cache.

A ``nullable`` column that is None in every row of a chunk is written as a literal ``NULL``
rather than bound: the sqlite3 module binds None (anything but an exact int, float, str or
bytearray) through its adapter registry, whose failed lookup formats an AttributeError and
discards it, about 2,500 instructions a value. The request log's rows leave most of their
optional columns empty (bodies, team, error, time to first token, cache status), so most of
their Nones need no binding. Each set of such columns is a text of its own per size; a
workload has a few (streamed or not, with errors or without), and the module's statement
cache (128 texts) bounds what stays prepared. The empty columns are found, and left out of
the rows, by splitting the chunk into its columns and back (``zip``, in C): no row is taken
apart in Python. (Binding column after column through numbered parameters, ``?N``, would save
the second ``zip``, but SQLite prepares such a text in time quadratic in its parameters, and in
a short run the preparing cost more than the binding saved.)

``MAX_ROWS`` is 64, not more: a prepared statement's size grows with its rows (26 columns:
about 160 KiB at 64 rows, 1.3 MiB at 512), and every connection that ran one keeps it. With
sizes up to 512 the engine's five pooled connections held about 14 MiB of prepared inserts;
CPU per row measured the same at 64 rows a statement as at 512. A table whose rows leave
columns empty in several patterns (``nullable``) has a text per pattern and size, so it may
ask for fewer rows a statement (``max_rows``): the request log takes 32, which halves what
its texts hold prepared and what preparing them costs (each new text is parsed and compiled
once per connection, about 1,800 instructions a value it binds: 1.5 million for a 32-row
text of the log), for about 1 % more CPU per row once all are prepared.

PostgreSQL's driver runs in the event loop and batches by itself: callers keep SQLAlchemy there.
"""

from __future__ import annotations

import sqlite3
from itertools import chain
from operator import itemgetter
from typing import Any, Callable, Sequence

# Rows per statement at most (see above); times the columns it must stay under SQLite's 32,766 bound variables.
MAX_ROWS = 64


class ManyRowsInsert:
    """The insert of ``columns`` of ``table`` from rows given as sequences in that order.

    ``nullable``: the columns often None in every row, written as ``NULL`` when they are (see above).
    """

    def __init__(
        self, table: str, columns: Sequence[str], nullable: Sequence[str] = (), max_rows: int = MAX_ROWS
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.max_rows = max_rows
        if max_rows > MAX_ROWS or max_rows & (max_rows - 1):
            raise ValueError(f"{table}: rows a statement must be a power of two up to {MAX_ROWS}")
        if MAX_ROWS * len(self.columns) > 32_766:
            raise ValueError(f"{table}: too many columns for {MAX_ROWS} rows a statement")
        self._nullable = tuple(map(self.columns.index, nullable))
        # By (rows, the columns written as NULL): the text, and what picks the bound columns.
        self._sql: dict[tuple[int, tuple[int, ...]], tuple[str, Callable[[list[Any]], Any]]] = {}

    def statement(self, rows: int, nulls: tuple[int, ...] = ()) -> tuple[str, Callable[[list[Any]], Any]]:
        """The text for ``rows`` rows with the columns at ``nulls`` as ``NULL``, and the getter of the others."""
        made = self._sql.get((rows, nulls))
        if made is None:
            bound = [i for i in range(len(self.columns)) if i not in nulls]
            row = "(" + ", ".join(["NULL" if c in nulls else "?" for c in range(len(self.columns))]) + ")"
            pick = itemgetter(*bound) if len(bound) > 1 else lambda columns: (columns[bound[0]],)
            sql = f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES " + ", ".join([row] * rows)
            made = self._sql[(rows, nulls)] = (sql, pick)
        return made

    def __call__(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values the sqlite3 module binds: str, int, float, bool, bytes, None)."""
        start = 0
        while start < len(rows):
            size = min(self.max_rows, 1 << ((len(rows) - start).bit_length() - 1))  # the largest power of two that fits
            chunk = rows[start : start + size]
            nulls: tuple[int, ...] = ()
            if self._nullable:
                columns = list(zip(*chunk, strict=True))
                nulls = tuple([i for i in self._nullable if columns[i].count(None) == size])
            sql, pick = self.statement(size, nulls)
            if nulls:  # the chunk's rows again, without the columns written as NULL
                chunk = list(zip(*pick(columns), strict=True))
            conn.execute(sql, tuple(chain.from_iterable(chunk)))
            start += size
