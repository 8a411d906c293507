"""Auto router preview types: ``POST /v1/router/select`` (what ``model="auto"`` would choose, and why)."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional

from .._models import DecimalStr, Model, RequestParams
from .chat import ChatMessage, Tool

__all__ = ["AutoRouterMeta", "RouterCandidate", "RouterSelectParams", "RouterSelection"]


class RouterSelectParams(RequestParams):
    messages: List[ChatMessage]
    api_type: Optional[Literal["completions", "responses", "embeddings"]] = None
    exclude_models: Optional[List[str]] = None
    tools: Optional[List[Tool]] = None
    response_format: Optional[Dict[str, Any]] = None
    reasoning_effort: Optional[Literal["high", "medium", "low", "minimal", "none"]] = None
    max_tokens: Optional[int] = None


class AutoRouterMeta(Model):
    fallback_used: bool = False
    fallback_reason: Optional[str] = None


class RouterCandidate(Model):
    """One model the router considered; ``dropped`` says why it was not chosen (None: it qualified)."""

    model: str
    selected: bool = False
    estimated_cost_usd: Optional[DecimalStr] = None
    dropped: Optional[str] = None
    reason: Optional[str] = None


class RouterSelection(Model):
    model: str
    resolved_model_id: Optional[str] = None
    auto_router: AutoRouterMeta = AutoRouterMeta()
    reasoning_effort: Optional[str] = None
    reason: Optional[str] = None
    candidates: List[RouterCandidate] = []
