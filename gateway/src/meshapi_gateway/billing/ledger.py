"""The billing the gateway runs with: balances in memory, the ledger written in batches.

``record`` only appends to a queue and moves the in-memory balance, so the request path
never waits on the database. The queue is ``write_behind``'s: one transaction per batch,
drained completely by ``aclose`` (graceful stop), a failed write retried (row ids make a
retry harmless), so no usage is lost or billed twice. With a journal folder, each record is
also appended to a file first (``journal.py``), and a process starting replays what a killed
one left there, so a kill loses no bill either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import async_sessionmaker

from meshapi_gateway.attempt_claim import Claim, Fate
from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.billing.book import BalanceBook
from meshapi_gateway.billing.journal import Entry, Journal, read_segments
from meshapi_gateway.billing.ledger_sqlite import row_sqlite, write_batch_yielding
from meshapi_gateway.billing.ledger_store import CENT_PRECISION, Queued, changed_balances, credit, write_batch
from meshapi_gateway.billing.usage import Admit, Billing, UsageRecord
from meshapi_gateway.catalog import Catalog, ModelEntry
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.ids import Counted
from meshapi_gateway.money import money
from meshapi_gateway.store.data_version import DataVersion, Seen
from meshapi_gateway.store.sqlite_writer import SQLiteWriter
from meshapi_gateway.write_behind import Turns, WriteBehind, rows_in_slices

if TYPE_CHECKING:
    from meshapi_gateway.billing.shared_pending import SharedPending

log = logging.getLogger("meshapi_gateway.billing")

# Ledger row ids: one a billed answer, so made as counted runs (``ids.Counted``) rather than ``prefixed``'s
# eight random draws each (about 3 k instructions less a bill). The bound ``__call__``: an instance called
# goes through the type's call slot and a lookup of ``__call__`` first (about 0.3 k instructions).
_row_id = Counted("led_").__call__

REREAD_SECONDS = 5
# How long a replayed bill whose request ran under an idempotency claim waits for the client's
# retry to show (a retry takes a dead replica's claim over within its 5 s heartbeat).
DEFER_SECONDS = 20.0


def _remove(lock_path: Path, lock_fd: int, segments: list[Path]) -> None:
    for path in segments:
        path.unlink(missing_ok=True)
    lock_path.unlink(missing_ok=True)
    os.close(lock_fd)


class LedgerBilling(Billing):
    def __init__(
        self,
        sessions: async_sessionmaker,  # type: ignore[type-arg]
        catalog: Catalog,
        *,
        enforce: bool = False,
        default_credit: Decimal = Decimal(0),
        flush_seconds: float = 0.25,
        batch_size: int = 2000,
        refresh_seconds: float = 2.0,
        redis_url: str = "",
        sync_seconds: float = 0.2,
        journal_dir: Path | None = None,
        sqlite: SQLiteWriter | None = None,
        version: DataVersion | None = None,
    ) -> None:
        self._sessions = sessions
        # A SQLite file: batches go through the writers' connection on the event loop (store/sqlite_writer.py).
        self._sqlite = sqlite
        self._journal = Journal(journal_dir) if journal_dir is not None else None
        # Set by the idempotency area when it shares claims through Redis (attempt_claim.py).
        self.claim_fate: Callable[[Claim], Awaitable[Fate]] | None = None
        self._catalog = catalog
        self.book = BalanceBook(enforce, default_credit)
        self._refresh_seconds = refresh_seconds
        self._seen = Seen(version)  # no balance read while nothing was committed (store/data_version.py)
        self._queue: WriteBehind[Queued] = WriteBehind(
            self._write_batch, what="usage records", log=log, flush_seconds=flush_seconds, batch_size=batch_size
        )
        # Serialises every database change of balances with the in-memory view of them.
        self._lock = asyncio.Lock()
        self._closing = asyncio.Event()
        self._watermark = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._sync_seconds = sync_seconds
        self._shared: "SharedPending | None" = None
        if redis_url:
            # Hold a commit in the shared view until every replica's refresh has seen it.
            from meshapi_gateway.billing.shared_pending import SharedPending  # redis is loaded only when used

            self._shared = SharedPending(redis_url, self.book, hold_seconds=refresh_seconds + 1.0)

    # -- the request path ------------------------------------------------
    def precheck(self, principal: Principal, model: str | None = None) -> None:
        if model is not None:
            entry = self._catalog.get(model)
            if entry is not None and entry.is_free:
                return  # free models run at any balance
        self._require_balance(principal)

    def admission(self, principal: Principal) -> Admit | None:
        if self.book.available(principal.owner) is None:
            return None  # no account and not enforced: nothing to check per candidate

        def admit(entry: ModelEntry) -> None:
            if not entry.is_free:
                self._require_balance(principal)

        return admit

    def _require_balance(self, principal: Principal) -> None:
        available = self.book.available(principal.owner)
        if available is None:
            return
        if self._shared is not None:
            self._shared.watch(principal.owner)
        if available <= 0:
            raise GatewayError(
                "spend_limit_exceeded",
                "The balance of this account is used up; add credit to continue.",
                details=[{"owner": principal.owner, "available_usd": money(available)}],
            )

    def record(self, record: UsageRecord) -> None:
        cost = record.cost.quantize(CENT_PRECISION)
        row_id = _row_id()
        segment = self._journal.append(row_id, record, cost) if self._journal is not None else 0
        self._queue.add((row_id, record, cost, segment))
        self.book.add_pending(record.owner, cost)

    async def record_in_transaction(self, session: Any, record: UsageRecord) -> Callable[[], None]:
        cost = record.cost.quantize(CENT_PRECISION)
        balances = await write_batch(
            session, [(_row_id(), record, cost, 0)], self.book.enforce, self.book.default_credit
        )

        def committed() -> None:
            for owner, balance in balances.items():
                self.book.set_committed(owner, balance)

        return committed

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        if self._journal is not None:
            self._journal.open()
            await self._replay_orphans()
        await self._refresh()
        self._queue.start("ledger-writer")
        self._tasks.append(asyncio.create_task(self._refresher(), name="balance-refresh"))
        if self._shared is not None:
            self._tasks.append(asyncio.create_task(self._syncer(), name="balance-sync"))

    async def aclose(self) -> None:
        """Graceful stop: every recorded usage is in the database when this returns.

        Only a database that stays unreachable for ``write_behind.STOP_TIMEOUT_SECONDS`` makes it give up,
        saying how many records were lost, rather than hanging the shutdown for ever.
        """
        self._closing.set()
        await self._queue.aclose()
        if self._journal is not None:
            self._journal.close(drained=len(self._queue) == 0)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._shared is not None:
            await self._shared.aclose()
        if self._sqlite is not None:
            await self._sqlite.aclose()

    async def flush(self) -> None:
        """Write everything recorded so far (usage queries call this to read their own writes)."""
        await self._queue.flush()

    # -- background work -------------------------------------------------
    async def _write_batch(self, batch: Sequence[Queued], retry: bool) -> None:
        """One transaction; on a retry ``write_batch`` first checks whether the failed commit landed."""
        journal = self._journal
        if journal is not None:
            journal.rotate()  # what is recorded from now on goes to a segment this batch does not hold
        await self._write_rows(batch, retry)
        if journal is not None:
            # The batch leaves the queue's front after this returns: the oldest record still unwritten
            # follows it, and every segment before that one is in the database.
            queue = self._queue.queue
            journal.written_up_to(queue[len(batch)][3] if len(queue) > len(batch) else journal.segment)

    async def _replay_orphans(self) -> None:
        """Write what killed processes journaled (rows already written are skipped), then drop their files.

        Bills of attempts that a retry superseded are dropped; undecided ones are settled in the
        background (``_settle_deferred``) while the process serves.
        """
        assert self._journal is not None
        for lock_path, lock_fd, segments in self._journal.orphans():
            entries = read_segments(segments)
            try:
                now, later, dropped = await self._sort_by_fate(entries)
                await self._write_entries(now)
            except Exception:
                os.close(lock_fd)
                log.exception(
                    "could not replay %d journaled usage records of %s; a later start retries",
                    len(entries),
                    lock_path.name,
                )
                continue
            if entries:
                log.warning(
                    "replayed %d usage records journaled by a process that stopped without writing them "
                    "(%d dropped: their requests were retried and billed again; %d undecided)",
                    len(now),
                    dropped,
                    len(later),
                )
            if later:
                self._tasks.append(
                    asyncio.create_task(
                        self._settle_deferred(later, lock_path, lock_fd, segments), name="journal-deferred"
                    )
                )
            else:
                _remove(lock_path, lock_fd, segments)

    async def _sort_by_fate(self, entries: list[Entry]) -> tuple[list[Entry], list[Entry], int]:
        now: list[Entry] = []
        later: list[Entry] = []
        dropped = 0
        for entry in entries:
            fate = await self._fate(entry)
            if fate == "bill":
                now.append(entry)
            elif fate == "wait":
                later.append(entry)
            else:
                dropped += 1
        return now, later, dropped

    async def _fate(self, entry: Entry) -> Fate:
        if entry.claim is None or self.claim_fate is None:
            return "bill"
        try:
            return await self.claim_fate(entry.claim)
        except Exception:  # Redis away: nothing says the answer was not delivered
            return "bill"

    async def _settle_deferred(self, entries: list[Entry], lock_path: Path, lock_fd: int, segments: list[Path]) -> None:
        """Bills whose client may still retry: dropped if a retry comes within ``DEFER_SECONDS``, else written."""
        deadline = time.monotonic() + DEFER_SECONDS
        try:
            while entries and time.monotonic() < deadline and not self._closing.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), 1.0)
                billed, entries, _ = await self._sort_by_fate(entries)
                await self._write_entries(billed)
            if self._closing.is_set() and entries:
                os.close(lock_fd)  # undecided at a stop: the files stay for the next start
                return
            # Nobody retried: the answer was delivered (or the client gave up); it is billed.
            await self._write_entries(entries)
        except Exception:
            log.exception("could not settle %d journaled usage records; a later start retries", len(entries))
            os.close(lock_fd)
            return
        _remove(lock_path, lock_fd, segments)

    async def _write_entries(self, entries: list[Entry]) -> None:
        rows: list[Queued] = [(e.row_id, e.record, e.cost.quantize(CENT_PRECISION), 0) for e in entries]
        for start in range(0, len(rows), self._queue.batch_size):
            await self._write_rows(rows[start : start + self._queue.batch_size], retry=True, ours=False)

    async def _write_rows(self, batch: Sequence[Queued], retry: bool, *, ours: bool = True) -> None:
        """Write ``batch``; ``ours``: its records are this process's pending spend (not a dead one's)."""
        enforce, opening = self.book.enforce, self.book.default_credit
        async with self._lock:
            if self._sqlite is not None:
                # Rows built in slices before ``BEGIN``: the file's other writers wait while it is open.
                balances = await self._sqlite.run_prepared(
                    lambda: rows_in_slices(batch, row_sqlite, Turns()),
                    lambda conn, rows: write_batch_yielding(conn, batch, enforce, opening, retry, rows),
                )
            else:
                async with self._sessions() as session, session.begin():
                    balances = await write_batch(session, batch, enforce, opening, retry)
            if ours:
                for _, record, cost, _ in batch:
                    self.book.settle_pending(record.owner, cost)
            for owner, balance in balances.items():
                self.book.set_committed(owner, balance)
            if ours and self._shared is not None:
                for _, record, cost, _ in batch:
                    self._shared.committed(record.owner, cost)

    async def _syncer(self) -> None:
        assert self._shared is not None
        while not self._closing.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._sync_seconds)
            if self._closing.is_set():
                return
            try:
                await self._shared.sync()
            except Exception:
                log.warning("balance sync failed", exc_info=True)

    async def _refresher(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._refresh_seconds)
            if self._closing.is_set():
                return
            if self._seen.unchanged():
                continue
            try:
                await self._refresh()
                self._seen.read_done()
            except Exception:  # the database may be briefly away; keep serving from memory
                log.warning("balance refresh failed", exc_info=True)

    async def _refresh(self) -> None:
        async with self._lock:
            async with self._sessions() as session:
                # Behind the watermark: a row's time is set before its transaction commits.
                rows = await changed_balances(session, self._watermark - REREAD_SECONDS)
            for owner, balance, updated in rows:
                self.book.set_committed(owner, balance)
                self._watermark = max(self._watermark, updated)

    # -- admin -----------------------------------------------------------
    async def credit(self, owner: str, amount: Decimal, note: str = "") -> Decimal:
        """Credit an owner and make it visible to this process at once; returns the new balance."""
        opening = self.book.default_credit if self.book.enforce else Decimal(0)
        async with self._lock:
            async with self._sessions() as session:
                row = await credit(session, owner, amount, note, opening)
            balance = Decimal(row.balance_usd)
            self.book.set_committed(owner, balance)
        return balance
