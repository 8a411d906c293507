"""The OpenAI-compatible adapter: the body goes through almost untouched.

Only the model name is swapped for the upstream's and MeshAPI-only fields are removed;
every other field (including ones we do not know) reaches the upstream as sent.
Streams always ask for usage so that billing never depends on the client's options.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Mapping

import orjson

from meshapi_gateway.http_client import ConnectTimeout, Response, TransportError
from meshapi_gateway.providers import http_call, upstream_errors
from meshapi_gateway.providers.base import GATEWAY_ONLY_FIELDS, CallContext, Provider, Target, UpstreamError
from meshapi_gateway.providers.openai_compat.chunk_reads import SSEChunkReads

_FIXED: dict[str, str] = {}  # no headers of the adapter's own beside the key


class OpenAICompatProvider(Provider):
    name = "openai_compat"
    # ``chat``/``embeddings`` bound the whole call by ``ctx.read_timeout`` (the client's total timeout),
    # so the router does not add a timer of its own.
    applies_call_timeouts = True
    # A call's head is made once per deployment (``upstream_head``) only while the headers are
    # ``_headers``' own: a subclass that changes them (the local provider) takes the general path.
    heads_made_once = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.heads_made_once = cls._headers is OpenAICompatProvider._headers

    def _url(self, target: Target, path: str) -> str:
        base = target.base_url
        if not base:
            raise UpstreamError("provider_not_available", f"model {target.entry.id} has no base_url", status=503)
        return base + path

    def _headers(self, target: Target, ctx: CallContext) -> dict[str, str]:
        return http_call.upstream_headers(target, ctx, "authorization", key_prefix="Bearer ")

    def _body(self, body: dict[str, Any], target: Target) -> dict[str, Any]:
        if GATEWAY_ONLY_FIELDS.isdisjoint(body):  # the usual body: a copy, without a loop in Python
            out = dict(body)
        else:
            out = {k: v for k, v in body.items() if k not in GATEWAY_ONLY_FIELDS}
        out["model"] = target.upstream_model
        return out

    async def _post(
        self, url: str, payload: dict[str, Any], target: Target, ctx: CallContext, *, total: float | None
    ) -> Response:
        body = orjson.dumps(payload)
        try:
            if self.heads_made_once:
                resp = await http_call.send_post(
                    ctx, url, body, target, "authorization", "Bearer ", _FIXED, total=total
                )
            else:
                resp = await ctx.session.request(
                    "POST",
                    url,
                    body,
                    self._headers(target, ctx),
                    connect_timeout=ctx.connect_timeout,
                    read_timeout=ctx.read_timeout,
                    total_timeout=total,
                )
        except TimeoutError as exc:
            what = "connect" if isinstance(exc, ConnectTimeout) else "answer"
            raise upstream_errors.timed_out(self.name, what) from exc
        except TransportError as exc:
            raise upstream_errors.connection_failed(self.name, exc) from exc
        if resp.status >= 400:  # ``raise_for_status``'s own test, without a coroutine per answer
            await http_call.raise_for_status(resp, self._status_error)
        return resp

    def _status_error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return upstream_errors.from_status(status, raw, headers, self.name)

    async def chat(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        payload = self._body(body, target)
        payload.pop("stream_options", None)
        payload["stream"] = False
        resp = await self._post(self._url(target, "/chat/completions"), payload, target, ctx, total=ctx.read_timeout)
        data = await http_call.read_json(resp, self.name)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamError("upstream_error", f"{self.name} sent no choices", retryable=True, provider_error=data)
        return data

    async def open_chat_stream(
        self, body: dict[str, Any], target: Target, ctx: CallContext
    ) -> AsyncIterator[dict[str, Any]]:
        payload = self._body(body, target)
        payload["stream"] = True
        options = dict(payload.get("stream_options") or {})
        options["include_usage"] = True
        payload["stream_options"] = options
        resp = await self._post(self._url(target, "/chat/completions"), payload, target, ctx, total=None)
        return SSEChunkReads(resp, self.name, relay=True)

    async def embeddings(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        payload = self._body(body, target)
        resp = await self._post(self._url(target, "/embeddings"), payload, target, ctx, total=ctx.read_timeout)
        try:
            raw = await resp.read()
        except TransportError as exc:
            raise upstream_errors.connection_failed(self.name, exc) from exc
        finally:
            resp.release()
        data: dict[str, Any] = orjson.loads(raw)
        return data
