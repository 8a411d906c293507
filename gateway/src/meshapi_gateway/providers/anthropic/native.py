"""Anthropic Messages requests passed through as they are, for clients that already speak them.

``POST /v1/messages`` on a model served by Anthropic sends the client's own body (with the
upstream model name), so prompt-caching marks, thinking blocks and their signatures, and
everything Anthropic adds later reach Anthropic unchanged, and the answer comes back
unchanged. The client's ``anthropic-beta`` header goes along. Failures are the adapter's
usual ``UpstreamError``s, so the router retries and falls back as for any call; a stream is
read up to its first event before it is handed over, for the same reason as in the adapter.
"""

from __future__ import annotations

from typing import Any, AsyncGenerator, AsyncIterator, Awaitable

from meshapi_gateway.http_client import Response
from meshapi_gateway.providers import http_call
from meshapi_gateway.providers.anthropic import errors
from meshapi_gateway.providers.anthropic.adapter import API_VERSION, DEFAULT_BASE_URL, FIXED
from meshapi_gateway.providers.base import CallContext, Target, UpstreamError
from meshapi_gateway.sse import SSEEvent

PROVIDER = "anthropic"


def url(target: Target, path: str = "/messages") -> str:
    base = (target.deployment.base_url or target.entry.base_url or DEFAULT_BASE_URL).rstrip("/")
    return base + (path if base.endswith("/v1") else "/v1" + path)


def post(
    ctx: CallContext, url: str, payload: dict[str, Any], target: Target, beta: str | None, *, stream: bool
) -> Awaitable[Response]:
    """The upstream call, its head made once per deployment unless a beta varies it per request."""
    if not beta:
        return http_call.post_json_made(
            ctx, url, payload, target, "x-api-key", FIXED, PROVIDER, errors.from_response, stream=stream
        )
    fixed = {"anthropic-version": API_VERSION, "anthropic-beta": beta}
    headers = http_call.upstream_headers(target, ctx, "x-api-key", fixed=fixed)
    return http_call.post_json(ctx, url, payload, headers, PROVIDER, errors.from_response, stream=stream)


def upstream_body(body: dict[str, Any], target: Target) -> dict[str, Any]:
    return {**body, "model": target.upstream_model}


async def create(body: dict[str, Any], target: Target, ctx: CallContext, beta: str | None) -> dict[str, Any]:
    payload = {k: v for k, v in upstream_body(body, target).items() if k != "stream"}
    resp = await post(ctx, url(target), payload, target, beta, stream=False)
    message = await http_call.read_json(resp, PROVIDER)
    if not isinstance(message, dict) or message.get("type") == "error":
        raise errors.from_event(message)
    return message


async def count_tokens(body: dict[str, Any], target: Target, ctx: CallContext, beta: str | None) -> int:
    resp = await post(
        ctx, url(target, "/messages/count_tokens"), upstream_body(body, target), target, beta, stream=False
    )
    answer = await http_call.read_json(resp, PROVIDER)
    count = answer.get("input_tokens") if isinstance(answer, dict) else None
    if not isinstance(count, int):
        raise UpstreamError("upstream_error", "anthropic answered count_tokens without input_tokens", retryable=True)
    return count


def _checked(event: SSEEvent) -> dict[str, Any]:
    data = http_call.event_json(event, PROVIDER)
    if not isinstance(data, dict):
        raise UpstreamError("upstream_error", "anthropic sent a stream event that is not an object")
    if data.get("type") == "error" or event.event == "error":
        raise errors.from_event(data)
    return data


async def open_stream(
    body: dict[str, Any], target: Target, ctx: CallContext, beta: str | None
) -> AsyncIterator[dict[str, Any]]:
    """The upstream's events as dicts (each with its ``type``), opened and read up to the first one."""
    payload = {**upstream_body(body, target), "stream": True}
    resp = await post(ctx, url(target), payload, target, beta, stream=True)
    events, first = await http_call.stream_head(resp, PROVIDER, _checked)
    return _events(resp, events, first)


async def _events(
    resp: Response, events: AsyncGenerator[SSEEvent, None], first: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    done = False
    try:
        yield first
        async for event in events:
            data = _checked(event)
            yield data
            if data.get("type") == "message_stop":
                done = True
                break
        if not done:
            raise UpstreamError("stream_interrupted", "anthropic ended the stream before message_stop")
    finally:
        await events.aclose()
        resp.release() if done else resp.close()
