"""The Anthropic Messages adapter: OpenAI chat in, ``POST /v1/messages`` out, OpenAI chat back.

Translation lives in ``request``/``response``/``stream``/``errors``; this module only moves
bytes. A stream is opened and read up to its first event before it is handed over, so an
upstream that fails at once (HTTP error or an ``error`` event first) still lets the router
fall back before anything reaches the client.
"""

from __future__ import annotations

from typing import Any, AsyncGenerator, AsyncIterator, Awaitable

from meshapi_gateway.http_client import Response
from meshapi_gateway.providers import http_call
from meshapi_gateway.providers.anthropic import errors
from meshapi_gateway.providers.anthropic.request import build_request
from meshapi_gateway.providers.anthropic.response import to_completion
from meshapi_gateway.providers.anthropic.stream import AnthropicStreamTranslator
from meshapi_gateway.providers.base import CallContext, Provider, Target, UpstreamError
from meshapi_gateway.providers.translation import warn_dropped
from meshapi_gateway.sse import SSEEvent

API_VERSION = "2023-06-01"
FIXED = {"anthropic-version": API_VERSION}  # the adapter's own headers beside the key
DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicProvider(Provider):
    name = "anthropic"

    def _url(self, target: Target) -> str:
        base = (target.deployment.base_url or target.entry.base_url or DEFAULT_BASE_URL).rstrip("/")
        return base + ("/messages" if base.endswith("/v1") else "/v1/messages")

    def _post(self, target: Target, ctx: CallContext, payload: dict[str, Any], *, stream: bool) -> Awaitable[Response]:
        return http_call.post_json_made(
            ctx, self._url(target), payload, target, "x-api-key", FIXED, self.name, errors.from_response, stream=stream
        )

    async def chat(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        req = build_request(body, target, stream=False)
        resp = await self._post(target, ctx, req.body, stream=False)
        message = await http_call.read_json(resp, self.name)
        if not isinstance(message, dict) or message.get("type") == "error":
            raise errors.from_event(message)
        warn_dropped(ctx, req.dropped, req.notes)
        return to_completion(message)

    async def open_chat_stream(
        self, body: dict[str, Any], target: Target, ctx: CallContext
    ) -> AsyncIterator[dict[str, Any]]:
        req = build_request(body, target, stream=True)
        resp = await self._post(target, ctx, req.body, stream=True)
        translator = AnthropicStreamTranslator()
        events, head = await http_call.stream_head(
            resp, self.name, lambda first: translator.feed(first.event, http_call.event_json(first, self.name))
        )
        warn_dropped(ctx, req.dropped, req.notes)
        return self._chunks(resp, events, translator, head)

    async def _chunks(
        self,
        resp: Response,
        events: AsyncGenerator[SSEEvent, None],
        translator: AnthropicStreamTranslator,
        head: list[dict[str, Any]],
    ) -> AsyncIterator[dict[str, Any]]:
        try:
            for chunk in head:
                yield chunk
            async for event in events:
                for chunk in translator.feed(event.event, http_call.event_json(event, self.name)):
                    yield chunk
                if translator.done:
                    break
            if not translator.done:
                raise UpstreamError("stream_interrupted", "anthropic ended the stream before message_stop")
        finally:
            await events.aclose()
            resp.release() if translator.done else resp.close()
