"""Anthropic failures → ``UpstreamError``: HTTP error bodies and the stream's ``error`` event.

An ``error`` event carries the same ``{"type": "error", "error": {"type", "message"}}`` body as
an HTTP error, without the status; the documented error type says which status it stands for.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from meshapi_gateway.providers import upstream_errors
from meshapi_gateway.providers.base import UpstreamError

PROVIDER = "anthropic"

STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def from_response(status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
    return upstream_errors.from_status(status, raw, headers, PROVIDER)


def from_event(data: Any) -> UpstreamError:
    err = data.get("error") if isinstance(data, dict) else None
    kind = err.get("type") if isinstance(err, dict) else None
    status = STATUS_BY_TYPE.get(str(kind), 500)
    return upstream_errors.from_status(status, orjson.dumps(data), {}, PROVIDER)
