"""One chat completion, from a validated body to a billed answer.

route → auth → limits → [this] templates → router → provider → usage/ledger.
Compare, the Responses API and batches call the same two methods, so limits, fallbacks
and billing behave identically everywhere.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

from meshapi_gateway import metrics
from meshapi_gateway.billing import UsageRecord, usage_counts
from meshapi_gateway.chat.normalize import StreamNormalizer, normalize_completion
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.money import money
from meshapi_gateway.providers.base import CallContext, Target, UpstreamError
from meshapi_gateway.reliability.policy import request_deadline
from meshapi_gateway.request_schemas import fallback_models, model_and_fallbacks
from meshapi_gateway.routing import Attempted

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.chat")

# A hook that rewrites the body before routing (prompt templates plug in here).
BodyHook = Callable[["Principal", dict[str, Any]], Awaitable[dict[str, Any]]]


def not_a_chat_model(model_id: str, *where: str | int) -> GatewayError:
    return GatewayError("model_capability_not_supported",
                        f"Model '{model_id}' is an embeddings model; it does not answer chat completions.",
                        details=[{"type": "value_error", "loc": ["body", *(where or ("model",))],
                                  "msg": "not a chat model", "input": model_id}])


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """A rough count (4 characters a token) for the rare stream that ends without usage."""
    chars = 0
    for m in body.get("messages") or []:
        c = m.get("content") if isinstance(m, dict) else None
        if isinstance(c, str):
            chars += len(c)
        elif isinstance(c, list):
            chars += sum(len(p.get("text") or "") for p in c if isinstance(p, dict))
    return max(1, chars // 4)


@dataclass(slots=True)
class ChatOutcome:
    target: Target
    response: dict[str, Any]
    attempted: Attempted
    cost: Decimal
    # The call's context: its ``response_headers`` (e.g. dropped-parameter warnings) go to the client.
    ctx: CallContext | None = None


@dataclass
class ChatStream:
    """An opened stream: normalized chunk dicts, then ``usage``/``cost`` once it has ended."""

    target: Target
    attempted: Attempted
    chunks: AsyncIterator[dict[str, Any]]
    normalizer: StreamNormalizer
    cost: Decimal | None = None
    error: UpstreamError | None = None
    completed: bool = False
    ctx: CallContext | None = None
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for closer in self._closers:
            await closer()
        self._closers.clear()


class ChatPipeline:
    def __init__(self, state: "GatewayState") -> None:
        self.state = state
        self.body_hooks: list[BodyHook] = []
        # Streams opened and not yet billed; a graceful shutdown waits for them before the last flush.
        self.open_streams = 0

    async def prepare(self, principal: "Principal", body: dict[str, Any]) -> dict[str, Any]:
        for hook in self.body_hooks:
            body = await hook(principal, body)
        if body.get("template") and not self.body_hooks:
            raise GatewayError("not_found", f"Template '{body['template']}' not found.")
        return body

    def _candidates(self, body: dict[str, Any]) -> list[Any]:
        model, fallbacks = model_and_fallbacks(body.get("model"), fallback_models(body))
        entries = self.state.router.candidates(model, fallbacks)
        if entries and entries[0].model_type == "embedding":
            raise not_a_chat_model(entries[0].id)
        # An embeddings model among the fallbacks could only fail: it is not tried.
        return [e for e in entries if e.model_type != "embedding"]

    def usage_record(self, principal: "Principal", request_id: str, target: Target, usage: dict[str, Any] | None,
                     kind: str, multiplier: Decimal, estimated: tuple[int, int] | None = None) -> UsageRecord:
        """What one answered call costs, priced from the catalog entry of the model that answered."""
        prompt, completion, cached = usage_counts(usage)
        if usage is None and estimated is not None:
            prompt, completion = estimated
        entry = target.entry
        return UsageRecord(request_id=request_id, owner=principal.owner, key_id=principal.key_id, model=entry.id,
                           provider=target.deployment.provider or entry.provider, prompt_tokens=prompt,
                           completion_tokens=completion, cached_tokens=cached,
                           cost=entry.pricing.cost(prompt, completion, cached, multiplier), kind=kind)

    def bill(self, principal: "Principal", request_id: str, target: Target, usage: dict[str, Any] | None,
             kind: str, multiplier: Decimal, estimated: tuple[int, int] | None = None, *,
             record: bool = True) -> Decimal:
        """Price a call, count it in the metrics and (unless ``record`` is False) queue it for the ledger.

        ``record=False`` is for callers that write the ledger row themselves, in their own
        transaction (batch items: the bill and the item's result commit together).
        """
        usage_record = self.usage_record(principal, request_id, target, usage, kind, multiplier, estimated)
        if record:
            self.state.billing.record(usage_record)
        metrics.observe_usage(usage_record.model, usage_record.provider, usage_record.prompt_tokens,
                              usage_record.completion_tokens, float(usage_record.cost))
        return usage_record.cost

    def _count_errors(self, attempted: Attempted) -> None:
        for model, err in zip(attempted.tried, attempted.errors, strict=False):
            metrics.UPSTREAM_ERRORS.labels(model, "", err.code).inc()

    async def complete(self, principal: "Principal", body: dict[str, Any], request_id: str, *,
                       kind: str = "chat", multiplier: Decimal = Decimal(1),
                       ctx: CallContext | None = None, bill: bool = True,
                       check_balance: bool = True) -> ChatOutcome:
        """One whole answer; ``check_balance=False`` for work already paid for (a batch item's rerun)."""
        entries = self._candidates(body)
        attempted = Attempted()
        ctx = ctx or self.state.call_context(request_id)
        ctx.owner = principal.owner
        admit = self.state.billing.admission(principal) if check_balance else None
        try:
            target, data = await self.state.router.chat(entries, body, ctx, attempted,
                                                        deadline=request_deadline(body), admit=admit)
        finally:
            self._count_errors(attempted)
        data = normalize_completion(data, target.entry.id)
        cost = self.bill(principal, request_id, target, data.get("usage"), kind, multiplier, record=bill)
        data["cost"] = money(cost)
        usage = data.get("usage")
        if isinstance(usage, dict):
            await self.state.limits.add_tokens(principal, int(usage.get("total_tokens") or 0))
        return ChatOutcome(target, data, attempted, cost, ctx)

    async def stream(self, principal: "Principal", body: dict[str, Any], request_id: str, *,
                     kind: str = "chat", multiplier: Decimal = Decimal(1),
                     ctx: CallContext | None = None) -> ChatStream:
        """Open the upstream stream (falling back while nothing has been sent) and return it."""
        entries = self._candidates(body)
        attempted = Attempted()
        ctx = ctx or self.state.call_context(request_id)
        ctx.owner = principal.owner
        try:
            target, upstream = await self.state.router.open_chat_stream(
                entries, body, ctx, attempted, deadline=request_deadline(body),
                admit=self.state.billing.admission(principal))
        finally:
            self._count_errors(attempted)
        normalizer = StreamNormalizer(target.entry.id)
        tc = body.get("tool_choice")
        if isinstance(tc, dict):
            normalizer.force_named_tool()
        started = time.perf_counter()
        provider = target.deployment.provider or target.entry.provider
        holder: ChatStream

        async def chunks() -> AsyncIterator[dict[str, Any]]:
            first = True
            try:
                async for raw in upstream:
                    for out in normalizer.feed(raw):
                        if first:
                            metrics.TTFT.labels(target.entry.id, provider).observe(time.perf_counter() - started)
                            first = False
                        yield out
                for out in normalizer.finish():
                    yield out
                holder.completed = True
            except UpstreamError as exc:
                holder.error = exc
                for out in normalizer.finish():
                    yield out

        async def settle() -> None:
            close = getattr(upstream, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # closing a dead connection must not hide the billing below
                    log.debug("closing upstream stream failed", exc_info=True)
            if holder.cost is None:
                estimated = None
                if normalizer.usage is None:
                    estimated = (estimate_prompt_tokens(body), normalizer.content_chunks + len(normalizer.tool_calls))
                holder.cost = self.bill(principal, request_id, target, normalizer.usage, kind, multiplier, estimated)
                self.open_streams -= 1
                total = usage_counts(normalizer.usage)
                await self.state.limits.add_tokens(principal, total[0] + total[1])

        holder = ChatStream(target, attempted, chunks(), normalizer, ctx=ctx)
        holder._closers.append(settle)
        self.open_streams += 1
        return holder
