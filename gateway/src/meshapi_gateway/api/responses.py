"""``POST /v1/responses``: read, authenticate, then the Responses service (native or via chat)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, rid, validate
from meshapi_gateway.api.sse_response import SSEResponse
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.calls import Call
from meshapi_gateway.responses.request import ResponsesRequest
from meshapi_gateway.running_loop import request_task


async def create_response(request: Request) -> Response | SSEResponse:
    state = gw(request)
    body = await read_json_object(request)
    principal = await authenticate(state, request.headers.get("authorization"), "data")
    call = Call(state, "responses", principal, rid(request))
    call.cache_control = request.headers.get("cache-control")
    limit_headers = await call.limit()
    validate(ResponsesRequest, body)
    svc = state.responses
    plan = await svc.plan(principal, body)
    if body.get("stream"):
        # The request's task, found once for the opening and the client watch (running_loop.py).
        task = request_task()
        opened = await svc.stream(call, plan)
        return SSEResponse(
            opened.frames,
            headers={**limit_headers, **opened.headers, **call.cache_headers()},
            on_finish=lambda _client_gone: opened.close(),
            task=task,
        )
    response, headers = await svc.create(call, plan)
    return json_response(response, headers={**limit_headers, **headers, **call.cache_headers()})
