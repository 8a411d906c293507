"""``/v1/batches``: create (from an uploaded file or inline requests), get, list, cancel."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object
from meshapi_gateway.api.files import query_limit
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.batches.service import BatchService

EXTRA_PATHS.update(
    {
        "/v1/batches": {
            "post": _op("Create a batch from an uploaded file or inline requests"),
            "get": _op("List batches (newest first; after, limit)"),
        },
        "/v1/batches/{batch_id}": {"get": _op("Get a batch")},
        "/v1/batches/{batch_id}/cancel": {"post": _op("Cancel a batch (finished requests are kept)")},
    }
)


def batches_service(request: Request) -> BatchService:
    service = gw(request).batches
    assert service is not None  # installed at start-up by batches/setup.py
    return service


async def create_batch(request: Request) -> Response:
    state = gw(request)
    principal = await authenticate(state, request.headers.get("authorization"), "data")
    body = await read_json_object(request)
    return json_response(await batches_service(request).create(principal, body))


async def get_batch(request: Request) -> Response:
    principal = await authenticate(gw(request), request.headers.get("authorization"), "data")
    return json_response(await batches_service(request).get(principal.owner, request.path_params["batch_id"]))


async def list_batches(request: Request) -> Response:
    principal = await authenticate(gw(request), request.headers.get("authorization"), "data")
    items, has_more = await batches_service(request).list(
        principal.owner, after=request.query_params.get("after") or None, limit=query_limit(request, 20, 100)
    )
    return json_response(
        {
            "object": "list",
            "data": items,
            "has_more": has_more,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None,
        }
    )


async def cancel_batch(request: Request) -> Response:
    principal = await authenticate(gw(request), request.headers.get("authorization"), "data")
    return json_response(await batches_service(request).cancel(principal.owner, request.path_params["batch_id"]))
