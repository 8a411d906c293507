"""``POST /v1/embeddings``: read, authenticate, then the embeddings call (``embeddings/call.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, rid, validate
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.calls import Call
from meshapi_gateway.embeddings import request as checks
from meshapi_gateway.embeddings.call import embed


async def create_embeddings(request: Request) -> Response:
    state = gw(request)
    body = await read_json_object(request)
    principal = await authenticate(state, request.headers.get("authorization"), "data")
    call = Call(state, "embeddings", principal, rid(request))
    call.cache_control = request.headers.get("cache-control")
    limit_headers = await call.limit()
    validate(checks.EmbeddingsRequest, body)
    done = await embed(call, body)
    return json_response(done.answer, headers={**limit_headers, **done.headers, **call.cache_headers()})
