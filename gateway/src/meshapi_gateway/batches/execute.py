"""Running one batch request through the same pipeline as live traffic.

Chat items go through ``ChatPipeline.complete`` (templates, limits, fallbacks, billing);
embeddings through the same steps as ``POST /v1/embeddings`` (input checks, router,
normalized answer, the pipeline's billing). Each item is billed under its own deterministic
request id (``<batch id>:<custom_id>``), so running it again after a crash cannot bill
it twice in a ledger that keys on the request id.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select

from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.billing import UsageRecord, usage_counts
from meshapi_gateway.calls import Call, metering
from meshapi_gateway.embeddings import request as checks
from meshapi_gateway.embeddings.response import normalize as normalize_embeddings
from meshapi_gateway.errors import GatewayError, field_error
from meshapi_gateway.files.batch_lines import EMBEDDINGS_URL
from meshapi_gateway.money import money
from meshapi_gateway.routing import Attempted
from meshapi_gateway.store.accounts_tables import LedgerEntry

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Body fields that make no sense for a batch item (the answer is stored, never streamed).
STREAM_FIELDS = ("stream", "stream_options")


@dataclass(slots=True)
class ItemOutcome:
    """``succeeded``, ``failed``, or ``retry`` (put back with a delay; not counted as an attempt if ``free``)."""

    status: str
    status_code: int
    body: dict[str, Any]
    error: dict[str, Any] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)
    retry_after: float = 0.0
    free_retry: bool = False
    # The bill, written by the runner in the same transaction as the item's result.
    usage_record: UsageRecord | None = None


def item_request_id(batch_id: str, custom_id: str) -> str:
    return f"{batch_id}:{custom_id}"


def _failure(exc: GatewayError, retryable: bool) -> ItemOutcome:
    error = exc.error_object()
    retry_after = float(exc.retry_after_seconds or 0)
    return ItemOutcome("retry" if retryable else "failed", exc.status, {"error": error},
                       {"code": exc.code, "message": exc.message}, retry_after=retry_after)


class ItemExecutor:
    def __init__(self, state: "GatewayState") -> None:
        self.state = state

    async def run(self, principal: Principal, url: str, body: dict[str, Any], request_id: str,
                  multiplier: Decimal) -> ItemOutcome:
        state = self.state
        try:
            await state.limits.check(principal)
        except GatewayError as exc:
            if exc.status == 429:
                outcome = _failure(exc, True)
                outcome.free_retry = True  # waiting for the rate window is not a failed attempt
                outcome.retry_after = max(outcome.retry_after, 1.0)
                return outcome
            return _failure(exc, False)
        try:
            # A run cut off by a crash after its bill was written is answered again, but not billed again.
            bill = not await self._already_billed(request_id)
            if bill:
                state.billing.precheck(principal, body.get("model"))
            if url == EMBEDDINGS_URL:
                return await self._embeddings(principal, body, request_id, multiplier, bill)
            return await self._chat(principal, body, request_id, multiplier, bill)
        except GatewayError as exc:
            return _failure(exc, exc.status in RETRYABLE_STATUSES)

    async def _already_billed(self, request_id: str) -> bool:
        """Whether the ledger already holds a bill under this request id."""
        async with self.state.sessions() as session:
            found = await session.execute(select(exists().where(LedgerEntry.request_id == request_id)))
        return bool(found.scalar())

    async def _chat(self, principal: Principal, body: dict[str, Any], request_id: str,
                    multiplier: Decimal, bill: bool) -> ItemOutcome:
        pipeline = self.state.services["chat"]
        body = {k: v for k, v in body.items() if k not in STREAM_FIELDS}
        body = await pipeline.prepare(principal, body)
        if not body.get("messages"):
            raise field_error("messages", "Field required", type_="missing")
        call = Call(self.state, "batch", principal, request_id, multiplier=multiplier, check_balance=bill,
                    store_bill=False)
        outcome = await pipeline.complete(call, body)
        usage = outcome.response.get("usage")
        prompt, completion, _ = usage_counts(usage)
        counted = usage if isinstance(usage, dict) else None
        record = (metering.usage_record(principal, request_id, outcome.target, counted, "batch", multiplier)
                  if bill else None)
        return ItemOutcome("succeeded", 200, outcome.response, None, prompt, completion, outcome.cost,
                           usage_record=record)

    async def _embeddings(self, principal: Principal, body: dict[str, Any], request_id: str,
                          multiplier: Decimal, bill: bool) -> ItemOutcome:
        """The steps of ``POST /v1/embeddings``, billed as a batch item."""
        state = self.state
        body = {**body, "input": checks.normalize_input(body.get("input"))}
        entries = state.router.candidates(body.get("model"), body.get("models"))
        checks.check_capability(entries[0])
        checks.check_dimensions(entries[0], body.get("dimensions"))
        entries = [e for e in entries if e.model_type == "embedding"]
        target, data = await state.router.embeddings(entries, body, state.call_context(request_id), Attempted(),
                                                     admit=state.billing.admission(principal) if bill else None)
        answer = normalize_embeddings(data, target.entry.id, body.get("encoding_format") or "float", body["input"])
        usage = answer["usage"]
        billed_usage = {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": 0}
        priced = metering.usage_record(principal, request_id, target, billed_usage, "batch", multiplier)
        cost = metering.bill(state.billing, priced, store=False)
        record = priced if bill else None
        answer["cost"] = money(cost)
        await state.limits.add_tokens(principal, int(usage.get("total_tokens") or 0))
        return ItemOutcome("succeeded", 200, answer, None, int(usage["prompt_tokens"]), 0, cost, usage_record=record)
