"""The request log's writer: finished request records → rows, written behind the requests.

The request's only part is ``RequestLogWriter.observe`` (an append to a queue). Turning a
record into a row (attempts as JSON, bodies reassembled, redacted and capped) happens on
the writer's side when a batch is written, and so does the retention purge. If the
database cannot keep up the queue is bounded: past ``max_queued`` records (about 2.5 KiB
each) new ones are dropped, counted (``meshapi_request_log_dropped_total``) and reported
in a warning at the writer's next attempt, so memory stays bounded and no loss is silent.
"""

from __future__ import annotations

import decimal
import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

from prometheus_client import Counter, Gauge

from meshapi_gateway.config import RequestLogSettings
from meshapi_gateway.ids import ulids
from meshapi_gateway.metrics import REGISTRY
from meshapi_gateway.money import LEDGER_PRECISION
from meshapi_gateway.observability import log_store
from meshapi_gateway.observability.attempts_json import one_attempt_json
from meshapi_gateway.observability.bodies import Redactor, reassemble_sse
from meshapi_gateway.observability.record import (
    MAX_MODEL_NAME,
    AttachCall,
    Pending,
    RequestRecord,
    pending,
)
from meshapi_gateway.store.sqlite_writer import SQLiteWriter
from meshapi_gateway.write_behind import Turns, WriteBehind, rows_in_slices

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


# ``Decimal.quantize`` with a context of its own, a copy of ``DefaultContext`` as the event loop's is (same
# rounding, same precision, same traps).
_quantize = decimal.Context().quantize


def capture_limit(settings: RequestLogSettings) -> int:
    """Raw bytes of each body ``RequestContext`` keeps (0: bodies are never stored, nothing is kept)."""
    # A margin over the stored cap: streams are reassembled and redaction reads past the cap.
    return settings.body_max_bytes * 8 if settings.captures_bodies else 0


