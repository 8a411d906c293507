"""``POST /v1/chat/compare``: validate, authenticate, limit, then fan out (streamed or not)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, rid, validate
from meshapi_gateway.api.sse_response import SSEResponse
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.compare import request as checks
from meshapi_gateway.compare.run import compare as run_compare
from meshapi_gateway.compare.stream import CompareStream
from meshapi_gateway.errors import field_error
from meshapi_gateway.routing import auto_select


async def compare(request: Request) -> Response | SSEResponse:
    state = gw(request)
    request_id = rid(request)
    body = await read_json_object(request)
    principal = await authenticate(state, request.headers.get("authorization"), "data")
    limit_headers = await state.limits.check(principal)
    validate(checks.CompareRequest, body)
    settings = state.settings
    pipeline = state.services["chat"]
    plan = await checks.plan(pipeline, principal, body, settings.compare_max_models, settings.compare_judge_model,
                             settings.compare_judge_fallbacks)
    plan = checks.resolve_models(plan, lambda chat: auto_select.resolve(state, principal, chat))
    if body.get("comparison_model") and body["comparison_model"] not in state.catalog:
        raise field_error("comparison_model", f"Model '{body['comparison_model']}' is not supported.",
                          value=body["comparison_model"])
    for model in plan.models:
        if model in state.catalog:
            state.billing.precheck(principal, model)
    if body.get("stream"):
        stream = CompareStream(pipeline, principal, plan, request_id)
        await stream.open()
        return SSEResponse(stream.frames(), headers=limit_headers, on_finish=lambda _client_gone: stream.aclose())
    return json_response(await run_compare(pipeline, principal, plan, request_id), headers=limit_headers)
