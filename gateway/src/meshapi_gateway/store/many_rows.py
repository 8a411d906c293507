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

A ``shared`` column that holds one value in every row of a chunk (the request log's endpoint,
owner, key, model and client address, under most traffic) is bound once for the whole
statement: binding a text copies it into a buffer of SQLite's own and takes the connection's
mutex, about 780 instructions a value, with the GIL held. The first row numbers its parameters
(``?N``) and later rows name the shared ones by number; their own stay plain ``?``, numbered on
from there, so SQLite's lookup of numbered parameters (linear in how many there are) covers one
row's, not every row's. (``INSERT … SELECT ?, column1, … FROM (VALUES …)`` binds as little, but
the subquery's extra pass cost about 1,800 instructions a row of what the binding saved.) A
shared column must hold values of one type, so that equal values are the same stored value
(``1 == 1.0 == True``). Small chunks (under ``_SHARED_FROM`` rows) are left as they are: their
texts would outnumber what they save.

The statement is ``INSERT OR FAIL``: on a constraint error it stops where it is, rather than
undoing its earlier rows as the default (``ABORT``) does. Undoing needs a statement journal, a
copy of every page the statement touches that the transaction had before it (the last page of
each of the table's b-trees, for every statement), taken whether or not an error comes: about
2 k instructions a row of the ledger's and of the request log's (``bench/writer_cost.py``). The
callers lose nothing by it: their rows are inserted inside a transaction of their own, which any
error rolls back whole (``SQLiteWriter.transaction``).

PostgreSQL's driver runs in the event loop and batches by itself: callers keep SQLAlchemy there.
"""

from __future__ import annotations

import sqlite3
from itertools import chain
from operator import itemgetter
from typing import Any, Callable, Sequence

# Rows per statement at most (see above); times the columns it must stay under SQLite's 32,766 bound variables.
MAX_ROWS = 64
# Texts kept at most (a workload has a few patterns of empty and shared columns; a bound all the same).
_MAX_TEXTS = 256
# Rows a chunk needs before its shared columns are bound once (see above).
_SHARED_FROM = 4


class ManyRowsInsert:
    """The insert of ``columns`` of ``table`` from rows given as sequences in that order.

    ``nullable``: the columns often None in every row, written as ``NULL`` when they are (see above).
    ``shared``: the columns often holding one value in every row, bound once when they do (see above).
    """

    def __init__(
        self,
        table: str,
        columns: Sequence[str],
        nullable: Sequence[str] = (),
        max_rows: int = MAX_ROWS,
        shared: Sequence[str] = (),
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.max_rows = max_rows
        if max_rows > MAX_ROWS or max_rows & (max_rows - 1):
            raise ValueError(f"{table}: rows a statement must be a power of two up to {MAX_ROWS}")
        if MAX_ROWS * len(self.columns) > 32_766:
            raise ValueError(f"{table}: too many columns for {MAX_ROWS} rows a statement")
        self._nullable = tuple(map(self.columns.index, nullable))
        self._shared = tuple(map(self.columns.index, shared))
        if len(self._shared) >= len(self.columns):
            raise ValueError(f"{table}: at least one column must be bound per row")
        # By (rows, the columns written as NULL, the columns bound once): the text, and what picks the
        # columns bound per row.
        self._sql: dict[tuple[int, tuple[int, ...], tuple[int, ...]], tuple[str, Callable[[list[Any]], Any]]] = {}

    def statement(
        self, rows: int, nulls: tuple[int, ...] = (), once: tuple[int, ...] = ()
    ) -> tuple[str, Callable[[list[Any]], Any]]:
        """The text for ``rows`` rows with the columns at ``nulls`` as ``NULL`` and those at ``once`` bound
        once for every row, and the getter of the columns bound per row."""
        made = self._sql.get((rows, nulls, once))
        if made is None:
            if len(self._sql) >= _MAX_TEXTS:
                self._sql.clear()
            bound = [i for i in range(len(self.columns)) if i not in nulls and i not in once]
            pick = itemgetter(*bound) if len(bound) > 1 else lambda columns: (columns[bound[0]],)
            head = f"INSERT OR FAIL INTO {self.table} ({', '.join(self.columns)}) "
            if once:
                # The first row numbers its parameters (``?N``): its own values first, then the values bound
                # once, which later rows name by number; their other parameters follow (``?``), numbered on.
                first = {c: n for n, c in enumerate(bound, 1)}
                first.update({c: n for n, c in enumerate(once, len(bound) + 1)})
                one = ["NULL" if c in nulls else f"?{first[c]}" for c in range(len(self.columns))]
                rest = [
                    "NULL" if c in nulls else f"?{first[c]}" if c in once else "?" for c in range(len(self.columns))
                ]
                texts = ["(" + ", ".join(one) + ")"] + ["(" + ", ".join(rest) + ")"] * (rows - 1)
                sql = head + "VALUES " + ", ".join(texts)
            else:
                row = "(" + ", ".join(["NULL" if c in nulls else "?" for c in range(len(self.columns))]) + ")"
                sql = head + "VALUES " + ", ".join([row] * rows)
            made = self._sql[(rows, nulls, once)] = (sql, pick)
        return made

    def __call__(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values the sqlite3 module binds: str, int, float, bool, bytes, None)."""
        start = 0
        while start < len(rows):
            size = min(self.max_rows, 1 << ((len(rows) - start).bit_length() - 1))  # the largest power of two that fits
            chunk = rows[start : start + size]
            nulls: tuple[int, ...] = ()
            once: tuple[int, ...] = ()
            if self._nullable or self._shared:
                columns = list(zip(*chunk, strict=True))
                # A column whose first value is there needs no count (a plain completion's key, cost, client
                # and user agent): counting them was two thirds of this line's cost.
                nulls = tuple([i for i in self._nullable if columns[i][0] is None and columns[i].count(None) == size])
                if size >= _SHARED_FROM:
                    once = tuple(
                        [i for i in self._shared if i not in nulls and columns[i].count(columns[i][0]) == size]
                    )
            sql, pick = self.statement(size, nulls, once)
            if once:
                each = zip(*pick(columns), strict=True)
                values = tuple(chain(next(each), [columns[i][0] for i in once], chain.from_iterable(each)))
            elif nulls:  # the chunk's rows again, without the columns written as NULL
                values = tuple(chain.from_iterable(zip(*pick(columns), strict=True)))
            else:
                values = tuple(chain.from_iterable(chunk))
            conn.execute(sql, values)
            start += size
