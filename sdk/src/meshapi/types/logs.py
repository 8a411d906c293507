"""Request log types: what ``GET /v1/logs`` and ``GET /v1/logs/{request_id}`` return."""

from __future__ import annotations

from typing import List, Optional

from .._models import DecimalStr, Model

__all__ = ["RequestLog", "RequestLogAttempt", "RequestLogList", "RequestLogUsage"]


class RequestLogAttempt(Model):
    model: str
    deployment: str
    outcome: str  # "ok" or the error code
    duration_ms: float


class RequestLogUsage(Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


class RequestLog(Model):
    id: str
    request_id: str
    created_at: int
    created_ms: Optional[int] = None
    owner: Optional[str] = None
    key_id: Optional[str] = None
    team_id: Optional[str] = None
    endpoint: str = ""
    requested_model: Optional[str] = None
    model: Optional[str] = None
    deployment: Optional[str] = None
    status: int = 0
    error_code: Optional[str] = None
    streamed: bool = False
    time_to_first_token_ms: Optional[float] = None
    duration_ms: float = 0.0
    usage: RequestLogUsage = RequestLogUsage()
    cost: Optional[DecimalStr] = None
    idempotent_replay: bool = False
    cache_status: Optional[str] = None
    client_address: Optional[str] = None
    user_agent: Optional[str] = None
    attempt_count: int = 0
    # Only in ``logs.get``:
    attempts: Optional[List[RequestLogAttempt]] = None
    request_body: Optional[str] = None
    response_body: Optional[str] = None


class RequestLogList(Model):
    data: List[RequestLog]
    has_more: bool = False
    next_cursor: Optional[str] = None
