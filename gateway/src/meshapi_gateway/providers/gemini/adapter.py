"""The Gemini adapter: OpenAI chat and embeddings in, ``generateContent`` and friends out.

Authentication is the ``x-goog-api-key`` header (never the URL, so keys stay out of
logs). Streams use ``:streamGenerateContent?alt=sse`` and are read up to their first event
before being handed over, so an upstream that fails at once still lets the router fall back.
"""

from __future__ import annotations

from typing import Any, AsyncGenerator, AsyncIterator
from urllib.parse import quote

from meshapi_gateway.http_client import Response
from meshapi_gateway.providers import http_call
from meshapi_gateway.providers.base import CallContext, Provider, Target, UpstreamError
from meshapi_gateway.providers.gemini import embeddings as embed
from meshapi_gateway.providers.gemini import errors
from meshapi_gateway.providers.gemini.request import build_request
from meshapi_gateway.providers.gemini.response import to_completion
from meshapi_gateway.providers.gemini.stream import GeminiStreamTranslator
from meshapi_gateway.providers.translation import warn_dropped
from meshapi_gateway.sse import SSEEvent

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"


class GeminiProvider(Provider):
    name = "gemini"

    def _url(self, target: Target, method: str) -> str:
        base = (target.deployment.base_url or target.entry.base_url or DEFAULT_BASE_URL).rstrip("/")
        if not (base.endswith("/v1beta") or base.endswith("/v1")):
            base += "/v1beta"
        return f"{base}/models/{quote(target.upstream_model, safe='.-_')}:{method}"

    async def chat(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        req = build_request(body, target)
        resp = await http_call.post_json_made(
            ctx,
            self._url(target, "generateContent"),
            req.body,
            target,
            "x-goog-api-key",
            {},
            self.name,
            errors.from_response,
            stream=False,
        )
        data = await http_call.read_json(resp, self.name)
        if not isinstance(data, dict) or "error" in data:
            raise errors.from_event(data)
        warn_dropped(ctx, req.dropped, req.notes)
        return to_completion(data)

    async def open_chat_stream(
        self, body: dict[str, Any], target: Target, ctx: CallContext
    ) -> AsyncIterator[dict[str, Any]]:
        req = build_request(body, target)
        resp = await http_call.post_json_made(
            ctx,
            self._url(target, "streamGenerateContent") + "?alt=sse",
            req.body,
            target,
            "x-goog-api-key",
            {},
            self.name,
            errors.from_response,
            stream=True,
        )
        translator = GeminiStreamTranslator()
        events, head = await http_call.stream_head(
            resp, self.name, lambda first: translator.feed(http_call.event_json(first, self.name))
        )
        warn_dropped(ctx, req.dropped, req.notes)
        return self._chunks(resp, events, translator, head)

    async def _chunks(
        self,
        resp: Response,
        events: AsyncGenerator[SSEEvent, None],
        translator: GeminiStreamTranslator,
        head: list[dict[str, Any]],
    ) -> AsyncIterator[dict[str, Any]]:
        complete = False
        try:
            for chunk in head:
                yield chunk
            async for event in events:
                for chunk in translator.feed(http_call.event_json(event, self.name)):
                    yield chunk
            if not translator.done:
                raise UpstreamError("stream_interrupted", "gemini ended the stream before a finishReason")
            complete = True
            for chunk in translator.finish():
                yield chunk
        finally:
            await events.aclose()
            resp.release() if complete else resp.close()

    async def embeddings(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        method, payload, count = embed.build(body, target.upstream_model)
        resp = await http_call.post_json_made(
            ctx,
            self._url(target, method),
            payload,
            target,
            "x-goog-api-key",
            {},
            self.name,
            errors.from_response,
            stream=False,
        )
        data = await http_call.read_json(resp, self.name)
        return embed.to_openai(body, data, count, target.entry.id)
