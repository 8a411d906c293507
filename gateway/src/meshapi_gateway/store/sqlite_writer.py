"""The writers' SQLite connection: one for the ledger, the request log and the idempotency answers, on the event loop.

Through the async engine every statement was a round trip to the driver's thread, and under
load each waited for a turn of the busy loop and for the GIL (0.2 to 0.5 s a statement on the
loaded two-core machine). A thread of each writer's own (a batch one hand-off) fixed that, but
still handed the GIL back and forth: the sqlite3 module drops it around every step, uvloop at
every epoll, and the writer slept between slices of rows so the loop got a turn; measured
under load, about half of what the request log cost was those hand-offs rather than its work.
Here the batches run on the loop's own thread, as the PostgreSQL writers' do, with a turn for
the loop's other tasks between slices (``write_behind.Turns``: once 1 ms of work ran): no other thread
takes the GIL, so dropping it costs next to nothing.

Two things must not happen on the loop, and do not:

* waiting for SQLite's write lock: the connection never waits (``busy_timeout`` 0); a
  ``BEGIN IMMEDIATE`` that finds the file locked (another process, or the engine) is retried
  after an ``asyncio.sleep``, for up to ``timeout`` seconds as the thread's busy handler did;
* a checkpoint, which syncs the file: this connection never checkpoints on its own
  (``wal_autocheckpoint`` 0); a passive checkpoint runs on a thread, at most every
  ``CHECKPOINT_SECONDS`` after a commit (the engine's connections keep SQLite's default).

The writers of one file share one connection (``shared``) and take turns on its transaction
(an ``asyncio.Lock``): a batch written in slices keeps its transaction open across turns of
the loop, and a second connection of this process would only find the file locked.

Only for a database in a file: an in-memory database is private to its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import AsyncIterator, Awaitable, Callable, TypeVar

from sqlalchemy.engine import make_url

T = TypeVar("T")
P = TypeVar("P")

# A checkpoint at most this often: SQLite's own (every 1,000 pages of log) came about once a second under load.
CHECKPOINT_SECONDS = 1.0
# Bytes of write-ahead log kept after it starts over: above what a second of the writers' commits fills (the log
# without the request log stayed at 3.9 MiB), so a steady load does not cut and regrow it every checkpoint.
WAL_SIZE_LIMIT = 8 * 1024 * 1024
# The first wait for a locked file, doubled up to the last.
LOCKED_FIRST_SECONDS = 0.001
LOCKED_MAX_SECONDS = 0.05


def sqlite_file(url: str) -> str | None:
    """The file of a SQLite database URL (None: not SQLite, or not a plain file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    path = parsed.database
    if not path or path == ":memory:" or path.startswith("file:") or parsed.query.get("uri"):
        return None
    return path


def _locked(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED, with any extended code."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SQLiteWriter:
    """Runs a writer's work in one transaction of a connection on the event loop's thread."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._turn = asyncio.Lock()
        self._users = 1
        # The checkpoints' thread, with a connection of its own (made there).
        self._checkpointer: ThreadPoolExecutor | None = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpointing: Future[None] | None = None
        self._checkpoint_due = 0.0

    def share(self) -> SQLiteWriter:
        """This writer for one more user; each user's ``aclose`` gives its share back."""
        self._users += 1
        return self

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # Autocommit mode: the transaction is ours (BEGIN … COMMIT below), not the module's. The pragmas
            # below may wait for the file once, at the first batch; every later wait is ``begin``'s.
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # A many-row INSERT inside our transaction keeps a statement journal (to undo just that statement
            # on a constraint error). Past 64 KiB SQLite spills it to a temporary file in the system's temp
            # folder: under load that was 7 in 10 of the writers' pwrite64 calls, and a copy of the rows'
            # pages outside the data folder. In memory it lives only as long as its statement; this
            # connection runs nothing else that makes temporary tables or sorts.
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # a checkpoint syncs the file: never on the loop
            # SQLite keeps the log's file at the largest size it ever reached (8.9 → 21.6 MiB over a 60 s soak with
            # the request log, 3.9 without): the first commit after the log starts over (after a checkpoint that
            # copied all of it) now cuts it back to this, one ``ftruncate`` at most once a checkpoint.
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            conn.execute("PRAGMA busy_timeout=0")  # a locked file is waited for with ``asyncio.sleep`` (``begin``)
            self._conn = conn
        return self._conn

    async def _begin(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + self.timeout
        wait = LOCKED_FIRST_SECONDS
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")  # the write lock now, or at once "locked"
                return
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or time.monotonic() + wait > deadline:
                    raise
            await asyncio.sleep(wait)
            wait = min(wait * 2, LOCKED_MAX_SECONDS)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[sqlite3.Connection]:
        """The connection inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on an error), the writers' turn
        held throughout: work inside may ``await`` between statements."""
        async with self._turn:
            conn = self._connection()
            await self._begin(conn)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        self._after_commit()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` in one transaction (no turn for the loop inside: keep it short)."""
        async with self.transaction() as conn:
            return work(conn)

    async def run_prepared(
        self, prepare: Callable[[], Awaitable[P]], work: Callable[[sqlite3.Connection, P], Awaitable[T]]
    ) -> T:
        """``await prepare()``, then ``await work(connection, prepared)`` in one transaction.

        What needs no database (building rows) runs before ``BEGIN IMMEDIATE``: inside, it would
        hold SQLite's write lock, and the file's other writers would wait it out.
        """
        ready = await prepare()
        async with self.transaction() as conn:
            return await work(conn, ready)

    def _after_commit(self) -> None:
        now = time.monotonic()
        if now < self._checkpoint_due or (self._checkpointing is not None and not self._checkpointing.done()):
            return
        self._checkpoint_due = now + CHECKPOINT_SECONDS
        if self._checkpointer is None:
            self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        self._checkpointing = self._checkpointer.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """A passive checkpoint (it neither waits for nor blocks a writer); an error leaves it to the next."""
        try:
            if self._checkpoint_conn is None:
                self._checkpoint_conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
            self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            self._close_checkpointer_conn()

    def _close_checkpointer_conn(self) -> None:
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
            self._checkpoint_conn = None

    async def aclose(self) -> None:
        """Give one share back; the last closes the connection (on the thread: closing may checkpoint)."""
        self._users -= 1
        if self._users > 0:
            return
        loop = asyncio.get_running_loop()
        async with self._turn:
            conn, self._conn = self._conn, None
            pool = self._checkpointer or ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
            self._checkpointer = None
            if conn is not None:
                await loop.run_in_executor(pool, conn.close)
            await loop.run_in_executor(pool, self._close_checkpointer_conn)
            pool.shutdown(wait=True)
