"""``/v1/messages`` on a model Anthropic serves: the client's request goes through natively.

The router still chooses the deployment, retries, falls back (among Anthropic-served
candidates: another model's format would need the translation), applies the timeouts and
the admission of the call layer (balance and every admission check); the call is metered
from Anthropic's usage (counted the way the chat side counts it) and reported like any
other. Only the body and the answer keep Anthropic's shape.
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
    from meshapi_gateway.calls import Call
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.routing.router import Slot

log = logging.getLogger("meshapi_gateway.anthropic_inbound")

ENDPOINT = "messages"  # the call layer's endpoint name and the ledger's kind


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


async def _meter(call: "Call", target: Target, usage: dict[str, Any] | None) -> tuple[dict[str, Any] | None, Decimal]:
    """Bill Anthropic's usage, counted the way the chat side counts it (cache reads and writes are prompt)."""
    counted = chat_usage(usage) if usage is not None else None
    prompt, completion, _ = usage_counts(counted)
    cost = await call.meter(target, counted, estimated=(0, 0), tokens=prompt + completion)
    return counted, cost


async def create(call: "Call", entries: list["ModelEntry"], body: dict[str, Any], beta: str | None) -> NativeAnswer:
    state = call.state
    await call.admit(entries[0].id, body)
    target: Target | None = None
    usage: dict[str, Any] | None = None
    cost: Decimal | None = None
    error: BaseException | None = None
    try:
        ctx = state.call_context(call.request_id)
        ctx.owner = call.principal.owner
        try:
            target, message = await state.router.first_success(
                entries,
                call.attempted,
                lambda _p, t: native.create(body, t, ctx, beta),
                ctx=ctx,
                admit=call.candidate_admit(entries),
            )
        finally:
            _count_errors(call.attempted)
        usage, cost = await _meter(call, target, message.get("usage"))
        return NativeAnswer(target, message, call.attempted, cost)
    except BaseException as exc:
        error = exc
        raise
    finally:
        call.finish(target=target, usage=usage, cost=cost, error=error)


@dataclass
class NativeStream:
    """An opened upstream stream: its events as dicts; billed once, when closed."""

    target: Target
    attempted: Attempted
    events: AsyncIterator[dict[str, Any]]
    usage: dict[str, Any]
    call: "Call"
    error: BaseException | None = None
    settled: bool = False
    # Content deltas relayed: the output estimate when the stream ends before its usage (the client left).
    deltas: int = 0
    totals_seen: bool = False

    def observe(self, data: dict[str, Any]) -> None:
        """Anthropic's usage: ``message_start`` has the input side, ``message_delta`` the running totals."""
        kind = data.get("type")
        if kind == "content_block_delta":
            self.deltas += 1
        elif kind == "message_start":
            self.usage.update((data.get("message") or {}).get("usage") or {})
            self.call.token_seen()
        elif kind == "message_delta":
            self.totals_seen = True
            self.usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})

    async def close(self) -> None:
        """Release the upstream, then bill what was used and finish the call (once)."""
        aclose = getattr(self.events, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # closing a dead connection must not hide the billing below
                log.debug("closing upstream stream failed", exc_info=True)
        if self.settled:
            return
        self.settled = True
        usage: dict[str, Any] | None = None
        cost: Decimal | None = None
        if self.usage and not self.totals_seen:  # cut short: message_start's output count is only a start
            self.usage["output_tokens"] = max(int(self.usage.get("output_tokens") or 0), self.deltas)
        try:
            usage, cost = await _meter(self.call, self.target, self.usage or None)
        finally:
            self.call.finish(target=self.target, usage=usage, cost=cost, error=self.error, status=200)


async def open_stream(
    call: "Call", entries: list["ModelEntry"], body: dict[str, Any], beta: str | None
) -> NativeStream:
    """The stream, opened (with fallbacks) before anything is sent; closing it bills and finishes ``call``."""
    state = call.state
    await call.admit(entries[0].id, body)
    call.streamed = True
    router = state.router
    try:
        ctx = state.call_context(call.request_id)
        ctx.owner = call.principal.owner

        async def attempt(_provider: Provider, slot: "Slot", timeouts: Timeouts, end: float) -> Any:
            return await router.open_primed(
                lambda: native.open_stream(body, slot.target, ctx, beta), "anthropic", slot, timeouts, end
            )

        try:
            target, events = await router.run(
                entries, call.attempted, attempt, ctx=ctx, keeps_slot=True, admit=call.candidate_admit(entries)
            )
        finally:
            _count_errors(call.attempted)
    except BaseException as exc:
        call.finish(error=exc)
        raise
    return NativeStream(target, call.attempted, events, {}, call)
