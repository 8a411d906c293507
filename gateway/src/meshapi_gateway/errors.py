"""The one error type of the gateway and its JSON envelope.

Every failure a client can see goes out as
``{"error": {"code", "message", "details"?, "provider_error"?, "retry_after_seconds"?}, "request_id"}``
(docs/wire.md, Error envelope), because the published SDKs only understand that shape.
"""

from __future__ import annotations

from typing import Any

import orjson

from meshapi_gateway.observability.record import note_error

# Status for each documented code, so raising by code alone is enough.
STATUS_BY_CODE: dict[str, int] = {
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "model_not_found": 404,
    "file_not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "payload_too_large": 413,
    "spend_limit_exceeded": 402,
    "validation_error": 422,
    "unprocessable_entity": 422,
    "context_length_exceeded": 422,
    "invalid_request": 400,
    "model_capability_not_supported": 400,
    "invalid_batch_file": 400,
    "rate_limit_exceeded": 429,
    "batch_limit_exceeded": 429,
    "upstream_error": 500,
    "gateway_timeout": 500,
    "internal_error": 500,
    "not_implemented": 501,
    "all_models_failed": 502,
    "provider_not_available": 503,
}


class GatewayError(Exception):
    """An error with a machine code, rendered into the documented envelope."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        details: list[Any] | None = None,
        provider_error: Any = None,
        retry_after_seconds: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
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
    return validation_error([{"type": "extra_forbidden", "loc": ["body", name], "msg": "Extra inputs are not permitted"}
                             for name in names], f"Unknown field(s): {', '.join(names)}.")
