"""Turning an upstream's HTTP failure into an ``UpstreamError`` with our codes.

Shared by every adapter: statuses mean the same thing whoever sent them; only the
shape of the provider's error body differs, and that is kept whole in ``provider_error``.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any, Mapping

import orjson

from meshapi_gateway.providers.base import UpstreamError

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


def provider_message(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail")
            if isinstance(msg, str) and msg:
                return msg
        elif isinstance(err, str) and err:
            return err
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return fallback


def from_status(status: int, raw: bytes, headers: Mapping[str, str], provider: str) -> UpstreamError:
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = raw[:2000].decode("utf-8", "replace")
    message = provider_message(body, f"{provider} answered HTTP {status}")
    retry_after = parse_retry_after(headers)
    retryable = status in RETRYABLE_STATUSES
    if status == 429:
        return UpstreamError("rate_limit_exceeded", message, status=429, retryable=True, provider_error=body,
                             retry_after=retry_after, upstream_status=status)
    if status in (529, 503) or (isinstance(body, dict) and "overloaded" in str(body.get("error", "")).lower()):
        return UpstreamError("upstream_error", message, status=503, retryable=True, provider_error=body,
                             retry_after=retry_after, upstream_status=status)
    if status in (400, 404, 413, 422):
        return UpstreamError("validation_error", message, status=422, retryable=False, provider_error=body,
                             upstream_status=status)
    return UpstreamError("upstream_error", message, status=500, retryable=retryable, provider_error=body,
                         retry_after=retry_after, upstream_status=status)


def connection_failed(provider: str, exc: BaseException) -> UpstreamError:
    return UpstreamError("upstream_error", f"could not reach {provider}: {type(exc).__name__}: {exc}".rstrip(": "),
                         status=500, retryable=True)


def timed_out(provider: str, what: str = "answer") -> UpstreamError:
    return UpstreamError("gateway_timeout", f"{provider} did not {what} in time", status=500, retryable=True)
