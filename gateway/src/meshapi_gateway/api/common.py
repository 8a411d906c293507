"""What every route shares: reading a JSON body, rendering JSON, and the error handlers."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.errors import GatewayError, validation_error
from meshapi_gateway.json_bounds import check_depth
from meshapi_gateway.limits.current import current as current_limit_headers
from meshapi_gateway.request_context import request_id_of
from meshapi_gateway.state import GatewayState

JSON = "application/json"


def gw(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gw
    return state


def rid(request: Request) -> str:
    return request_id_of(request.scope)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise GatewayError("payload_too_large", f"Request body is larger than {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise GatewayError("payload_too_large", f"Request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or the 422 that names what is wrong with it."""
    if not raw.strip():
        raise validation_error([{"type": "missing", "loc": ["body"], "msg": "Request body is required"}])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise validation_error(
            [{"type": "json_invalid", "loc": ["body", exc.pos], "msg": f"JSON decode error: {exc.msg}"}],
            "Request body is not valid JSON.",
        ) from None
    if not isinstance(data, dict):
        raise validation_error([{"type": "model_type", "loc": ["body"], "msg": "Request body must be a JSON object"}])
    check_depth(raw, data)
    return data


async def read_json_object(request: Request) -> dict[str, Any]:
    return parse_json_object(await read_body(request, gw(request).settings.max_body_bytes))


def pydantic_details(exc: PydanticValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors(include_url=False, include_context=False):
        item: dict[str, Any] = {"type": err["type"], "loc": ["body", *err["loc"]], "msg": err["msg"]}
        value = err.get("input")
        if value is None or isinstance(value, (str, int, float, bool)):
            item["input"] = value if not isinstance(value, str) else value[:200]
        out.append(item)
    return out


def validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        details = pydantic_details(exc)
        unknown = [str(d["loc"][-1]) for d in details if d["type"] == "extra_forbidden"]
        # Strict bodies say which fields they do not know, so nothing is silently dropped.
        message = f"Unknown field(s): {', '.join(unknown)}." if unknown else "Request validation failed."
        raise validation_error(details, message) from None


def error_response(exc: GatewayError, request_id: str) -> Response:
    return Response(exc.envelope(request_id), status_code=exc.status, media_type=JSON, headers=exc.headers)


async def on_gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    for name, value in current_limit_headers().items():  # errors after the limit check keep X-RateLimit-*
        exc.headers.setdefault(name, value)
    return error_response(exc, rid(request))


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    401: "unauthorized",
    403: "forbidden",
    413: "payload_too_large",
    400: "invalid_request",
}


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "internal_error" if exc.status_code >= 500 else "invalid_request")
    message = {
        404: f"No route for {request.method} {request.url.path}.",
        405: f"Method {request.method} is not allowed on {request.url.path}.",
    }.get(exc.status_code, str(exc.detail))
    headers = dict(exc.headers or {})
    return error_response(GatewayError(code, message, status=exc.status_code, headers=headers), rid(request))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    return error_response(GatewayError("internal_error", "Internal server error."), rid(request))
