"""``POST /v1/chat/compare``: read, authenticate, then fan out (streamed or not)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, rid, validate
from meshapi_gateway.api.sse_response import SSEResponse
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.calls import Call
from meshapi_gateway.compare import request as checks
from meshapi_gateway.compare.run import compare as run_compare
from meshapi_gateway.compare.run import prepare
from meshapi_gateway.compare.stream import CompareStream


async def compare(request: Request) -> Response | SSEResponse:
    state = gw(request)
    body = await read_json_object(request)
    principal = await authenticate(state, request.headers.get("authorization"), "data")
    call = Call(state, "compare", principal, rid(request))
    limit_headers = await call.limit()
    validate(checks.CompareRequest, body)
    plan = await prepare(call, body)
    if body.get("stream"):
        stream = CompareStream(call, plan)
        await stream.open()
        return SSEResponse(stream.frames(), headers=limit_headers, on_finish=lambda _client_gone: stream.aclose())
    return json_response(await run_compare(call, plan), headers=limit_headers)
