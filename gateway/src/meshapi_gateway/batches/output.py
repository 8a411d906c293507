"""Output and error files in OpenAI's batch output format, built from the committed items.

One line per ``custom_id``: succeeded items in the output file; failed, cancelled and
expired ones in the error file. Both are written under ids derived from the batch id,
so a runner that takes over an interrupted finalization overwrites, never duplicates.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from meshapi_gateway.files.service import FILE_PREFIX, FileService
from meshapi_gateway.store.batches_tables import Batch, BatchItem

PAGE = 500
UNRUN_ERRORS = {
    "cancelled": ("batch_cancelled", "The batch was cancelled before this request ran."),
    "expired": ("batch_expired", "The batch expired before this request ran."),
}


def output_file_id(batch_id: str) -> str:
    return f"{FILE_PREFIX}{batch_id.removeprefix('batch_')}-output"


def error_file_id(batch_id: str) -> str:
    return f"{FILE_PREFIX}{batch_id.removeprefix('batch_')}-errors"


def output_line(batch_id: str, item: BatchItem) -> dict[str, Any]:
    line: dict[str, Any] = {
        "id": f"batch_req_{batch_id.removeprefix('batch_')}_{item.line}",
        "custom_id": item.custom_id,
        "response": None,
        "error": None,
    }
    if item.status in UNRUN_ERRORS:
        code, message = UNRUN_ERRORS[item.status]
        line["error"] = {"code": code, "message": message}
        return line
    line["response"] = {
        "status_code": item.status_code,
        "request_id": item.request_id,
        "body": orjson.loads(item.result_json) if item.result_json else None,
    }
    if item.error_json:
        line["error"] = orjson.loads(item.error_json)
    return line


async def _lines(
    sessions: async_sessionmaker,  # type: ignore[type-arg]
    batch_id: str,
    statuses: tuple[str, ...],
) -> AsyncIterator[bytes]:
    after = -1
    while True:
        async with sessions() as session:
            rows = list(
                (
                    await session.execute(
                        select(BatchItem)
                        .where(BatchItem.batch_id == batch_id, BatchItem.status.in_(statuses), BatchItem.line > after)
                        .order_by(BatchItem.line)
                        .limit(PAGE)
                    )
                ).scalars()
            )
        for item in rows:
            yield orjson.dumps(output_line(batch_id, item)) + b"\n"
        if len(rows) < PAGE:
            return
        after = rows[-1].line


async def write_outputs(
    files: FileService,
    sessions: async_sessionmaker,  # type: ignore[type-arg]
    batch: Batch,
    succeeded: int,
    unsuccessful: int,
) -> tuple[str | None, str | None]:
    out_id = err_id = None
    if succeeded:
        row = await files.store(
            batch.owner,
            "batch_output",
            f"{batch.id}_output.jsonl",
            _lines(sessions, batch.id, ("succeeded",)),
            lines=succeeded,
            file_id=output_file_id(batch.id),
        )
        out_id = row.id
    if unsuccessful:
        row = await files.store(
            batch.owner,
            "batch_output",
            f"{batch.id}_errors.jsonl",
            _lines(sessions, batch.id, ("failed", "cancelled", "expired")),
            lines=unsuccessful,
            file_id=error_file_id(batch.id),
        )
        err_id = row.id
    return out_id, err_id
