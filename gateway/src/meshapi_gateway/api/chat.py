"""``POST /v1/chat/completions``: validate, authenticate, limit, then hand over to the chat pipeline."""

from __future__ import annotations

from typing import Any, AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, rid, validate
from meshapi_gateway.api.schemas import ChatRequest, ChatRequestWithTemplate
from meshapi_gateway.api.sse_response import SSEResponse
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.chat import ChatStream
from meshapi_gateway.chat.pipeline import money
from meshapi_gateway.errors import field_error
from meshapi_gateway.sse import DONE_FRAME, error_frame, frame


def fallback_headers(stream: Any) -> dict[str, str]:
    tried = stream.attempted.tried
    headers = {"x-resolved-model-id": stream.target.entry.id}
    if len(tried) > 1:
        headers["x-meshapi-fallback"] = ",".join(tried)
    return headers


async def chat_completions(request: Request) -> Response | SSEResponse:
    state = gw(request)
    request_id = rid(request)
    body = await read_json_object(request)
    principal = await authenticate(state, request.headers.get("authorization"), "data")
    limit_headers = await state.limits.check(principal)
    validate(ChatRequestWithTemplate if body.get("template") else ChatRequest, body)
    pipeline = state.services["chat"]
    body = await pipeline.prepare(principal, body)
    if not body.get("messages"):
        raise field_error("messages", "Field required", type_="missing")
    state.billing.precheck(principal)
    if body.get("stream"):
        stream = await pipeline.stream(principal, body, request_id)
        options = body.get("stream_options")
        include_usage = not (isinstance(options, dict) and options.get("include_usage") is False)
        return SSEResponse(_frames(stream, include_usage, request_id),
                           headers={**limit_headers, **fallback_headers(stream)})
    outcome = await pipeline.complete(principal, body, request_id)
    return json_response(outcome.response, headers={**limit_headers, **fallback_headers(outcome)})


async def _frames(stream: ChatStream, include_usage: bool, request_id: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream.chunks:
            yield frame(chunk)
    finally:
        await stream.aclose()
    if stream.error is not None:
        err = stream.error
        yield error_frame(err.code if err.code != "stream_interrupted" else "upstream_error", err.message,
                          request_id=request_id)
        yield DONE_FRAME
        return
    if include_usage:
        usage = stream.normalizer.usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        yield frame(stream.normalizer.usage_chunk(usage, money(stream.cost) if stream.cost is not None else None))
    yield DONE_FRAME
