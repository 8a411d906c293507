"""Batch job types (docs/wire.md, Files and batches)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .._models import Model, RequestParams

__all__ = ["BatchList", "BatchObject", "CreateBatchParams"]


class CreateBatchParams(RequestParams):
    input_file_id: str
    endpoint: str = "/v1/chat/completions"
    completion_window: str = "24h"
    metadata: Optional[Dict[str, str]] = None


class BatchObject(Model):
    id: str
    object: Optional[str] = None
    endpoint: Optional[str] = None
    input_file_id: Optional[str] = None
    output_file_id: Optional[str] = None
    error_file_id: Optional[str] = None
    status: Optional[str] = None
    model: Optional[str] = None
    provider: Optional[str] = None
    created_at: Optional[int] = None
    completed_at: Optional[int] = None
    usage_synced: Optional[bool] = None
    request_counts: Optional[Dict[str, Any]] = None
    metadata: Optional[Dict[str, Any]] = None

    @property
    def is_terminal(self) -> bool:
        return self.status in ("completed", "failed", "cancelled", "expired")


class BatchList(Model):
    object: str = "list"
    data: List[BatchObject] = []
    has_more: bool = False
    first_id: Optional[str] = None
    last_id: Optional[str] = None
