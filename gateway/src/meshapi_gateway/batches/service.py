"""Creating, reading, listing and cancelling batches (the runner does the work).

Creating a batch copies its requests into ``batch_items`` in the same transaction as the
batch row, so a batch either exists with every request or not at all.
"""

from __future__ import annotations

import time
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

import orjson
from sqlalchemy import func, insert, select, update

from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.batches.windows import window_seconds
from meshapi_gateway.batches.wire import ACTIVE, ItemTotals, batch_object
from meshapi_gateway.errors import GatewayError, field_error
from meshapi_gateway.files.batch_lines import SUPPORTED_URLS, LineChecker, LineSplitter, jsonl_from_requests
from meshapi_gateway.files.service import FileService
from meshapi_gateway.ids import ulid
from meshapi_gateway.store.batches_tables import Batch, BatchItem

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState

BATCH_PREFIX = "batch_"
INSERT_PAGE = 500
MAX_METADATA_KEYS = 16


def batch_not_found(batch_id: str) -> GatewayError:
    return GatewayError("not_found", f"Batch '{batch_id}' not found.")


def _metadata(value: Any) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or len(value) > MAX_METADATA_KEYS
        or not all(
            isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512 for k, v in value.items()
        )
    ):
        raise field_error(
            "metadata",
            f"metadata must be an object of at most {MAX_METADATA_KEYS} string pairs "
            "(keys up to 64, values up to 512 characters).",
            type_="dict_type",
        )
    return orjson.dumps(value).decode()


