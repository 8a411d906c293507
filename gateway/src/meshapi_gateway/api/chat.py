"""``POST /v1/chat/completions``: validate, authenticate, limit, then hand over to the chat pipeline.

A plain ASGI handler (see ``api/raw.py``): this is the busiest route of the gateway.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import Receive, Scope, Send

from meshapi_gateway.api.common import parse_json_object, validate
from meshapi_gateway.api.raw import JSON_HEADERS, encode_headers, read_body, send_error
from meshapi_gateway.api.sse_response import SSE_HEADERS, LastFrames, SSEResponse, sse_head
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.calls import Call, answer_headers
from meshapi_gateway.chat import ChatOutcome, ChatStream
from meshapi_gateway.errors import GatewayError, field_error, mid_stream_code
from meshapi_gateway.idempotency.asgi import run_keyed
from meshapi_gateway.money import money
from meshapi_gateway.reliability.disconnect import (
    ClientGone,
    cancel_on_disconnect,
    client_gone,
    unwatch,
    watch_client,
)
from meshapi_gateway.request_schemas import ChatRequest, ChatRequestWithTemplate, plainly_valid_chat
from meshapi_gateway.routing import auto_select
from meshapi_gateway.routing.auto import AUTO_IDS
from meshapi_gateway.running_loop import request_task
from meshapi_gateway.sse import DONE_FRAME, error_frame, frames

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState


def fallback_headers(outcome: Any) -> dict[str, str]:
    headers = answer_headers(outcome.target, outcome.attempted)
    ctx = getattr(outcome, "ctx", None)
    if ctx is not None and ctx.response_headers:
        headers.update(ctx.response_headers)  # e.g. x-meshapi-warning for dropped parameters
    return headers


# The encoded headers that end most answers, by (answering model, cache status): built once, not per answer.
_ANSWER_TAILS: dict[tuple[str, str], tuple[tuple[bytes, bytes], ...]] = {}
_MAX_ANSWER_TAILS = 10_000


def answer_head(
    body: bytes, limit_headers: dict[str, str], outcome: ChatOutcome, call: Call
) -> list[tuple[bytes, bytes]]:
    """The headers of a whole answer, as ``send_bytes`` would encode them from the same dicts.

    An answer from the first model tried, with no warning of the adapter's and no semantic cache
    hit, ends with the same two headers for every answer of that model: those are kept encoded.
    """
    ctx = outcome.ctx
    if (
        len(outcome.attempted.tried) > 1
        or (ctx is not None and ctx.response_headers)
        or call.cache_similarity is not None
    ):
        headers = {**limit_headers, **fallback_headers(outcome), **call.cache_headers()}
        return [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *encode_headers(headers)]
    key = (outcome.target.entry.id, call.cache_status or "bypass")
    tail = _ANSWER_TAILS.get(key)
    if tail is None:
        tail = tuple(encode_headers({"x-resolved-model-id": key[0], "x-meshapi-cache": key[1]}))
        if len(_ANSWER_TAILS) < _MAX_ANSWER_TAILS:
            _ANSWER_TAILS[key] = tail
    if limit_headers:
        return [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *encode_headers(limit_headers), *tail]
    return [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *tail]


# The same for a stream's head: the SSE headers, then the limits, then this tail (as ``SSEResponse`` encodes them).
_STREAM_TAILS: dict[tuple[str, str], tuple[tuple[bytes, bytes], ...]] = {}


def stream_head(limit_headers: dict[str, str], stream: ChatStream, call: Call) -> list[tuple[bytes, bytes]]:
    """The encoded headers of a stream: those of the first model tried, with no warning and no
    semantic hit, end the same for every stream of that model and are kept encoded."""
    ctx = stream.ctx
    if (
        len(stream.attempted.tried) > 1
        or (ctx is not None and ctx.response_headers)
        or call.cache_similarity is not None
    ):
        return sse_head({**limit_headers, **fallback_headers(stream), **call.cache_headers()})
    key = (stream.target.entry.id, call.cache_status or "bypass")
    tail = _STREAM_TAILS.get(key)
    if tail is None:
        tail = tuple(sse_head({"x-resolved-model-id": key[0], "x-meshapi-cache": key[1]})[len(SSE_HEADERS) :])
        if len(_STREAM_TAILS) < _MAX_ANSWER_TAILS:
            _STREAM_TAILS[key] = tail
    if limit_headers:
        return [*sse_head(limit_headers), *tail]
    return [*SSE_HEADERS, *tail]


async def chat_completions(
    state: "GatewayState", scope: Scope, receive: Receive, send: Send, *, idempotent: bool = True
) -> None:
    """``idempotent=False`` when the ``Idempotency-Key`` layer has already run for this request."""
    request_id: str = scope["state"]["request_id"]  # set by RequestContext, the outermost layer
    limit_headers: dict[str, str] = {}
    authorization = cache_control = None
    for name, value in scope["headers"]:  # the first of each, as ``header`` reads them
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"cache-control":
            if cache_control is None:
                cache_control = value.decode("latin-1")
        elif name == b"idempotency-key" and idempotent:
            # Found in the same pass as the rest: a request without the header pays no layer of its own.
            await run_keyed(chat_completions, state, scope, receive, send, bytes(value))
            return
    try:
        raw = await read_body(scope, receive, state.settings.max_body_bytes)
        body = parse_json_object(raw)
        principal = await authenticate(state, authorization, "data")
        call = Call(state, "chat", principal, request_id)
        call.cache_control = cache_control
        call.cache_body = raw  # until a template or auto routing rewrites the body
        limit_headers = await state.limits.check(principal)  # ``call.limit()``, spelled out
        if not plainly_valid_chat(body):
            validate(ChatRequestWithTemplate if body.get("template") else ChatRequest, body)
        pipeline = state.chat
        if "template" in body:  # only a template rewrites a chat body
            call.cache_body = None
            body = await pipeline.prepare(principal, body)
            if not body.get("messages"):
                raise field_error("messages", "Field required", type_="missing")
        model = body.get("model")
        if type(model) is str and model in AUTO_IDS:
            call.cache_body = None
            body = auto_select.resolve(state, principal, body)
        # Opening (with fallbacks and backoff) and non-streamed answers stop the moment the client leaves.
        # The request's task, found once: the call and the client watches run in it (running_loop.py).
        task = call.task = request_task()
        if body.get("stream"):
            # One watch from the opening to the relay's end: the response takes it over.
            watch = watch_client(receive, task)
            try:
                try:
                    stream = await pipeline.stream(call, body)
                except asyncio.CancelledError:
                    if not watch.gone:
                        raise
                    raise client_gone(watch, "stream") from None
                options = body.get("stream_options")
                include_usage = not (isinstance(options, dict) and options.get("include_usage") is False)
                response = SSEResponse(
                    _Frames(stream, include_usage, request_id),
                    head=stream_head(limit_headers, stream, call),
                    # No ``on_finish``: the response closes its frames however it ends, and they close the stream.
                    interrupted_frames=lambda: _interrupted(request_id),
                    watch=watch,
                )
            except BaseException:
                unwatch(watch)
                raise
        else:
            completing = pipeline.complete(call, body)
            outcome = await cancel_on_disconnect(receive, completing, task=task)
    except GatewayError as exc:
        await send_error(scope, send, exc, limit_headers)
        return
    except ClientGone:
        await send_error(scope, send, GatewayError("invalid_request", "Client closed the request.", status=499))
        return
    if body.get("stream"):
        await response(scope, receive, send)
    else:
        answer = orjson.dumps(outcome.response)
        await send(
            {"type": "http.response.start", "status": 200, "headers": answer_head(answer, limit_headers, outcome, call)}
        )
        await send({"type": "http.response.body", "body": answer})


class ChatRoute:
    """The same handler mounted in Starlette's router (reached when the fast path is bypassed)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # IdempotencyMiddleware has already handled the Idempotency-Key on this path.
        await chat_completions(scope["app"].state.gw, scope, receive, send, idempotent=False)


