"""The OpenAPI document, generated from the same pydantic models that validate requests."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway import __version__
from meshapi_gateway.api.common import json_response
from meshapi_gateway.api.schemas import ChatRequest

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {}},
                "provider_error": {},
                "retry_after_seconds": {"type": "integer"},
            },
            "required": ["code", "message"],
        },
        "request_id": {"type": "string"},
    },
    "required": ["error", "request_id"],
}

# Extra documented operations that feature areas register: path → method → operation.
EXTRA_PATHS: dict[str, dict[str, Any]] = {}


def _op(
    summary: str, request_schema: dict[str, Any] | None = None, stream: bool = False, status: int = 200
) -> dict[str, Any]:
    """One operation: its success status (201 created, 204 without a body) and the error envelope."""
    success: dict[str, Any] = {"description": {200: "OK", 201: "Created", 204: "No Content"}.get(status, "OK")}
    if status != 204:
        success["content"] = {"application/json": {"schema": {}}}
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {
            str(status): success,
            "default": {
                "description": "Error envelope",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if stream:
        success["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    if request_schema is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": request_schema}}}
    return op


def model_schema(model: type[BaseModel], *required_one_of: str) -> dict[str, Any]:
    """A request model's JSON schema; ``required_one_of``: at least one of these fields must be given."""
    schema = model.model_json_schema()
    if required_one_of:
        schema["anyOf"] = [{"required": [name]} for name in required_one_of]
    return schema


_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def _hoist_defs(schema: Any, components: dict[str, Any]) -> Any:
    """Move pydantic's local ``$defs`` into the document's components, so every ``$ref`` resolves from the root."""
    if isinstance(schema, dict):
        defs = schema.get("$defs") if isinstance(schema.get("$defs"), dict) else None
        # A new dict: the registered operations are shared by every document built in this process.
        out = {k: _hoist_defs(v, components) for k, v in schema.items() if k != "$defs"}
        if isinstance(out.get("$ref"), str) and out["$ref"].startswith("#/$defs/"):
            out["$ref"] = "#/components/schemas/" + out["$ref"][len("#/$defs/") :]
        for name, sub in (defs or {}).items():
            components.setdefault(name, _hoist_defs(sub, components))
        return out
    if isinstance(schema, list):
        return [_hoist_defs(v, components) for v in schema]
    return schema


def _with_path_parameters(path: str, ops: dict[str, Any]) -> dict[str, Any]:
    names = _PATH_PARAM.findall(path)
    if not names:
        return ops
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}} for n in names]
    return {method: {**op, "parameters": params} for method, op in ops.items()}


def _core_paths() -> dict[str, Any]:
    from meshapi_gateway.compare.request import CompareRequest
    from meshapi_gateway.embeddings.request import EmbeddingsRequest
    from meshapi_gateway.responses.request import ResponsesRequest

    chat = {"$ref": "#/components/schemas/ChatRequest"}
    return {
        "/v1/chat/completions": {"post": _op("Create a chat completion (JSON or SSE stream)", chat, stream=True)},
        "/v1/responses": {
            "post": _op(
                "Create a response (OpenAI Responses API; JSON or SSE stream)",
                model_schema(ResponsesRequest, "model", "models", "template"),
                stream=True,
            )
        },
        "/v1/embeddings": {"post": _op("Create embeddings", model_schema(EmbeddingsRequest, "model", "models"))},
        "/v1/chat/compare": {
            "post": _op(
                "Compare several models on one prompt, with an optional judge",
                model_schema(CompareRequest),
                stream=True,
            )
        },
        "/v1/models": {"get": _op("List models (bare array with X-MeshAPI-SDK, OpenAI list otherwise)")},
        "/v1/models/free": {"get": _op("List free models")},
        "/v1/models/paid": {"get": _op("List paid models")},
        "/v1/models/search": {
            "get": _op(
                "Search models: q, free, discounted, input_modality, output_modality, brand, sort, order, limit, offset"
            )
        },
        "/v1/models/{model_id}": {"get": _op("Get one model")},
        "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "OK"}}}},
        "/ready": {
            "get": {
                "summary": "Readiness",
                "responses": {"200": {"description": "OK"}, "503": {"description": "Not ready"}},
            }
        },
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "OK"}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OK"}}}},
    }


def document() -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _ERROR}
    components["ChatRequest"] = _hoist_defs(model_schema(ChatRequest, "model", "models", "template"), components)
    paths: dict[str, Any] = _core_paths()
    for path, ops in EXTRA_PATHS.items():
        paths.setdefault(path, {}).update(ops)
    paths = {path: _with_path_parameters(path, _hoist_defs(ops, components)) for path, ops in paths.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "MeshAPI gateway", "version": __version__},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


async def openapi_json(request: Request) -> Response:
    return json_response(document())