class RequestLogWriter(WriteBehind[Pending]):
    def __init__(self, sessions: Any, settings: RequestLogSettings, sqlite: SQLiteWriter | None = None) -> None:
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
        # A SQLite file is written through the writers' connection on the event loop (store/sqlite_writer.py).
        self.sqlite = sqlite
        self.settings = settings
        self.redact = Redactor(settings.redact, settings.body_max_bytes)
        self._bodies = settings.bodies
        self._body_keys = frozenset(settings.bodies_keys)  # holds no None: a record without a key is not in it
        self._max_queued = settings.max_queued
        self._dropped = 0  # since the last warning
        # The row ids of the batch being written, and its first item: a retried batch (the same first
        # item) carries the ids its first attempt may have written.
        self._ids: list[str] = []
        self._ids_first: object = None

    def observe(self, rec: RequestRecord) -> None:
        queue = self.queue
        if len(queue) >= self._max_queued:
            DROPPED.inc()
            self._dropped += 1
            return
        # ``WriteBehind.add`` spelled out (wake the writer only when the queue was empty): it runs for every
        # logged request, and the call saved is 0.42 k instructions of the 6.7 k this method cost (6.67 k -> 6.26 k).
        if not queue:
            self._wake.set()
        queue.append(pending(rec))  # held as plain values while it waits (record.pending)

    def row(self, item: Pending | RequestRecord, log_id: str, sqlite: bool = False) -> list[Any]:
        """The row's values in ``log_store.COLUMNS`` order (Decimal cost as stored, bool as bool); with
        ``sqlite``, as ``log_store.sqlite_values`` turns them (float cost, 1/0 flags), made so in one pass.

        Runs once a row as a batch is written, so ``millis`` (twice) is spelled out here rather than
        called, and the cost is quantized through a context's method, which
        parses two positional arguments where ``Decimal.quantize`` parses keywords (17.8 k -> 17.1 k
        instructions a row, measured on SQLite's rows).
        """
        if type(item) is not tuple:
            item = pending(item)  # type: ignore[arg-type]  # a record handed over directly
        (
            request_id,
            started,
            owner,
            key_id,
            team,
            endpoint,
            requested,
            model,
            deployment,
            attempts,
            a_model,
            a_deployment,
            a_outcome,
            a_duration,
            status,
            error_code,
            streamed,
            ttft,
            duration,
            prompt,
            completion,
            cached,
            cost,
            replayed,
            cache_status,
            client_address,
            user_agent,
            request_body,
            response_body,
            response_sse,
        ) = item
        if attempts is None:
            attempts = one_attempt_json(a_model, a_deployment, a_outcome, a_duration)
        stored_request = stored_response = None
        if self._bodies or key_id in self._body_keys:
            stored_request = self.redact(request_body)
            if response_body is not None and response_sse:
                response_body = reassemble_sse(response_body)
            stored_response = self.redact(response_body)
        stored: Decimal | float | None = None
        if cost is not None:
            if sqlite and not cost:
                # A free call (a free or local model; the bench's): its zero's float, without the quantize and the
                # Decimal's conversion through its text (≈ 2 k instructions a row).
                stored = 0.0
            else:
                stored = _quantize(cost, LEDGER_PRECISION)
                if sqlite:
                    stored = float(stored)
        if sqlite:
            streamed, replayed = 1 if streamed else 0, 1 if replayed else 0
        # ``millis`` (observability/millis.py) of both times, step for step (``__round__`` called as it does).
        if ttft is not None:
            ms = ttft * 1000
            us = ms * 1000
            if 0.0 < us < 1e11 and -0.4999 < us - (n := us.__round__()) < 0.4999:
                ttft = n / 1000
            else:
                ttft = round(ms, 3)
        ms = duration * 1000
        us = ms * 1000
        if 0.0 < us < 1e11 and -0.4999 < us - (n := us.__round__()) < 0.4999:
            duration = n / 1000
        else:
            duration = round(ms, 3)
        return [
            log_id,
            request_id,
            (started * 1000).__trunc__(),  # ``int``'s own method, called by name (≈ 0.5 k fewer, as ``__round__``)
            owner,
            key_id,
            team,
            endpoint[:64],
            requested[:MAX_MODEL_NAME] if requested else None,
            model,
            deployment,
            attempts,
            status,
            error_code,
            streamed,
            ttft,
            duration,
            prompt,
            completion,
            cached,
            stored,
            replayed,
            cache_status,
            client_address,
            user_agent,
            stored_request,
            stored_response,
        ]

    def row_ids(self, batch: Sequence[object]) -> list[str]:
        """Each record's row id, given once: a retried batch (the failed one's records first, in order, and
        maybe more behind them) must carry the ids its first attempt may have written. The new ones are
        made together (``ulids``: one draw per 1,024)."""
        ids = self._ids if batch and batch[0] is self._ids_first else []
        if len(ids) < len(batch):
            ids = ids + ulids(len(batch) - len(ids), "log_")
        self._ids, self._ids_first = ids, batch[0] if batch else None  # held: its id() cannot be reused
        return ids[: len(batch)]

    def rows(self, batch: Sequence[Pending | RequestRecord]) -> list[list[Any]]:
        """The batch's rows (``row_ids``: their ids)."""
        row = self.row
        return [row(rec, log_id) for rec, log_id in zip(batch, self.row_ids(batch), strict=True)]

    async def yielding_rows(self, batch: Sequence[Pending | RequestRecord], sqlite: bool = False) -> list[list[Any]]:
        """``rows`` built on the event loop (both writers run there), giving it a turn after each slice; with
        ``sqlite``, SQLite's values (``row(…, sqlite=True)``)."""
        ids = self.row_ids(batch)
        row = self.row
        turns = Turns() if sqlite else None  # PostgreSQL: a turn every slice, as its writer always had
        return await rows_in_slices(
            list(zip(batch, ids, strict=True)), lambda pair: row(pair[0], pair[1], sqlite), turns
        )

    async def _write(self, batch: Sequence[Pending], retry: bool) -> None:
        QUEUED.set(len(self.queue))  # at every batch: under steady load one flush runs batch after batch
        if self._dropped:
            log.warning(
                "the request log's queue was full (%d records): %d records were dropped",
                self._max_queued,
                self._dropped,
            )
            self._dropped = 0
        if self.sqlite is not None:
            # Rows are built before the transaction: the file's other writers wait for as long as it is open.
            await self.sqlite.run_prepared(
                lambda: self.yielding_rows(batch, sqlite=True),
                lambda conn, rows: log_store.insert_rows_yielding(conn, rows, retry),
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
    sqlite = state.sqlite_writer
    writer = RequestLogWriter(state.sessions, settings, sqlite.share() if sqlite is not None else None)
    writer.start("request-log-writer")
    state.request_log = writer
    state.request_observers.append(writer.observe)
    # Batch items (calls made outside any request): a record each, through the observer that attaches calls
    # to their requests' records (app.py registers it before any feature starts).
    attach = next((o for o in state.call_observers if isinstance(o, AttachCall)), None)
    if attach is None:
        attach = AttachCall()
        state.call_observers.append(attach)
    attach.outside = writer.observe
    return writer.aclose
