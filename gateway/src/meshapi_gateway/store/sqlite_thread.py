"""A SQLite connection of one writer's own, on a thread of its own: a whole batch in one hand-off.

Through the shared async engine every statement is a round trip from the event loop to the
driver's thread and back. Under load each round trip waits for a turn of the busy loop and
for the GIL, and measured 0.2 to 0.5 s a statement on the loaded two-core machine: the request
log's writer, sending a 2,000-row batch as 32 statements, wrote a few hundred rows a second
while more arrived, and its queue (and the process's memory) grew for as long as the load
lasted. Here a batch's statements and its commit run as one call on the writer's thread, so
a batch costs one hand-off whatever its number of statements, and the statements the writer
prepares stay in this one connection's cache instead of in every connection of the engine's
pool.

Only for a database in a file: an in-memory database is private to its connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from sqlalchemy.engine import make_url

T = TypeVar("T")
P = TypeVar("P")


def sqlite_file(url: str) -> str | None:
    """The file of a SQLite database URL (None: not SQLite, or not a plain file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    path = parsed.database
    if not path or path == ":memory:" or path.startswith("file:") or parsed.query.get("uri"):
        return None
    return path


class SQLiteThread:
    """Runs ``work(connection)`` in one transaction on a thread that owns the connection."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # Autocommit mode: the transaction is ours (BEGIN … COMMIT below), not the module's.
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # A many-row INSERT inside our transaction keeps a statement journal (to undo just that statement
            # on a constraint error). Past 64 KiB SQLite spills it to a temporary file in the system's temp
            # folder: under load that was 7 in 10 of the writers' pwrite64 calls, and a copy of the rows'
            # pages outside the data folder. In memory it lives only as long as its statement; this
            # connection runs nothing else that makes temporary tables or sorts.
            conn.execute("PRAGMA temp_store=MEMORY")
            self._conn = conn
        return self._conn

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")  # take the write lock now (waiting up to ``timeout`` for it)
        try:
            out = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return out

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._transaction, work)

    async def run_prepared(self, prepare: Callable[[], P], work: Callable[[sqlite3.Connection, P], T]) -> T:
        """``prepare()`` on the thread, then ``work(connection, prepared)`` in one transaction.

        What needs no database (building rows in Python) runs before ``BEGIN IMMEDIATE``: inside,
        it would hold SQLite's write lock, and the file's other writers would wait it out.
        """
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._prepared, prepare, work)

    def _prepared(self, prepare: Callable[[], P], work: Callable[[sqlite3.Connection, P], T]) -> T:
        ready = prepare()
        return self._transaction(lambda conn: work(conn, ready))

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._close)
        self._pool.shutdown(wait=True)