def _interrupted(request_id: str) -> bytes:
    return (
        error_frame("upstream_error", "The gateway shut down before the answer was complete.", request_id=request_id)
        + DONE_FRAME
    )


class _Frames:
    """Client frames: what one upstream read brought goes out in one write (never held back longer).

    The last batch goes out with the usage chunk, ``[DONE]`` and the end of the response in one
    write (``LastFrames``), once the stream has been billed. A plain object rather than an async
    generator, as it steps once per upstream read of every stream.
    """

    __slots__ = ("_done", "_include_usage", "_request_id", "_stream")

    def __init__(self, stream: ChatStream, include_usage: bool, request_id: str) -> None:
        self._stream = stream
        self._include_usage = include_usage
        self._request_id = request_id
        self._done = False

    def __aiter__(self) -> "_Frames":
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        stream = self._stream
        last = b""
        step = stream.batches.__anext__  # by hand, not ``async for``: no ``__aiter__`` call per step
        try:
            while True:
                try:
                    batch = await step()
                except StopAsyncIteration:
                    break
                data = frames(batch)
                if stream.completed or stream.error is not None:
                    last = data  # the batches end with this one: no further step to learn it
                    break
                return data
        except BaseException:
            self._done = True
            await stream.aclose()
            raise
        self._done = True
        await stream.aclose()
        if stream.error is not None:
            err = stream.error
            code = mid_stream_code(err)
            return LastFrames(last + error_frame(code, err.message, request_id=self._request_id) + DONE_FRAME)
        if self._include_usage:
            usage = stream.normalizer.usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            last += stream.normalizer.usage_frame(usage, money(stream.cost) if stream.cost is not None else None)
        return LastFrames(last + DONE_FRAME)

    async def aclose(self) -> None:
        if self._done:
            return  # the stream was closed (and billed) where the frames ended
        self._done = True
        await self._stream.aclose()
