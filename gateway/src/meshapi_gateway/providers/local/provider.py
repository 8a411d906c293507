"""The ``local`` provider: the OpenAI-compatible adapter, aware of the child process behind it.

Three things differ from a remote OpenAI-compatible upstream:

- while the child is loading (start-up or a restart) a request waits for it, bounded,
  instead of failing; a child that cannot become ready is 503 ``provider_not_available``;
- a request that finds the child just died waits for the restarted one and is sent once more;
- llama.cpp repeats every tool call in the legacy ``function_call`` field; only ``tool_calls``
  is kept, so clients see one call, once;
- llama.cpp's server refuses request ids that are not UUIDs, so none is sent;
- llama.cpp's server sends no usage in streams, so the adapter adds the usage chunk itself:
  completion tokens are the streamed token chunks (llama.cpp sends one token per chunk) and
  prompt tokens are counted by the child's own tokenizer.
"""

from __future__ import annotations

import logging
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import orjson

from meshapi_gateway.http_client import TransportError
from meshapi_gateway.providers.base import CallContext, Target, UpstreamError
from meshapi_gateway.providers.local.supervisor import LlamaServerSupervisor
from meshapi_gateway.providers.openai_compat import OpenAICompatProvider

log = logging.getLogger("meshapi_gateway.local_model")

T = TypeVar("T")


def not_available(message: str) -> UpstreamError:
    # Retryable: a request that names fallbacks moves on to them.
    return UpstreamError("provider_not_available", message, status=503, retryable=True)


def _found_no_server(exc: UpstreamError) -> bool:
    """A refused or dropped connection (not an HTTP answer): the child may have died."""
    return exc.upstream_status is None and exc.code in ("upstream_error", "stream_interrupted")


def chatml_prompt(body: dict[str, Any]) -> str:
    """The conversation as the ChatML text the model reads, for counting prompt tokens."""
    parts = []
    for m in body.get("messages") or []:
        if not isinstance(m, dict):
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
        text = content if isinstance(content, str) else ""
        if m.get("tool_calls"):
            text += orjson.dumps(m["tool_calls"]).decode()
        parts.append(f"<|im_start|>{m.get('role') or 'user'}\n{text}<|im_end|>\n")
    if body.get("tools"):
        parts.insert(0, f"<|im_start|>system\n{orjson.dumps(body['tools']).decode()}<|im_end|>\n")
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)


def without_legacy_call(delta: dict[str, Any]) -> None:
    """Drop llama.cpp's duplicate ``function_call`` and its null placeholders from a stream delta."""
    delta.pop("function_call", None)
    for key in ("role", "content"):
        if key in delta and delta[key] is None:
            del delta[key]


class LocalProvider(OpenAICompatProvider):
    name = "local"

    def __init__(self, supervisor: LlamaServerSupervisor, ready_timeout: float = 60.0) -> None:
        self.supervisor = supervisor
        self.ready_timeout = ready_timeout

    def _headers(self, target: Target, ctx: CallContext) -> dict[str, str]:
        headers = super()._headers(target, ctx)
        # llama.cpp's server rejects (400, empty body) an X-Request-Id that is not a UUID; ours are not.
        headers.pop("x-request-id", None)
        return headers

    async def _when_ready(self, call: Callable[[], Awaitable[T]]) -> T:
        sup = self.supervisor
        if not await sup.wait_ready(self.ready_timeout):
            raise not_available(f"The local model did not become ready within {self.ready_timeout:g}s.")
        generation = sup.generation
        try:
            return await call()
        except UpstreamError as exc:
            if not _found_no_server(exc) or not await sup.wait_for_restart(generation, self.ready_timeout):
                raise
            log.info("local model server was restarted; sending the request again")
            return await call()

    async def chat(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        data = await self._when_ready(lambda: super(LocalProvider, self).chat(body, target, ctx))
        for choice in data.get("choices") or []:
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict) and message.get("tool_calls"):
                message.pop("function_call", None)
        return data

    async def open_chat_stream(self, body: dict[str, Any], target: Target,
                               ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        chunks = await self._when_ready(lambda: super(LocalProvider, self).open_chat_stream(body, target, ctx))
        return self._with_usage(chunks, body, ctx)

    async def embeddings(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        return await self._when_ready(lambda: super(LocalProvider, self).embeddings(body, target, ctx))

    async def _with_usage(self, chunks: AsyncIterator[dict[str, Any]], body: dict[str, Any],
                          ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        completion_tokens = 0
        has_usage = False
        last_id = None
        try:
            async for chunk in chunks:
                last_id = chunk.get("id", last_id)
                has_usage = has_usage or isinstance(chunk.get("usage"), dict)
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    without_legacy_call(delta)
                    if delta.get("content") or delta.get("tool_calls"):
                        completion_tokens += 1
                yield chunk
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
        if not has_usage:
            prompt_tokens = await self._count_tokens(chatml_prompt(body), ctx)
            yield {"id": last_id, "object": "chat.completion.chunk", "choices": [],
                   "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                             "total_tokens": prompt_tokens + completion_tokens}}

    async def _count_tokens(self, text: str, ctx: CallContext) -> int:
        try:
            resp = await ctx.session.post(self.supervisor.url + "/extras/tokenize/count",
                                          orjson.dumps({"input": text}), {"content-type": "application/json"},
                                          connect_timeout=10, read_timeout=10, total_timeout=10)
            async with resp:
                if resp.status == 200:
                    return int(orjson.loads(await resp.read())["count"])
        except (TransportError, KeyError, ValueError, TypeError):
            log.debug("counting prompt tokens failed", exc_info=True)
        return max(1, len(text) // 4)
