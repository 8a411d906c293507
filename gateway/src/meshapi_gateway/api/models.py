"""``/v1/models``: a bare array for MeshAPI SDKs, OpenAI's list envelope for everyone else (docs/wire.md, Models)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.catalog.search import MAX_LIMIT, SORTS, SearchQuery, search
from meshapi_gateway.errors import GatewayError, validation_error


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


def _query_error(name: str, msg: str, value: str) -> GatewayError:
    return validation_error([{"type": "value_error", "loc": ["query", name], "msg": msg, "input": value}])


def _flag(params: Any, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() not in ("true", "false"):
        raise _query_error(name, "must be true or false", raw)
    return bool(raw.lower() == "true")


def _many(params: Any, name: str) -> tuple[str, ...]:
    # Repeated (?brand=a&brand=b, as httpx sends a list), bracketed or comma-separated.
    values = [*params.getlist(name), *params.getlist(name + "[]")]
    return tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())


def _count(params: Any, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else -1
    if not low <= value <= high:
        raise _query_error(name, f"must be an integer from {low} to {high}", raw)
    return value


def search_query(params: Any) -> SearchQuery:
    sort = params.get("sort") or None
    if sort is not None and sort not in SORTS:
        raise _query_error("sort", f"must be one of {', '.join(SORTS)}", sort)
    order = params.get("order") or "asc"
    if order not in ("asc", "desc"):
        raise _query_error("order", "must be asc or desc", order)
    q = params.get("q") or ""
    if len(q) > 500:
        raise _query_error("q", "at most 500 characters", q[:50])
    return SearchQuery(
        q=q.strip(),
        free=_flag(params, "free"),
        discounted=_flag(params, "discounted"),
        input_modality=_many(params, "input_modality"),
        output_modality=_many(params, "output_modality"),
        brand=_many(params, "brand"),
        sort=sort,
        descending=order == "desc",
        limit=_count(params, "limit", 50, 1, MAX_LIMIT),
        offset=_count(params, "offset", 0, 0, 10**9),
    )


async def search_models(request: Request) -> Response:
    """``GET /v1/models/search``: the 0.1.11 SDK's ``ModelsPage``."""
    await authenticate(gw(request), request.headers.get("authorization"), "any")
    return json_response(search(gw(request).catalog.wire_list(), search_query(request.query_params)))
