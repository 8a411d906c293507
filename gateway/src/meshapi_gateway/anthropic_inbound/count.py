"""``POST /v1/messages/count_tokens``: how many input tokens a Messages request takes.

Three ways, best first: an Anthropic-served model asks Anthropic's own count endpoint (the
request passed through natively); the local model counts with its own tokenizer, on the
prompt exactly as it would be rendered for an answer (tools included); any other model gets
an estimate of one token per four characters of the request's system, messages and tools
as JSON (docs/anthropic.md), which is what OpenAI-compatible upstreams leave us.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from meshapi_gateway.anthropic_inbound.passthrough import served_by_anthropic
from meshapi_gateway.anthropic_inbound.request import to_chat
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.providers.anthropic import native
from meshapi_gateway.providers.base import UpstreamError
from meshapi_gateway.routing import Attempted

if TYPE_CHECKING:
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.state import GatewayState

CHARS_PER_TOKEN = 4
COUNTED_FIELDS = ("system", "messages", "tools")


def estimate(body: dict[str, Any]) -> int:
    chars = sum(len(orjson.dumps(body[name])) for name in COUNTED_FIELDS if body.get(name) is not None)
    return max(1, chars // CHARS_PER_TOKEN)


async def count_tokens(
    state: "GatewayState", entry: "ModelEntry | None", body: dict[str, Any], request_id: str, beta: str | None
) -> int:
    """The count for ``entry`` (None: the model is chosen per request, so only the estimate is possible)."""
    ctx = state.call_context(request_id)
    if entry is not None and served_by_anthropic(entry):
        counted = {k: v for k, v in body.items() if k not in ("max_tokens", "stream", "metadata")}
        _, upstream_count = await state.router.first_success(
            [entry], Attempted(), lambda _p, t: native.count_tokens(counted, t, ctx, beta), ctx=ctx
        )
        return upstream_count
    chat, _ = to_chat({**body, "max_tokens": 1}, entry.id if entry is not None else "auto")  # refuses a bad request
    if entry is not None and entry.provider == "local":
        provider = state.providers.get("local")
        counter = getattr(provider, "count_prompt_tokens", None)
        if counter is not None:
            try:
                count: int = await counter(chat, ctx)
            except UpstreamError as exc:
                raise GatewayError(exc.code, exc.message, status=exc.status) from None
            return count
    return estimate(body)
