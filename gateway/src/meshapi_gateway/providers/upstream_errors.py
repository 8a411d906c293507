"""Turning an upstream's HTTP failure into an ``UpstreamError`` with our codes.

Shared by every adapter: statuses mean the same thing whoever sent them; only the
shape of the provider's error body differs, and that is kept whole in ``provider_error``.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any, Mapping

import orjson

from meshapi_gateway.errors import ContextLengthExceeded as ContextLengthExceeded  # re-exported for adapters
from meshapi_gateway.errors import UpstreamError
from meshapi_gateway.providers import upstream_refusals

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


# google.rpc statuses (Gemini error bodies) that mean the gateway's credentials were refused,
# whatever HTTP status came with them (an invalid Gemini API key answers 400).
_AUTH_RPC_STATUSES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_EXPIRED"})


def _google_error(body: Any) -> dict[str, Any] | None:
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) and isinstance(err.get("status"), str) else None


def _retry_delay_from_body(body: Any) -> float | None:
    """``google.rpc.RetryInfo.retryDelay`` (e.g. ``"21s"``) from a Google error body's ``details``."""
    err = _google_error(body)
    for detail in (err or {}).get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = str(detail.get("retryDelay") or "").rstrip("s")
            try:
                return max(0.0, float(delay))
            except ValueError:
                return None
    return None


def _is_auth_failure(status: int, body: Any) -> bool:
    if status in (401, 403):
        return True
    err = _google_error(body)
    if err is None:
        return False
    if err.get("status") in _AUTH_RPC_STATUSES:
        return True
    return any(isinstance(d, dict) and d.get("reason") in _AUTH_REASONS for d in err.get("details") or [])


# How vendors word "the prompt is longer than the context window" (OpenAI's code, Anthropic's and
# Gemini's messages, vLLM / llama.cpp servers), lower-cased.
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "context window",
    "prompt is too long",
    "input is too long",
    "exceeds the context",
    "too many tokens",
    "exceed_context_size",
)


def is_context_length_error(body: Any, message: str) -> bool:
    code = ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code = f"{err.get('code') or ''} {err.get('type') or ''}"
    text = f"{code} {message}".lower()
    return any(marker in text for marker in _CONTEXT_MARKERS)


def from_status(status: int, raw: bytes, headers: Mapping[str, str], provider: str) -> UpstreamError:
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = raw[:2000].decode("utf-8", "replace")
    message = provider_message(body, f"{provider} answered HTTP {status}")
    if status >= 500 and upstream_refusals.looks_like_refusal(body, message):
        # The request's content, not the upstream's health: not retried, not held against the deployment.
        details = upstream_refusals.validation_details(message) or []
        return UpstreamError(
            "validation_error",
            f"{provider} refused the request: {upstream_refusals.clean_text(message)}",
            status=422,
            retryable=False,
            provider_error={"detail": details} if details else upstream_refusals.clean_body(body),
            upstream_status=status,
        )
    body = upstream_refusals.clean_body(body)
    message = upstream_refusals.clean_text(message)
    if status in (400, 413, 422) and is_context_length_error(body, message):
        return ContextLengthExceeded(
            "validation_error", message, status=422, retryable=False, provider_error=body, upstream_status=status
        )
    retry_after = parse_retry_after(headers)
    if retry_after is None:
        retry_after = _retry_delay_from_body(body)
    retryable = status in RETRYABLE_STATUSES
    if _is_auth_failure(status, body):
        # Our credentials for this upstream, not the client's request: report it as the upstream's fault.
        return UpstreamError(
            "upstream_error",
            f"{provider} refused the gateway's credentials: {message}",
            status=500,
            retryable=False,
            provider_error=body,
            upstream_status=status,
        )
    if status == 429:
        return UpstreamError(
            "rate_limit_exceeded",
            message,
            status=429,
            retryable=True,
            provider_error=body,
            retry_after=retry_after,
            upstream_status=status,
        )
    if status in (529, 503) or (isinstance(body, dict) and "overloaded" in str(body.get("error", "")).lower()):
        return UpstreamError(
            "upstream_error",
            message,
            status=503,
            retryable=True,
            provider_error=body,
            retry_after=retry_after,
            upstream_status=status,
        )
    if status in (400, 404, 413, 422):
        return UpstreamError(
            "validation_error", message, status=422, retryable=False, provider_error=body, upstream_status=status
        )
    return UpstreamError(
        "upstream_error",
        message,
        status=500,
        retryable=retryable,
        provider_error=body,
        retry_after=retry_after,
        upstream_status=status,
    )


def connection_failed(provider: str, exc: BaseException) -> UpstreamError:
    return UpstreamError(
        "upstream_error",
        f"could not reach {provider}: {type(exc).__name__}: {exc}".rstrip(": "),
        status=500,
        retryable=True,
    )


def timed_out(provider: str, what: str = "answer") -> UpstreamError:
    """``what`` is the step missed ("send the next chunk"); a phrase with its own bound ("... within X") stays whole."""
    phrase = what if " within " in what else f"{what} in time"
    return UpstreamError("gateway_timeout", f"{provider} did not {phrase}", status=500, retryable=True)
