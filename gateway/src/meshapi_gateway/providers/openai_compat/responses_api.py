"""OpenAI's Responses API on an OpenAI-compatible upstream that has it (``supports_responses_api``).

The body goes through like chat bodies do (upstream model name, MeshAPI-only fields
removed); stream events are parsed only as far as the gateway needs them (the model name
and the final usage), and everything else reaches the client as the upstream sent it.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from meshapi_gateway.http_client import Response
from meshapi_gateway.providers import http_call
from meshapi_gateway.providers.base import CallContext, Provider, Target, UpstreamError
from meshapi_gateway.providers.openai_compat.adapter import OpenAICompatProvider

# Events after which a Responses stream is over.
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _adapter(provider: Provider) -> OpenAICompatProvider:
    if not isinstance(provider, OpenAICompatProvider):
        raise UpstreamError("not_implemented", f"{provider.name} has no Responses API", status=501)
    return provider


async def create_response(provider: Provider, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
    adapter = _adapter(provider)
    payload = adapter._body(body, target)
    payload["stream"] = False
    resp = await adapter._post(adapter._url(target, "/responses"), payload, target, ctx, total=ctx.read_timeout)
    data = await http_call.read_json(resp, adapter.name, "response")
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        raise UpstreamError(
            "upstream_error", f"{adapter.name} sent a response without output", retryable=True, provider_error=data
        )
    return data


async def open_response_stream(
    provider: Provider, body: dict[str, Any], target: Target, ctx: CallContext
) -> AsyncIterator[dict[str, Any]]:
    """Connect (failing here, before any byte, lets the router fall back) and return the event iterator."""
    adapter = _adapter(provider)
    payload = adapter._body(body, target)
    payload["stream"] = True
    resp = await adapter._post(adapter._url(target, "/responses"), payload, target, ctx, total=None)
    return _events(adapter.name, resp)


async def _events(name: str, resp: Response) -> AsyncIterator[dict[str, Any]]:
    finished = False
    events = http_call.sse_events(resp, name)
    try:
        async for sse in events:
            if sse.data == "[DONE]":
                finished = True
                break
            event = http_call.event_json(sse, name)
            if not isinstance(event, dict):
                continue
            kind = event.get("type") or sse.event
            if kind == "error" or (kind is None and isinstance(event.get("error"), dict)):
                err: dict[str, Any] = event["error"] if isinstance(event.get("error"), dict) else event
                raise UpstreamError(
                    str(err.get("code") or "upstream_error"),
                    str(err.get("message") or "upstream stream error"),
                    provider_error=err,
                )
            event.setdefault("type", kind)
            yield event
            if kind in TERMINAL_EVENTS:
                finished = True
                break
    finally:
        await events.aclose()
        resp.release() if finished else resp.close()
    if not finished:
        raise UpstreamError("stream_interrupted", f"{name} ended the stream before it was complete")
