"""The gateway's errors: one tree, one list of codes with their statuses, one retry rule, one envelope.

    Exception
     └── GatewayError              what a client is told: code, message, status, details,
          │                        provider_error, retry_after_seconds, headers → the envelope
          └── UpstreamError        one upstream attempt failed; adds retryable, retry_after (s),
               │                   upstream_status, for the router to decide what to try next
               └── ContextLengthExceeded   the prompt does not fit: only a longer-context model may take it

Every failure a client can see goes out as
``{"error": {"code", "message", "details"?, "provider_error"?, "retry_after_seconds"?}, "request_id"}``
(docs/wire.md, Error envelope), because the published SDKs only understand that shape. Codes
are ``ErrorCode`` members, a ``str`` enum, so the wire carries the same strings as before.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import orjson

from meshapi_gateway.observability.record import note_error


class ErrorCode(StrEnum):
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    MODEL_NOT_FOUND = "model_not_found"
    FILE_NOT_FOUND = "file_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    SPEND_LIMIT_EXCEEDED = "spend_limit_exceeded"
    VALIDATION_ERROR = "validation_error"
    UNPROCESSABLE_ENTITY = "unprocessable_entity"
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    INVALID_REQUEST = "invalid_request"
    MODEL_CAPABILITY_NOT_SUPPORTED = "model_capability_not_supported"
    INVALID_BATCH_FILE = "invalid_batch_file"
    NOT_CONFIGURED = "not_configured"
    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
    BATCH_LIMIT_EXCEEDED = "batch_limit_exceeded"
    UPSTREAM_ERROR = "upstream_error"
    STREAM_INTERRUPTED = "stream_interrupted"
    GATEWAY_TIMEOUT = "gateway_timeout"
    INTERNAL_ERROR = "internal_error"
    NOT_IMPLEMENTED = "not_implemented"
    ALL_MODELS_FAILED = "all_models_failed"
    PROVIDER_NOT_AVAILABLE = "provider_not_available"


# The status of each code, so raising by code alone is enough (a raise may still name another).
STATUS_BY_CODE: dict[str, int] = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.MODEL_NOT_FOUND: 404,
    ErrorCode.FILE_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.SPEND_LIMIT_EXCEEDED: 402,
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.UNPROCESSABLE_ENTITY: 422,
    ErrorCode.CONTEXT_LENGTH_EXCEEDED: 422,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.MODEL_CAPABILITY_NOT_SUPPORTED: 400,
    ErrorCode.INVALID_BATCH_FILE: 400,
    ErrorCode.NOT_CONFIGURED: 400,
    ErrorCode.RATE_LIMIT_EXCEEDED: 429,
    ErrorCode.BATCH_LIMIT_EXCEEDED: 429,
    ErrorCode.UPSTREAM_ERROR: 500,
    # Mid-stream it goes out as an ``upstream_error`` frame; as a status (a stream that broke
    # before anything was sent, every fallback failing alike) it is an upstream failure.
    ErrorCode.STREAM_INTERRUPTED: 500,
    ErrorCode.GATEWAY_TIMEOUT: 500,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.NOT_IMPLEMENTED: 501,
    ErrorCode.ALL_MODELS_FAILED: 502,
    ErrorCode.PROVIDER_NOT_AVAILABLE: 503,
}

_BY_VALUE = {code.value: code for code in ErrorCode}


def code_of(code: ErrorCode | str) -> ErrorCode | str:
    """The ``ErrorCode`` member a string names (a string the list lacks stays as it is)."""
    return _BY_VALUE.get(code, code)


class GatewayError(Exception):
    """An error with a machine code, rendered into the documented envelope."""

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        *,
        status: int | None = None,
        details: list[Any] | None = None,
        provider_error: Any = None,
        retry_after_seconds: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code_of(code)
        self.message = message
        self.status = status if status is not None else STATUS_BY_CODE.get(code, 500)
        self.details = details
        self.provider_error = provider_error
        self.retry_after_seconds = retry_after_seconds
        self.headers = dict(headers or {})
        if retry_after_seconds is not None:
            self.headers.setdefault("retry-after", str(retry_after_seconds))

    def error_object(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            err["details"] = self.details
        if self.provider_error is not None:
            err["provider_error"] = self.provider_error
        if self.retry_after_seconds is not None:
            err["retry_after_seconds"] = self.retry_after_seconds
        return err

    def envelope(self, request_id: str) -> bytes:
        note_error(self.code)
        return orjson.dumps({"error": self.error_object(), "request_id": request_id})


class UpstreamError(GatewayError):
    """One upstream attempt failed. ``retryable`` says whether another attempt or deployment may help.

    ``retry_after`` is the upstream's own wait (seconds, fractional); the router honours it and
    turns it into the client's ``retry_after_seconds`` when nothing else answers.
    """

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        provider_error: Any = None,
        retry_after: float | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(code, message, status=status, provider_error=provider_error)
        self.retryable = retryable
        self.retry_after = retry_after
        self.upstream_status = upstream_status


class ContextLengthExceeded(UpstreamError):
    """The prompt does not fit the model's context window; a longer-context model may take it."""


# The one rule for a stream that fails after it was opened and before its first chunk: nothing has
# reached the client, so these failures may go to another deployment whatever the adapter said
# (docs/reliability.md, Streams). After the first chunk nothing is retried.
RETRYABLE_BEFORE_FIRST_CHUNK = frozenset(
    {
        ErrorCode.STREAM_INTERRUPTED,
        ErrorCode.UPSTREAM_ERROR,
        ErrorCode.GATEWAY_TIMEOUT,
        ErrorCode.RATE_LIMIT_EXCEEDED,
        ErrorCode.PROVIDER_NOT_AVAILABLE,
    }
)


def before_first_chunk(exc: UpstreamError) -> UpstreamError:
    """``exc`` marked retryable when it broke a stream before its first chunk and the rule allows."""
    if exc.code in RETRYABLE_BEFORE_FIRST_CHUNK:
        exc.retryable = True
    return exc


def mid_stream_code(exc: GatewayError) -> str:
    """The code an error frame carries once a stream has started: an interrupted upstream is an
    ``upstream_error`` to the client (docs/wire.md, Error envelope)."""
    return ErrorCode.UPSTREAM_ERROR if exc.code == ErrorCode.STREAM_INTERRUPTED else exc.code


def validation_error(details: list[dict[str, Any]], message: str = "Request validation failed.") -> GatewayError:
    return GatewayError("validation_error", message, details=details)


def field_error(field: str, msg: str, *, type_: str = "value_error", value: Any = None) -> GatewayError:
    """A 422 naming one body field, in pydantic's detail shape."""
    item: dict[str, Any] = {"type": type_, "loc": ["body", field], "msg": msg}
    if value is not None:
        item["input"] = value
    return validation_error([item])


def unknown_fields_error(names: list[str]) -> GatewayError:
    """A 422 naming the fields a strict body does not know (nothing a client sends is silently dropped)."""
    return validation_error(
        [{"type": "extra_forbidden", "loc": ["body", name], "msg": "Extra inputs are not permitted"} for name in names],
        f"Unknown field(s): {', '.join(names)}.",
    )
