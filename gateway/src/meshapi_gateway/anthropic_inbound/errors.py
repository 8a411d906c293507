"""Gateway errors in Anthropic's error envelope, which the anthropic SDK and Claude Code understand.

``{"type": "error", "error": {"type": <error type>, "message": …}, "request_id": …}`` with the
status Anthropic documents for that type and a ``request-id`` header. Request validation is a
400 ``invalid_request_error`` here (Anthropic's status), where the OpenAI side says 422.
"""

from __future__ import annotations

from meshapi_gateway.errors import GatewayError
from meshapi_gateway.providers.upstream_errors import is_context_length_error
from meshapi_gateway.wire_json import dumps_ascii

# Gateway code → (Anthropic error type, status).
TYPES: dict[str, tuple[str, int]] = {
    "unauthorized": ("authentication_error", 401),
    "forbidden": ("permission_error", 403),
    "spend_limit_exceeded": ("billing_error", 402),
    "not_found": ("not_found_error", 404),
    "model_not_found": ("not_found_error", 404),
    "file_not_found": ("not_found_error", 404),
    "payload_too_large": ("request_too_large", 413),
    "rate_limit_exceeded": ("rate_limit_error", 429),
    "gateway_timeout": ("timeout_error", 504),
    "provider_not_available": ("overloaded_error", 529),
}


# Types an Anthropic upstream's own error keeps (its credential and permission refusals are the
# gateway's problem, not the client's, and stay api_error).
UPSTREAM_TYPES = {
    "invalid_request_error": 400,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _upstream_type(provider_error: object) -> str | None:
    if isinstance(provider_error, dict) and provider_error.get("type") == "error":
        err = provider_error.get("error")
        kind = err.get("type") if isinstance(err, dict) else None
        if isinstance(kind, str) and kind in UPSTREAM_TYPES:
            return kind
    return None


def error_type(exc: GatewayError) -> tuple[str, int]:
    """The Anthropic type and status standing for ``exc``."""
    known = TYPES.get(exc.code)
    if known is not None:
        return known
    upstream = _upstream_type(exc.provider_error) if exc.status >= 500 else None
    if upstream is not None:
        return upstream, UPSTREAM_TYPES[upstream]
    if exc.status == 429:
        return "rate_limit_error", 429
    if exc.status == 499:
        return "invalid_request_error", 499  # the client left; nobody reads this answer
    if 400 <= exc.status < 500:
        return "invalid_request_error", 400
    if exc.status == 504:
        return "timeout_error", 504
    if exc.status in (503, 529):
        return "overloaded_error", 529
    return "api_error", exc.status if exc.status >= 500 else 500


# Anthropic's words for a prompt beyond the context window; Claude Code looks for them to compact its history.
TOO_LONG = "prompt is too long"


def message_of(exc: GatewayError) -> str:
    """The message, with the first validation detail named (Anthropic's messages name the field)."""
    if exc.code == "context_length_exceeded" or (
        exc.status < 500 and is_context_length_error(exc.provider_error, exc.message)
    ):
        return exc.message if exc.message.lower().startswith(TOO_LONG) else f"{TOO_LONG}: {exc.message}"
    details = exc.details if isinstance(exc.details, list) else []
    first = details[0] if details and isinstance(details[0], dict) else None
    if first is None or exc.code != "validation_error":
        return exc.message
    loc = [str(p) for p in first.get("loc") or [] if p != "body"]
    where = ".".join(loc)
    return f"{where}: {first.get('msg')}" if where else str(first.get("msg") or exc.message)


def event_payload(kind: str, message: str, request_id: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"type": "error", "error": {"type": kind, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


def envelope(exc: GatewayError, request_id: str) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) of the answer to ``exc``."""
    kind, status = error_type(exc)
    headers = {**exc.headers, "request-id": request_id}
    return status, dumps_ascii(event_payload(kind, message_of(exc), request_id)), headers
