"""The OpenAPI document, generated from the same pydantic models that validate requests."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway import __version__
from meshapi_gateway.api.common import json_response
from meshapi_gateway.api.schemas import ChatRequest

_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "object", "properties": {
            "code": {"type": "string"}, "message": {"type": "string"},
            "details": {"type": "array", "items": {}}, "provider_error": {},
            "retry_after_seconds": {"type": "integer"}}, "required": ["code", "message"]},
        "request_id": {"type": "string"},
    },
    "required": ["error", "request_id"],
}

# Extra documented operations that feature areas register: path → method → operation.
EXTRA_PATHS: dict[str, dict[str, Any]] = {}


def _op(summary: str, request_schema: dict[str, Any] | None = None, stream: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {}}}},
            "default": {"description": "Error envelope", "content": {"application/json": {"schema": _ERROR}}},
        },
    }
    if stream:
        op["responses"]["200"]["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    if request_schema is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": request_schema}}}
    return op


def document() -> dict[str, Any]:
    chat_schema = ChatRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = chat_schema.pop("$defs", {})
    paths: dict[str, Any] = {
        "/v1/chat/completions": {"post": _op("Create a chat completion (JSON or SSE stream)",
                                             {"$ref": "#/components/schemas/ChatRequest"}, stream=True)},
        "/v1/models": {"get": _op("List models (bare array with X-MeshAPI-SDK, OpenAI list otherwise)")},
        "/v1/models/free": {"get": _op("List free models")},
        "/v1/models/paid": {"get": _op("List paid models")},
        "/v1/models/search": {"get": _op("Search models: q, free, discounted, input_modality, output_modality, "
                                         "brand, sort, order, limit, offset")},
        "/v1/models/{model_id}": {"get": _op("Get one model")},
        "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "OK"}}}},
        "/ready": {"get": {"summary": "Readiness", "responses": {"200": {"description": "OK"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "OK"}}}},
    }
    for path, ops in EXTRA_PATHS.items():
        paths.setdefault(path, {}).update(ops)
    return {
        "openapi": "3.1.0",
        "info": {"title": "MeshAPI gateway", "version": __version__},
        "paths": paths,
        "components": {"schemas": {"ChatRequest": chat_schema, **defs, "Error": _ERROR},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


async def openapi_json(request: Request) -> Response:
    return json_response(document())
