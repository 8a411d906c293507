"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: Anthropic's Messages API (docs/anthropic.md).

The key comes in ``x-api-key`` (the anthropic SDK) or ``Authorization: Bearer`` (Claude Code
with ``ANTHROPIC_AUTH_TOKEN``); ``anthropic-version`` is accepted whatever it says and
``anthropic-beta`` is only handed on to Anthropic upstreams, so no beta is refused. Every
failure leaves in Anthropic's error envelope with a ``request-id`` header. Plain ASGI
handlers, like chat's: the request body is read once and errors never reach Starlette's
handlers (which would answer in the OpenAI-shaped envelope).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from meshapi_gateway.anthropic_inbound import count, service
from meshapi_gateway.anthropic_inbound.errors import envelope
from meshapi_gateway.anthropic_inbound.stream import error_event
from meshapi_gateway.api.common import parse_json_object
from meshapi_gateway.api.openapi import EXTRA_PATHS
from meshapi_gateway.api.raw import header, read_body, send_bytes
from meshapi_gateway.api.sse_response import SSEResponse
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.calls import Call
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.reliability.disconnect import ClientGone, cancel_on_disconnect
from meshapi_gateway.request_context import request_id_of
from meshapi_gateway.running_loop import request_task
from meshapi_gateway.wire_json import dumps

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState


_ANTHROPIC_ERROR = {
    "type": "object",
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            "required": ["type", "message"],
        },
        "request_id": {"type": "string"},
    },
    "required": ["type", "error"],
}
_BLOCKS = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}
_REQUEST_FIELDS: dict[str, object] = {
    "model": {"type": "string", "minLength": 1},
    "messages": {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "properties": {"role": {"enum": ["user", "assistant"]}, "content": _BLOCKS},
            "required": ["role", "content"],
        },
    },
    "system": _BLOCKS,
    "tools": {"type": "array", "items": {"type": "object"}},
    "tool_choice": {"type": "object"},
    "thinking": {"type": "object"},
}
_MESSAGES_REQUEST: dict[str, object] = {
    "type": "object",
    "properties": {
        **_REQUEST_FIELDS,
        "max_tokens": {"type": "integer", "minimum": 1},
        "stop_sequences": {"type": "array", "items": {"type": "string"}},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "top_k": {"type": "integer", "minimum": 0},
        "metadata": {"type": "object"},
        "stream": {"type": "boolean"},
    },
    "required": ["model", "max_tokens", "messages"],
}
_COUNT_REQUEST: dict[str, object] = {"type": "object", "properties": _REQUEST_FIELDS, "required": ["model", "messages"]}


def _documented(summary: str, request: dict[str, object], success: dict[str, object]) -> dict[str, object]:
    return {
        "summary": summary,
        "description": "Anthropic's Messages API (docs/anthropic.md): the key in x-api-key or Authorization: Bearer.",
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
        "responses": {
            "200": {"description": "OK", "content": success},
            "default": {
                "description": "Anthropic's error envelope",
                "content": {"application/json": {"schema": _ANTHROPIC_ERROR}},
            },
        },
    }


EXTRA_PATHS.update(
    {
        "/v1/messages": {
            "post": _documented(
                "Create a message (Anthropic Messages API; JSON or SSE stream)",
                _MESSAGES_REQUEST,
                {
                    "application/json": {"schema": {"type": "object"}},
                    "text/event-stream": {"schema": {"type": "string"}},
                },
            )
        },
        "/v1/messages/count_tokens": {
            "post": _documented(
                "Count a Messages request's input tokens",
                _COUNT_REQUEST,
                {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"input_tokens": {"type": "integer"}},
                            "required": ["input_tokens"],
                        }
                    }
                },
            )
        },
    }
)


async def _principal(state: "GatewayState", scope: Scope) -> Principal:
    api_key = header(scope, b"x-api-key")
    if api_key is not None and api_key.strip():
        return await authenticate(state, "Bearer " + api_key.strip(), "data")
    authorization = header(scope, b"authorization")
    if authorization is None:
        raise GatewayError("unauthorized", "Missing API key: send 'x-api-key: <key>' or 'Authorization: Bearer <key>'.")
    return await authenticate(state, authorization, "data")


async def _send_error(scope: Scope, send: Send, exc: GatewayError, extra: dict[str, str] | None = None) -> None:
    status, body, headers = envelope(exc, request_id_of(scope))
    await send_bytes(send, body, status, {**(extra or {}), **headers})


async def messages(state: "GatewayState", scope: Scope, receive: Receive, send: Send) -> None:
    request_id = request_id_of(scope)
    limit_headers: dict[str, str] = {}
    try:
        body = parse_json_object(await read_body(scope, receive, state.settings.max_body_bytes))
        principal = await _principal(state, scope)
        call = Call(state, service.ENDPOINT, principal, request_id)
        limit_headers = await call.limit()
        plan = await service.plan(state, principal, body, request_id)
        beta = header(scope, b"anthropic-beta")
        # Admission, routing and metering go through ``call``; opening stops the moment the client leaves.
        # The request's task, found once (running_loop.py).
        task = request_task()
        if body.get("stream") is True:
            opening = service.open_stream(call, body, plan, beta)
            answer = await cancel_on_disconnect(receive, opening, "stream", task)
        else:
            answer = await cancel_on_disconnect(receive, service.create(call, body, plan, beta), task=task)
    except GatewayError as exc:
        await _send_error(scope, send, exc, limit_headers)
        return
    except ClientGone:
        await _send_error(scope, send, GatewayError("invalid_request", "Client closed the request.", status=499))
        return
    headers = {**limit_headers, **answer.headers, "request-id": request_id}
    if answer.frames is None:
        await send_bytes(send, dumps(answer.message), headers=headers)
        return
    close = answer.close

    async def finish(_client_gone: bool) -> None:
        if close is not None:
            await close()

    interrupted = error_event("api_error", "The gateway shut down before the answer was complete.", request_id)
    await SSEResponse(answer.frames, headers=headers, on_finish=finish, interrupted_frames=interrupted, task=task)(
        scope, receive, send
    )


async def count_tokens(state: "GatewayState", scope: Scope, receive: Receive, send: Send) -> None:
    request_id = request_id_of(scope)
    limit_headers: dict[str, str] = {}
    try:
        body = parse_json_object(await read_body(scope, receive, state.settings.max_body_bytes))
        principal = await _principal(state, scope)
        limit_headers = await Call(state, "count_tokens", principal, request_id).limit()  # not billed: never admitted
        entry = service.resolve_entry(state, body)
        tokens = await cancel_on_disconnect(
            receive, count.count_tokens(state, entry, body, request_id, header(scope, b"anthropic-beta"))
        )
    except GatewayError as exc:
        await _send_error(scope, send, exc, limit_headers)
        return
    except ClientGone:
        await _send_error(scope, send, GatewayError("invalid_request", "Client closed the request.", status=499))
        return
    await send_bytes(send, dumps({"input_tokens": tokens}), headers={**limit_headers, "request-id": request_id})


class MessagesRoute:
    """``messages`` mounted in Starlette's router."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await messages(scope["app"].state.gw, scope, receive, send)


class CountTokensRoute:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await count_tokens(scope["app"].state.gw, scope, receive, send)
