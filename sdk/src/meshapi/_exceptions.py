"""Error types and the mapping from HTTP responses / stream frames onto them.

Every failure the SDK reports is a :class:`MeshAPIError` (as in the 0.1.0
README), so ``except MeshAPIError`` keeps working; the subclasses only add a
way to catch one kind of failure by type. Raw ``httpx`` exceptions never
escape: the transport converts them into :class:`APIConnectionError` /
:class:`APITimeoutError` / :class:`StreamInterruptedError`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Type

from ._retry import parse_retry_after

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
    "MeshAPIError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseParseError",
    "SpendLimitError",
    "StreamInterruptedError",
    "ValidationError",
]


class MeshAPIError(Exception):
    """Base error. ``str(error)`` is the server's message.

    ``status`` is the HTTP status (0 when there was no HTTP error status, e.g.
    a dropped connection or an error frame inside a stream).
    """

    status: int
    error_code: str
    request_id: str
    details: List[Any]
    provider_error: Optional[Dict[str, Any]]
    retry_after_seconds: Optional[float]

    def __init__(
        self,
        message: str,
        status: int = 0,
        error_code: str = "unknown_error",
        request_id: str = "",
        details: Optional[List[Any]] = None,
        provider_error: Optional[Dict[str, Any]] = None,
        retry_after_seconds: Optional[float] = None,
        *,
        body: Any = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code
        self.request_id = request_id
        self.details = list(details) if details else []
        self.provider_error = provider_error
        self.retry_after_seconds = retry_after_seconds
        self.body = body
        self.headers: Mapping[str, str] = headers if headers is not None else {}

    def __reduce__(self) -> Any:
        # Subclasses have different constructor signatures; rebuild from state
        # so errors survive pickling (multiprocessing, task queues).
        state = dict(self.__dict__)
        state["headers"] = dict(self.headers)
        return (_rebuild, (type(self), state))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status}, "
            f"error_code={self.error_code!r}, request_id={self.request_id!r})"
        )


def _rebuild(cls: Type[MeshAPIError], state: Dict[str, Any]) -> MeshAPIError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class APIStatusError(MeshAPIError):
    """The server answered with an HTTP error status."""


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401 ``unauthorized``: invalid, missing or wrong-realm token."""


class SpendLimitError(APIStatusError):
    """HTTP 402 ``spend_limit_exceeded``: account balance exhausted."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403 ``forbidden``: key suspended or feature not allowed."""


class NotFoundError(APIStatusError):
    """HTTP 404 ``not_found`` / ``model_not_found`` / ``file_not_found``."""


class ConflictError(APIStatusError):
    """HTTP 409 ``conflict`` (e.g. duplicate template name)."""


class ValidationError(APIStatusError):
    """HTTP 422 ``validation_error`` / ``unprocessable_entity``: bad request body."""


class RateLimitError(APIStatusError):
    """HTTP 429 ``rate_limit_exceeded``; see ``retry_after_seconds``."""


class InternalServerError(APIStatusError):
    """HTTP 5xx: ``upstream_error`` / ``gateway_timeout`` / ``internal_error`` ..."""


class APIConnectionError(MeshAPIError):
    """The request could not be completed: DNS, refused, reset, protocol error."""

    def __init__(self, message: str = "Connection error.", **kwargs: Any) -> None:
        kwargs.setdefault("error_code", "connection_error")
        super().__init__(message, **kwargs)


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or pool)."""

    def __init__(self, message: str = "Request timed out.", **kwargs: Any) -> None:
        kwargs.setdefault("error_code", "timeout")
        super().__init__(message, **kwargs)


class StreamInterruptedError(MeshAPIError):
    """A stream ended early: connection dropped, timed out, or EOF before ``[DONE]``.

    Streams are never retried automatically once they have started; catch this
    and start a new request.
    """

    def __init__(self, message: str = "Stream interrupted.", **kwargs: Any) -> None:
        kwargs.setdefault("error_code", "stream_interrupted")
        super().__init__(message, **kwargs)


class ResponseParseError(MeshAPIError):
    """The response body could not be parsed (``error_code="parse_error"``)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("error_code", "parse_error")
        super().__init__(message, **kwargs)


