"""Batch input files (docs/wire.md, Files and batches)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .._models import Model, RequestParams

__all__ = ["BatchRequestItem", "FileObject", "UploadBatchFileParams"]


class BatchRequestItem(Model):
    custom_id: str
    method: str = "POST"
    url: str = "/v1/chat/completions"
    body: Dict[str, Any]


class UploadBatchFileParams(RequestParams):
    purpose: str = "batch"
    requests: List[BatchRequestItem]


class FileObject(Model):
    id: str
    object: Optional[str] = None
    bytes: Optional[int] = None
    created_at: Optional[int] = None
    filename: Optional[str] = None
    purpose: Optional[str] = None
    status: Optional[str] = None
    status_details: Optional[Any] = None
