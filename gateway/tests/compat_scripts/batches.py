"""The README's files-and-batches example, polled until the in-process runner finishes.

0.1.0 uploads the requests as a file, creates the batch from it and downloads the output
with ``files.content``. 0.1.11 has no files resource: its README sends the same requests
inline to ``batches.create`` (with metadata), polls ``batches.get`` and can ``cancel``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from compat_common import VERSION, client, report, step

TERMINAL = ("completed", "failed", "expired", "cancelled")


def _requests() -> list[Any]:
    from meshapi import BatchRequestItem

    return [
        BatchRequestItem(
            custom_id="req-1",
            body={
                "model": "openai/gpt-4o-mini",
                "messages": [{"role": "user", "content": "Say hi."}],
            },
        ),
        BatchRequestItem(
            custom_id="req-2",
            body={
                "model": "openai/gpt-4o-mini",
                "messages": [{"role": "user", "content": "Say bye."}],
            },
        ),
    ]


def _poll(c: Any, batch_id: str) -> Any:
    deadline = time.monotonic() + 60
    while True:
        status = c.batches.get(batch_id)
        if status.status in TERMINAL or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def files_flow() -> dict[str, Any]:
    from meshapi import CreateBatchParams, UploadBatchFileParams

    c = client()
    # 1. Upload the batch input
    file = c.files.upload(
        UploadBatchFileParams(
            purpose="batch",
            requests=_requests(),
        )
    )
    # 2. Create the batch
    batch = c.batches.create(
        CreateBatchParams(
            input_file_id=file.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
    )
    # 3. Poll later
    status = _poll(c, batch.id)
    lines: list[Any] = []
    if status.status == "completed" and status.output_file_id:
        output_bytes = c.files.content(status.output_file_id)
        # output_bytes is JSONL
        lines = [json.loads(x) for x in output_bytes.splitlines() if x.strip()]
    return {
        "file_id": file.id,
        "file_purpose": file.purpose,
        "file_got": c.files.get(file.id).id,
        "batch_id": batch.id,
        "created_status": batch.status,
        "status": status.status,
        "output_file_id": status.output_file_id,
        "outputs": {line["custom_id"]: line["response"]["body"]["choices"][0]["message"]["content"] for line in lines},
    }


def inline_flow() -> dict[str, Any]:
    from meshapi import CreateBatchParams

    c = client()
    batch = c.batches.create(CreateBatchParams(requests=_requests(), metadata={"job": "my-batch"}))
    status = _poll(c, batch.id)
    listed = c.batches.list(limit=5)
    return {
        "batch_id": batch.id,
        "created_status": batch.status,
        "status": status.status,
        "metadata": status.metadata,
        "request_counts": status.request_counts,
        "output_file_id": status.output_file_id,
        "listed": [b.id for b in listed.data],
    }


def cancel_flow() -> dict[str, Any]:
    from meshapi import BatchRequestItem, CreateBatchParams

    c = client()
    slow = [
        BatchRequestItem(
            custom_id=f"slow-{i}", body={"model": "fake/slow-2", "messages": [{"role": "user", "content": "wait"}]}
        )
        for i in range(4)
    ]
    batch = c.batches.create(CreateBatchParams(requests=slow))
    cancelled = c.batches.cancel(batch.id)
    return {"status": cancelled.status, "final": _poll(c, batch.id).status}


if VERSION == "0.1.0":
    step("files_flow", files_flow)
else:
    step("inline_flow", inline_flow)
    step("cancel_flow", cancel_flow)
report()
