"""``/v1/models``: a bare array for MeshAPI SDKs, OpenAI's list envelope for everyone else (wire-protocol §6)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.errors import GatewayError


def _filtered(request: Request, free: bool | None) -> list[dict[str, Any]]:
    items = gw(request).catalog.wire_list()
    q = request.query_params
    if free is None and q.get("free") in ("true", "false"):
        free = q.get("free") == "true"
    if free is not None:
        items = [m for m in items if m["is_free"] is free]
    if q.get("type"):
        items = [m for m in items if m["model_type"] == q["type"]]
    if q.get("provider"):
        items = [m for m in items if m["provider"] == q["provider"]]
    return items


def _wants_bare(request: Request) -> bool:
    return "x-meshapi-sdk" in request.headers


async def list_models(request: Request) -> Response:
    await authenticate(gw(request), request.headers.get("authorization"), "any")
    items = _filtered(request, None)
    if _wants_bare(request):
        return json_response(items)
    return json_response({"object": "list", "data": items})


async def free_models(request: Request) -> Response:
    await authenticate(gw(request), request.headers.get("authorization"), "any")
    return json_response(_filtered(request, True))


async def paid_models(request: Request) -> Response:
    await authenticate(gw(request), request.headers.get("authorization"), "any")
    return json_response(_filtered(request, False))


async def get_model(request: Request) -> Response:
    await authenticate(gw(request), request.headers.get("authorization"), "any")
    model_id = request.path_params["model_id"]
    entry = gw(request).catalog.get(model_id)
    if entry is None:
        raise GatewayError("model_not_found", f"Model '{model_id}' is not supported.")
    return json_response(entry.wire())
