"""The batch object as OpenAI's clients and the MeshAPI SDKs read it (docs/wire.md, Files and batches)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from meshapi_gateway.money import money
from meshapi_gateway.store.batches_tables import Batch

ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
TERMINAL = ("completed", "failed", "expired", "cancelled")


@dataclass(slots=True)
class ItemTotals:
    """What the items of one batch add up to so far."""

    succeeded: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)


def batch_object(row: Batch, totals: ItemTotals, provider: str | None = None) -> dict[str, Any]:
    errors = orjson.loads(row.errors_json) if row.errors_json else None
    return {
        "id": row.id,
        "object": "batch",
        "endpoint": row.endpoint,
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": row.input_file_id,
        "completion_window": row.completion_window,
        "status": row.status,
        "output_file_id": row.output_file_id,
        "error_file_id": row.error_file_id,
        "created_at": row.created_at,
        "in_progress_at": row.in_progress_at,
        "expires_at": row.expires_at,
        "finalizing_at": row.finalizing_at,
        "completed_at": row.completed_at,
        "failed_at": row.failed_at,
        "expired_at": row.expired_at,
        "cancelling_at": row.cancelling_at,
        "cancelled_at": row.cancelled_at,
        "request_counts": {"total": row.total, "completed": totals.succeeded, "failed": totals.failed},
        "metadata": orjson.loads(row.metadata_json) if row.metadata_json else None,
        "model": row.model,
        "provider": provider,
        "usage": {
            "input_tokens": totals.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": totals.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": totals.prompt_tokens + totals.completion_tokens,
        },
        "cost": money(totals.cost),
        "usage_synced": row.status in TERMINAL,
    }
