"""The request log's writer: finished request records → rows, written behind the requests.

The request's only part is ``RequestLogWriter.observe`` (an append to a queue). Turning a
record into a row (attempts as JSON, bodies reassembled, redacted and capped) happens on
the writer's side when a batch is written, and so does the retention purge. If the
database cannot keep up the queue is bounded: past ``max_queued`` records (about 2.5 KiB
each) new ones are dropped, counted (``meshapi_request_log_dropped_total``) and reported
in a warning at the writer's next attempt, so memory stays bounded and no loss is silent.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

from prometheus_client import Counter, Gauge

from meshapi_gateway.billing import usage_counts
from meshapi_gateway.config import RequestLogSettings
from meshapi_gateway.ids import ulids
from meshapi_gateway.metrics import REGISTRY
from meshapi_gateway.money import LEDGER_PRECISION
from meshapi_gateway.observability import log_store
from meshapi_gateway.observability.attempts_json import attempts_json
from meshapi_gateway.observability.bodies import Redactor, reassemble_sse
from meshapi_gateway.observability.millis import millis
from meshapi_gateway.observability.record import MAX_MODEL_NAME, OutsideRequests, RequestRecord
from meshapi_gateway.store.sqlite_thread import SQLiteThread, sqlite_file
from meshapi_gateway.write_behind import ROWS_A_SLICE, WriteBehind, rows_in_slices

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.request_log")

DROPPED = Counter(
    "meshapi_request_log_dropped_total", "Request log records dropped because the queue was full", registry=REGISTRY
)
WRITTEN = Counter("meshapi_request_log_written_total", "Request log records written to the database", registry=REGISTRY)
# The backlog each write found: flat under a load the database keeps up with.
QUEUED = Gauge(
    "meshapi_request_log_queued",
    "Request log records waiting when the last write started",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)


# Between two slices of rows (``write_behind.ROWS_A_SLICE``) the writer's thread sleeps this long (see sliced_rows).
GIL_PAUSE_SECONDS = 0.0001


def capture_limit(settings: RequestLogSettings) -> int:
    """Raw bytes of each body ``RequestContext`` keeps (0: bodies are never stored, nothing is kept)."""
    # A margin over the stored cap: streams are reassembled and redaction reads past the cap.
    return settings.body_max_bytes * 8 if settings.captures_bodies else 0


def _give_ids(batch: Sequence[RequestRecord]) -> None:
    fresh = [rec for rec in batch if rec.log_id is None]
    for rec, log_id in zip(fresh, ulids(len(fresh), "log_"), strict=True):
        rec.log_id = log_id


class RequestLogWriter(WriteBehind[RequestRecord]):
    def __init__(self, sessions: Any, settings: RequestLogSettings, sqlite: SQLiteThread | None = None) -> None:
        super().__init__(
            self._write,
            what="request log records",
            log=log,
            flush_seconds=settings.flush_seconds,
            batch_size=settings.batch_size,
            upkeep=self._purge,
            upkeep_seconds=settings.purge_every_seconds,
        )
        self.sessions = sessions
        # A SQLite file is written through a connection of the writer's own, a batch a hand-off (sqlite_thread.py).
        self.sqlite = sqlite
        self.settings = settings
        self.redact = Redactor(settings.redact, settings.body_max_bytes)
        self._bodies = settings.bodies
        self._body_keys = frozenset(settings.bodies_keys)  # holds no None: a record without a key is not in it
        self._max_queued = settings.max_queued
        self._dropped = 0  # since the last warning

    def observe(self, rec: RequestRecord) -> None:
        if len(self.queue) >= self._max_queued:
            DROPPED.inc()
            self._dropped += 1
            return
        self.add(rec)

    def row(self, rec: RequestRecord, sqlite: bool = False) -> list[Any]:
        """The row's values in ``log_store.COLUMNS`` order (Decimal cost as stored, bool as bool); with
        ``sqlite``, as ``log_store.sqlite_values`` turns them (float cost, 1/0 flags), made so in one pass."""
        calls = rec.calls
        if len(calls) == 1:  # the common record: what the properties below add up, read off its one call
            c = calls[0]
            prompt, completion, cached = usage_counts(c.usage)
            cost, ttft, requested = c.cost, c.time_to_first_token, c.requested_model or rec.asked_model
            model, deployment, streamed, replayed = c.model, c.deployment, c.streamed, c.replayed
        else:
            prompt, completion, cached = rec.tokens()
            cost, ttft, requested = rec.cost, rec.time_to_first_token, rec.requested_model
            model, deployment, streamed, replayed = rec.model, rec.deployment, rec.streamed, rec.replayed
        request_body = response_body = None
        if self._bodies or rec.key_id in self._body_keys:
            request_body = self.redact(rec.request_body)
            answer = rec.response_body
            if answer is not None and rec.response_sse:
                answer = reassemble_sse(answer)
            response_body = self.redact(answer)
        stored: Decimal | float | None = None
        if cost is not None:
            stored = cost.quantize(LEDGER_PRECISION)
            if sqlite:
                stored = float(stored)
        flags: tuple[bool | int, bool | int] = (streamed, replayed)
        if sqlite:
            flags = (1 if streamed else 0, 1 if replayed else 0)
        return [
            rec.log_id,
            rec.request_id,
            int(rec.started * 1000),
            rec.owner,
            rec.key_id,
            rec.team,
            rec.endpoint[:64],
            requested[:MAX_MODEL_NAME] if requested else None,
            model,
            deployment,
            attempts_json(rec),
            rec.status,
            rec.error_code,
            flags[0],
            None if ttft is None else millis(ttft),
            millis(rec.duration),
            prompt,
            completion,
            cached,
            stored,
            flags[1],
            rec.cache_status,
            rec.client_address,
            rec.user_agent,
            request_body,
            response_body,
        ]

    def rows(self, batch: Sequence[RequestRecord]) -> list[list[Any]]:
        """The batch's rows. A record gets its row id once, here: a retried batch must carry the ids its
        first attempt may have written. The new ones are made together (``ulids``: one draw per 1,024)."""
        _give_ids(batch)
        return [self.row(rec) for rec in batch]

    def sliced_rows(self, batch: Sequence[RequestRecord]) -> list[list[Any]]:
        """``rows`` with SQLite's values (``row(…, sqlite=True)``), built on the writer's thread in slices.

        A row is a few microseconds of Python, holding the GIL: a 1,000-row batch held it for about
        5 ms at a stretch, and the event loop, waking from epoll meanwhile, waited for it up to the
        interpreter's switch interval (5 ms) before forcing a switch. Sleeping between slices hands
        the GIL over at once; ``sleep(0)`` would not, as this thread takes it back before the loop's
        thread has woken.
        """
        _give_ids(batch)
        row = self.row
        out: list[list[Any]] = []
        for start in range(0, len(batch), ROWS_A_SLICE):
            if start:
                time.sleep(GIL_PAUSE_SECONDS)
            out.extend([row(rec, True) for rec in batch[start : start + ROWS_A_SLICE]])
        return out

    async def yielding_rows(self, batch: Sequence[RequestRecord]) -> list[list[Any]]:
        """``rows`` built on the event loop (PostgreSQL: its driver runs there), giving it a turn after each slice."""
        _give_ids(batch)
        return await rows_in_slices(batch, self.row)

    async def _write(self, batch: Sequence[RequestRecord], retry: bool) -> None:
        QUEUED.set(len(self.queue))  # at every batch: under steady load one flush runs batch after batch
        if self._dropped:
            log.warning(
                "the request log's queue was full (%d records): %d records were dropped",
                self._max_queued,
                self._dropped,
            )
            self._dropped = 0
        if self.sqlite is not None:
            # Rows are built on the writer's thread too (the event loop only hands the batch over), before the
            # transaction: the ledger's writer, on the same file, waits for as long as this one holds the lock.
            await self.sqlite.run_prepared(
                lambda: self.sliced_rows(batch),
                lambda conn, rows: log_store.insert_rows_sqlite(conn, rows, retry),
            )
        else:
            await log_store.write_rows(self.sessions, await self.yielding_rows(batch), retry)
        WRITTEN.inc(len(batch))

    async def aclose(self) -> None:
        await super().aclose()
        if self.sqlite is not None:
            await self.sqlite.aclose()

    async def _purge(self) -> None:
        before = int((time.time() - self.settings.retention_days * 86400) * 1000)
        try:
            removed = await log_store.purge(self.sessions, before)
            if removed:
                log.info("removed %d request log records older than %d days", removed, self.settings.retention_days)
        except Exception as exc:
            log.warning("could not purge the request log: %s", exc)


async def start_request_log(state: GatewayState) -> Callable[[], Awaitable[None]] | None:
    settings = state.settings.request_log
    if not settings.enabled:
        return None
    path = sqlite_file(state.settings.resolved_database_url())
    writer = RequestLogWriter(state.sessions, settings, SQLiteThread(path) if path else None)
    writer.start("request-log-writer")
    state.request_log = writer
    state.request_observers.append(writer.observe)
    state.call_observers.append(OutsideRequests(writer.observe))  # batch items: a record each
    return writer.aclose