class ConfigurationError(MeshAPIError, ValueError):
    """The client was constructed without what it needs (base URL, token)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code="configuration_error")


_STATUS_CLASSES: Dict[int, Type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: SpendLimitError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}

# Used for errors without an HTTP status (stream error frames) and for bodies
# that lack the envelope's ``code``.
_CODE_CLASSES: Dict[str, Type[MeshAPIError]] = {
    "invalid_request": BadRequestError,
    "unauthorized": AuthenticationError,
    "spend_limit_exceeded": SpendLimitError,
    "forbidden": PermissionDeniedError,
    "not_found": NotFoundError,
    "model_not_found": NotFoundError,
    "file_not_found": NotFoundError,
    "conflict": ConflictError,
    "validation_error": ValidationError,
    "unprocessable_entity": ValidationError,
    "rate_limit_exceeded": RateLimitError,
    "batch_limit_exceeded": RateLimitError,
    "upstream_error": InternalServerError,
    "gateway_timeout": InternalServerError,
    "internal_error": InternalServerError,
    "all_models_failed": InternalServerError,
    "provider_not_available": InternalServerError,
    "stream_interrupted": StreamInterruptedError,
    "parse_error": ResponseParseError,
}

_STATUS_CODES: Dict[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    402: "spend_limit_exceeded",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "validation_error",
    429: "rate_limit_exceeded",
    500: "internal_error",
    501: "not_implemented",
    502: "upstream_error",
    503: "upstream_error",
    504: "gateway_timeout",
}


def code_for_status(status: int) -> str:
    code = _STATUS_CODES.get(status)
    if code is not None:
        return code
    if status >= 500:
        return "upstream_error"
    return "unknown_error"


def class_for(status: int, code: str) -> Type[MeshAPIError]:
    if status:
        cls = _STATUS_CLASSES.get(status)
        if cls is not None:
            return cls
        if status >= 500:
            return InternalServerError
        return APIStatusError
    return _CODE_CLASSES.get(code, MeshAPIError)


def _build(
    status: int,
    envelope: Mapping[str, Any],
    fallback_message: str,
    request_id: str,
    retry_after: Optional[float],
    body: Any,
    headers: Optional[Mapping[str, str]],
) -> MeshAPIError:
    err = envelope.get("error")
    if isinstance(err, dict):
        code = err.get("code")
        message = err.get("message")
        details = err.get("details")
        provider_error = err.get("provider_error")
        body_retry = err.get("retry_after_seconds")
        rid = envelope.get("request_id") or err.get("request_id")
    else:
        code = None
        message = err if isinstance(err, str) else None
        details = None
        provider_error = None
        body_retry = envelope.get("retry_after_seconds")
        rid = envelope.get("request_id")
        detail = envelope.get("detail")
        if isinstance(detail, dict) and isinstance(detail.get("error"), dict):
            # FastAPI HTTPException wrapping the envelope: {"detail": {"error": {...}}}
            return _build(status, detail, fallback_message, request_id, retry_after, body, headers)
        if message is None and isinstance(detail, str):
            message = detail
        elif message is None and isinstance(detail, list):
            details = detail
            message = "Request validation failed."
    if not isinstance(code, str) or not code:
        code = code_for_status(status) if status else "upstream_error"
    if not isinstance(message, str) or not message:
        message = fallback_message
    if isinstance(details, dict):
        details = [details]
    elif not isinstance(details, list):
        details = None
    if not isinstance(provider_error, dict):
        provider_error = None
    if isinstance(body_retry, (int, float)) and not isinstance(body_retry, bool):
        # The body states it explicitly; the header is only the fallback.
        retry_after = body_retry
    if isinstance(retry_after, float) and retry_after.is_integer():
        retry_after = int(retry_after)  # "Retry after 3s", as 0.1.0 printed it
    cls = class_for(status, code)
    return cls(
        message,
        status=status,
        error_code=code,
        request_id=rid if isinstance(rid, str) and rid else request_id,
        details=details,
        provider_error=provider_error,
        retry_after_seconds=retry_after,
        body=body,
        headers=headers,
    )


def error_from_response(response: httpx.Response) -> MeshAPIError:
    """Map an HTTP error response (body already read) onto the right subclass."""
    status = response.status_code
    headers = response.headers
    request_id = headers.get("x-request-id", "")
    retry_after = parse_retry_after(headers)
    content = response.content
    fallback = f"HTTP {status}"
    try:
        data = json.loads(content) if content else None
    except ValueError:
        data = None
        text = content.decode("utf-8", "replace")[:500]
        cls = class_for(status, "parse_error")
        return cls(
            text or fallback,
            status=status,
            error_code="parse_error",
            request_id=request_id,
            retry_after_seconds=retry_after,
            body=text,
            headers=headers,
        )
    if not isinstance(data, dict):
        data = {}
    return _build(status, data, fallback, request_id, retry_after, data, headers)


def error_from_frame(frame: Mapping[str, Any], request_id: str) -> MeshAPIError:
    """A mid-stream ``{"error": {...}}`` frame (status 0, as in 0.1.0)."""
    return _build(0, frame, "Stream error.", request_id, None, dict(frame), None)
