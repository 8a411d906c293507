"""Multi-model compare types (docs/wire.md, Compare and Compare stream events).

Stream events come in two vocabularies (nested ``{"event", "data"}`` payloads
and the hosted gateway's flat payloads with the name on the SSE ``event:``
line). The stream decoder normalises both so that ``event.event`` is the name
and ``event.data`` the payload dict; flat fields stay readable as attributes.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .._models import Model, RequestParams
from .chat import ChatMessage

__all__ = [
    "CompareParams",
    "CompareResponse",
    "CompareResult",
    "CompareStreamEvent",
    "CompareUsage",
    "ModelOverride",
]


class ModelOverride(Model):
    model: str
    temperature: Optional[float] = None
    max_tokens: Optional[int] = None
    system_prompt: Optional[str] = None


class CompareParams(RequestParams):
    models: List[str]
    messages: List[ChatMessage]
    model_overrides: Optional[List[ModelOverride]] = None
    comparison_model: Optional[str] = None
    comparison_instructions: Optional[str] = None
    temperature: Optional[float] = None
    max_tokens: Optional[int] = None
    stream: Optional[bool] = False
    template: Optional[str] = None
    variables: Optional[Dict[str, str]] = None
    skip_comparison: Optional[bool] = False
    cache: Optional[bool] = None


class CompareUsage(Model):
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    total_tokens: Optional[int] = None


class CompareResult(Model):
    model: str = ""
    response_body: Optional[Dict[str, Any]] = None
    content: Optional[str] = None
    latency_ms: Optional[int] = None
    error: Optional[Any] = None
    error_code: Optional[str] = None
    usage: Optional[CompareUsage] = None
    request_id: Optional[str] = None


class CompareResponse(Model):
    comparison_id: str = ""
    object: Optional[str] = None
    created: Optional[int] = None
    models: List[str] = []
    results: List[CompareResult] = []
    comparison: Optional[str] = None
    comparison_model: Optional[str] = None
    comparison_usage: Optional[CompareUsage] = None
    comparison_fallback_used: Optional[bool] = None
    total_latency_ms: Optional[int] = None
    partial: Optional[bool] = None
    skip_comparison: Optional[bool] = None


class CompareStreamEvent(Model):
    event: Optional[str] = None
    data: Optional[Dict[str, Any]] = None
    # Flat copies some gateways send next to (or instead of) ``data``.
    model: Optional[str] = None
    delta: Optional[Any] = None
    content: Optional[str] = None
    finish_reason: Optional[str] = None
    comparison_id: Optional[str] = None
    comparison_model: Optional[str] = None
    models: Optional[List[str]] = None
    latency_ms: Optional[int] = None
    total_latency_ms: Optional[int] = None
    error: Optional[Any] = None
    error_code: Optional[str] = None
    usage: Optional[Any] = None
    skip_comparison: Optional[bool] = None
    partial: Optional[bool] = None
    comparison_fallback_used: Optional[bool] = None
