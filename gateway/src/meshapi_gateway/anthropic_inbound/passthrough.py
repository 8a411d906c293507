"""``/v1/messages`` on a model Anthropic serves: the client's request goes through natively.

The router still chooses the deployment, retries, falls back (among Anthropic-served
candidates: another model's format would need the translation), applies the timeouts and
the balance admission; the pipeline still prices the answer from its usage (Anthropic's
usage counted the way the chat side counts it) and adds the tokens to the key's limits.
Only the body and the answer keep Anthropic's shape.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, AsyncIterator

from meshapi_gateway import metrics
from meshapi_gateway.billing import usage_counts
from meshapi_gateway.providers.anthropic import native
from meshapi_gateway.providers.anthropic.response import usage as chat_usage
from meshapi_gateway.providers.base import Provider, Target
from meshapi_gateway.reliability.policy import Timeouts
from meshapi_gateway.routing import Attempted

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.chat import ChatPipeline
    from meshapi_gateway.routing.router import Slot
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.anthropic_inbound")

KIND = "messages"


def served_by_anthropic(entry: "ModelEntry") -> bool:
    return all(d.provider == "anthropic" for d in entry.all_deployments())


def native_candidates(entries: list["ModelEntry"]) -> list["ModelEntry"] | None:
    """The candidates a native call may try (the Anthropic-served ones), or None when the first is not one."""
    if not entries or not served_by_anthropic(entries[0]):
        return None
    return [e for e in entries if served_by_anthropic(e)]


def _count_errors(attempted: Attempted) -> None:
    for model, err in zip(attempted.tried, attempted.errors, strict=False):
        metrics.UPSTREAM_ERRORS.labels(model, "", err.code).inc()


@dataclass(slots=True)
class NativeAnswer:
    target: Target
    message: dict[str, Any]
    attempted: Attempted
    cost: Decimal


async def _settle(state: "GatewayState", principal: "Principal", request_id: str, target: Target,
                  usage: dict[str, Any] | None) -> Decimal:
    pipeline: "ChatPipeline" = state.services["chat"]
    counted = chat_usage(usage) if usage is not None else None
    cost = pipeline.bill(principal, request_id, target, counted, KIND, Decimal(1), estimated=(0, 0))
    prompt, completion, _ = usage_counts(counted)
    await state.limits.add_tokens(principal, prompt + completion)
    return cost


async def create(state: "GatewayState", principal: "Principal", entries: list["ModelEntry"], body: dict[str, Any],
                 request_id: str, beta: str | None) -> NativeAnswer:
    ctx = state.call_context(request_id)
    ctx.owner = principal.owner
    attempted = Attempted()
    try:
        target, message = await state.router.first_success(
            entries, attempted, lambda _p, t: native.create(body, t, ctx, beta), ctx=ctx,
            admit=state.billing.admission(principal))
    finally:
        _count_errors(attempted)
    cost = await _settle(state, principal, request_id, target, message.get("usage"))
    return NativeAnswer(target, message, attempted, cost)


@dataclass
class NativeStream:
    """An opened upstream stream: its events as dicts; billed once, when closed."""

    target: Target
    attempted: Attempted
    events: AsyncIterator[dict[str, Any]]
    usage: dict[str, Any]
    settled: bool = False

    def observe(self, data: dict[str, Any]) -> None:
        """Anthropic's usage: ``message_start`` has the input side, ``message_delta`` the running totals."""
        kind = data.get("type")
        if kind == "message_start":
            self.usage.update((data.get("message") or {}).get("usage") or {})
        elif kind == "message_delta":
            self.usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})


async def open_stream(state: "GatewayState", principal: "Principal", entries: list["ModelEntry"],
                      body: dict[str, Any], request_id: str, beta: str | None) -> tuple[NativeStream, Any]:
    """(the stream, an async ``close`` that releases the upstream and bills what was used)."""
    ctx = state.call_context(request_id)
    ctx.owner = principal.owner
    attempted = Attempted()
    router = state.router

    async def attempt(_provider: Provider, slot: "Slot", timeouts: Timeouts, end: float) -> Any:
        return await router.open_primed(lambda: native.open_stream(body, slot.target, ctx, beta), "anthropic",
                                        slot, timeouts, end)

    try:
        target, events = await router.run(entries, attempted, attempt, ctx=ctx, keeps_slot=True,
                                          admit=state.billing.admission(principal))
    finally:
        _count_errors(attempted)
    opened = NativeStream(target, attempted, events, {})

    async def close() -> None:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # closing a dead connection must not hide the billing below
                log.debug("closing upstream stream failed", exc_info=True)
        if not opened.settled:
            opened.settled = True
            await _settle(state, principal, request_id, target, opened.usage or None)

    return opened, close
