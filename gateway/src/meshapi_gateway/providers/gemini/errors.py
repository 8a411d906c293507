"""Gemini failures → ``UpstreamError``.

Gemini error bodies are Google RPC statuses: ``{"error": {"code", "message", "status",
"details"}}``. The shared mapping reads them (``RetryInfo`` for 429s, ``API_KEY_INVALID`` on a
400 as a credentials failure); a stream can also carry such a body as an event.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from meshapi_gateway.providers import upstream_errors
from meshapi_gateway.providers.base import UpstreamError

PROVIDER = "gemini"

STATUS_BY_RPC = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def from_response(status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
    return upstream_errors.from_status(status, raw, headers, PROVIDER)


def from_event(data: Any) -> UpstreamError:
    err = data.get("error") if isinstance(data, dict) else None
    err = err if isinstance(err, dict) else {}
    code = err.get("code")
    status = code if isinstance(code, int) else STATUS_BY_RPC.get(str(err.get("status")), 500)
    return upstream_errors.from_status(status, orjson.dumps(data), {}, PROVIDER)