class BatchService:
    def __init__(self, state: "GatewayState", files: FileService) -> None:
        self.state = state
        self.files = files
        self.sessions = state.sessions
        # Called after a batch is created or cancelled, so an in-process runner starts at once.
        self.on_change: list[Callable[[], None]] = []

    def _changed(self) -> None:
        for notify in self.on_change:
            notify()

    # -- create ------------------------------------------------------------
    async def create(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        settings = self.state.settings
        inline = body.get("requests")
        input_file_id = body.get("input_file_id")
        if inline is None and not isinstance(input_file_id, str):
            raise field_error(
                "input_file_id", "Field required (or give the requests inline as 'requests').", type_="missing"
            )
        endpoint = body.get("endpoint") or "/v1/chat/completions"
        if endpoint not in SUPPORTED_URLS:
            raise field_error(
                "endpoint",
                f"endpoint must be one of {', '.join(SUPPORTED_URLS)}.",
                type_="literal_error",
                value=endpoint if isinstance(endpoint, str) else None,
            )
        window = body.get("completion_window") or "24h"
        seconds = window_seconds(window, settings.batch_allow_short_windows)
        metadata = _metadata(body.get("metadata"))
        await self._check_active_limit(principal.owner)

        if inline is not None:
            lines = jsonl_from_requests(inline)
            checker = LineChecker(self.state.catalog)
            for number, line in enumerate(lines, start=1):
                checker.check(number, line)
            checker.result.raise_if_invalid()
            if not body.get("endpoint") and checker.result.url:
                endpoint = checker.result.url  # inline requests name their endpoint on each line

            async def content() -> AsyncIterator[bytes]:
                for line in lines:
                    yield line + b"\n"

            stored = await self.files.store(
                principal.owner, "batch", "batch_requests.jsonl", content(), lines=checker.result.lines
            )
        else:
            stored = await self.files.get(principal.owner, str(input_file_id))
            if stored.purpose != "batch":
                raise GatewayError("invalid_request", f"File '{stored.id}' was not uploaded for purpose 'batch'.")

        now = int(time.time())
        batch = Batch(
            id=BATCH_PREFIX + ulid(),
            owner=principal.owner,
            key_id=principal.key_id,
            endpoint=endpoint,
            input_file_id=stored.id,
            status="validating",
            completion_window=window,
            metadata_json=metadata,
            multiplier=str(settings.batch_price_multiplier),
            total=0,
            created_at=now,
            expires_at=now + seconds,
        )
        checker = LineChecker(self.state.catalog)
        async with self.sessions() as session, session.begin():
            session.add(batch)
            await session.flush()
            page: list[dict[str, Any]] = []
            splitter = LineSplitter()

            async def take(pairs: list[tuple[int, bytes]]) -> None:
                for number, raw in pairs:
                    item = checker.check(number, raw)
                    if item is None:
                        continue
                    if item["url"] != endpoint:
                        checker.result.add(
                            number,
                            "endpoint_mismatch",
                            f"url {item['url']} does not match the batch endpoint {endpoint}.",
                            "url",
                        )
                        continue
                    page.append(
                        {
                            "batch_id": batch.id,
                            "line": number,
                            "custom_id": item["custom_id"],
                            "url": item["url"],
                            "body": orjson.dumps(item["body"]).decode(),
                            "status": "pending",
                            "attempts": 0,
                        }
                    )
                if checker.result.problems:
                    page.clear()  # the batch will be refused; keep nothing
                elif len(page) >= INSERT_PAGE:
                    await session.execute(insert(BatchItem), page)
                    page.clear()

            async for chunk in self.files.content(stored):
                await take(splitter.feed(chunk))
            await take(splitter.finish())
            checker.result.raise_if_invalid()  # rolls the whole batch back
            if page:
                await session.execute(insert(BatchItem), page)
            batch.total = checker.result.lines
            models = checker.result.models
            batch.model = next(iter(models)) if len(models) == 1 else None
        self._changed()
        return batch_object(batch, ItemTotals(), self._provider(batch))

    async def _check_active_limit(self, owner: str) -> None:
        limit = self.state.settings.batch_max_active_per_owner
        async with self.sessions() as session:
            active = (
                await session.execute(
                    select(func.count()).select_from(Batch).where(Batch.owner == owner, Batch.status.in_(ACTIVE))
                )
            ).scalar_one()
        if active >= limit:
            # No Retry-After: a batch finishes in minutes to hours, and clients that honour the header
            # (the 0.1.0 SDK retries every 429) would only stall before reporting the error.
            raise GatewayError(
                "batch_limit_exceeded", f"At most {limit} batches may be active at once; wait for one to finish."
            )

    # -- read --------------------------------------------------------------
    def _provider(self, batch: Batch) -> str | None:
        entry = self.state.catalog.get(batch.model) if batch.model else None
        return entry.vendor if entry is not None else None

    async def totals(self, batch_ids: list[str]) -> dict[str, ItemTotals]:
        out: dict[str, ItemTotals] = defaultdict(ItemTotals)
        if not batch_ids:
            return out
        stmt = (
            select(
                BatchItem.batch_id,
                BatchItem.status,
                func.count(),
                func.sum(BatchItem.prompt_tokens),
                func.sum(BatchItem.completion_tokens),
                func.sum(BatchItem.cost),
            )
            .where(BatchItem.batch_id.in_(batch_ids), BatchItem.status.in_(("succeeded", "failed")))
            .group_by(BatchItem.batch_id, BatchItem.status)
        )
        async with self.sessions() as session:
            for batch_id, status, count, prompt, completion, cost in await session.execute(stmt):
                t = out[batch_id]
                if status == "succeeded":
                    t.succeeded = int(count)
                else:
                    t.failed = int(count)
                t.prompt_tokens += int(prompt or 0)
                t.completion_tokens += int(completion or 0)
                t.cost += Decimal(cost or 0)
        return out

    async def _owned(self, owner: str, batch_id: str) -> Batch:
        async with self.sessions() as session:
            row: Batch | None = await session.get(Batch, batch_id)
        if row is None or row.owner != owner:
            raise batch_not_found(batch_id)
        return row

    async def get(self, owner: str, batch_id: str) -> dict[str, Any]:
        row = await self._owned(owner, batch_id)
        return batch_object(row, (await self.totals([row.id]))[row.id], self._provider(row))

    async def list(self, owner: str, *, after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        stmt = select(Batch).where(Batch.owner == owner)
        if after:
            stmt = stmt.where(Batch.id < after)
        async with self.sessions() as session:
            rows = list((await session.execute(stmt.order_by(Batch.id.desc()).limit(limit + 1))).scalars())
        has_more = len(rows) > limit
        rows = rows[:limit]
        totals = await self.totals([r.id for r in rows])
        return [batch_object(r, totals[r.id], self._provider(r)) for r in rows], has_more

    # -- cancel ------------------------------------------------------------
    async def cancel(self, owner: str, batch_id: str) -> dict[str, Any]:
        row = await self._owned(owner, batch_id)
        if row.status in ("validating", "in_progress"):
            async with self.sessions() as session, session.begin():
                await session.execute(
                    update(Batch)
                    .where(Batch.id == row.id, Batch.status.in_(("validating", "in_progress")))
                    .values(status="cancelling", cancelling_at=int(time.time()))
                )
            self._changed()
        elif row.status in ("completed", "failed", "expired"):
            raise GatewayError(
                "conflict", f"Batch '{batch_id}' is already {row.status} and cannot be cancelled.", status=409
            )
        return await self.get(owner, batch_id)
