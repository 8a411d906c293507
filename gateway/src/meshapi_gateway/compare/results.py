"""Per-model results and the compare object around them (docs/wire.md, Compare)."""

from __future__ import annotations

import os
import time
from typing import Any

from meshapi_gateway.errors import STATUS_BY_CODE, GatewayError


def comparison_id() -> str:
    return "cmp_" + os.urandom(10).hex()


def model_request_id(request_id: str, model: str) -> str:
    return f"{request_id}::{model}"


def completion_text(completion: dict[str, Any]) -> str:
    choices = completion.get("choices") or [{}]
    content = (choices[0].get("message") or {}).get("content")
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return content or ""


def success(
    model: str,
    request_id: str,
    latency_ms: int,
    content: str,
    usage: dict[str, Any] | None,
    cost: str | None,
    finish_reason: str | None,
    response_body: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "model": model,
        "response_body": response_body,
        "content": content,
        "latency_ms": latency_ms,
        "error": None,
        "error_code": None,
        "usage": usage,
        "cost": cost,
        "finish_reason": finish_reason,
        "request_id": model_request_id(request_id, model),
    }


def failure(
    model: str, request_id: str, latency_ms: int, code: str, message: str, partial_content: str | None = None
) -> dict[str, Any]:
    return {
        "model": model,
        "response_body": None,
        "content": partial_content,
        "latency_ms": latency_ms,
        "error": message,
        "error_code": code,
        "usage": None,
        "cost": None,
        "finish_reason": None,
        "request_id": model_request_id(request_id, model),
    }


def all_failed(results: list[dict[str, Any]]) -> GatewayError:
    """The comparison's error when no model answered: 502, unless every model failed for one reason
    that is the client's (every model unknown, say), which is then the answer's own code and status."""
    details = [{"model": r["model"], "code": r["error_code"], "message": r["error"]} for r in results]
    codes = {r["error_code"] for r in results}
    if len(codes) == 1:
        (code,) = codes
        status = STATUS_BY_CODE.get(code, 502)
        if 400 <= status < 500:
            return GatewayError(
                code, "No model could answer: " + " ".join(r["error"] for r in results), details=details
            )
    return GatewayError("all_models_failed", f"All {len(results)} models failed.", details=details)


def envelope(
    cid: str, started: float, models: list[str], results: list[dict[str, Any]], judged: dict[str, Any], skip: bool
) -> dict[str, Any]:
    return {
        "comparison_id": cid,
        "object": "chat.comparison",
        "created": int(time.time()),
        "models": models,
        "results": results,
        "comparison": judged.get("comparison"),
        "comparison_model": judged.get("comparison_model"),
        "comparison_usage": judged.get("comparison_usage"),
        "comparison_cost": judged.get("comparison_cost"),
        "comparison_fallback_used": bool(judged.get("comparison_fallback_used")),
        "comparison_error": judged.get("comparison_error"),
        "comparison_error_code": judged.get("comparison_error_code"),
        "total_latency_ms": int((time.perf_counter() - started) * 1000),
        "partial": any(r["error_code"] for r in results),
        "skip_comparison": skip,
    }
