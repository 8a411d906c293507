"""Running one batch request through the same call layer as live traffic.

Each item is a ``Call`` (limits, balance, admission checks, metering, the call's report):
chat items go through ``ChatPipeline.complete`` (templates, fallbacks), embeddings through
``embeddings/call.py``, the very code of ``POST /v1/embeddings``. Each item is billed under its own deterministic
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
from meshapi_gateway.embeddings.call import embed
from meshapi_gateway.errors import GatewayError, field_error
from meshapi_gateway.files.batch_lines import EMBEDDINGS_URL
from meshapi_gateway.store.accounts_tables import LedgerEntry

if TYPE_CHECKING:
    from meshapi_gateway.providers.base import Target
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
    return ItemOutcome(
        "retry" if retryable else "failed",
        exc.status,
        {"error": error},
        {"code": exc.code, "message": exc.message},
        retry_after=retry_after,
    )


class ItemExecutor:
    def __init__(self, state: "GatewayState") -> None:
        self.state = state

    async def run(
        self, principal: Principal, url: str, body: dict[str, Any], request_id: str, multiplier: Decimal
    ) -> ItemOutcome:
        # A run cut off by a crash after its bill was written is answered again, but not billed again.
        call = Call(self.state, "batch", principal, request_id, multiplier=multiplier, store_bill=False)
        try:
            await call.limit()
        except GatewayError as exc:
            if exc.status == 429:
                outcome = _failure(exc, True)
                outcome.free_retry = True  # waiting for the rate window is not a failed attempt
                outcome.retry_after = max(outcome.retry_after, 1.0)
                return outcome
            return _failure(exc, False)
        try:
            call.check_balance = not await self._already_billed(request_id)
            if url == EMBEDDINGS_URL:
                return await self._embeddings(call, body)
            return await self._chat(call, body)
        except GatewayError as exc:
            call.finish(error=exc)  # refused before it was admitted (a bad body): reported all the same
            return _failure(exc, exc.status in RETRYABLE_STATUSES)

    async def _already_billed(self, request_id: str) -> bool:
        """Whether the ledger already holds a bill under this request id."""
        async with self.state.sessions() as session:
            found = await session.execute(select(exists().where(LedgerEntry.request_id == request_id)))
        return bool(found.scalar())

    async def _chat(self, call: Call, body: dict[str, Any]) -> ItemOutcome:
        pipeline = self.state.chat
        body = {k: v for k, v in body.items() if k not in STREAM_FIELDS}
        body = await pipeline.prepare(call.principal, body)
        if not body.get("messages"):
            raise field_error("messages", "Field required", type_="missing")
        outcome = await pipeline.complete(call, body)
        usage = outcome.response.get("usage")
        prompt, completion, _ = usage_counts(usage)
        counted = usage if isinstance(usage, dict) else None
        return ItemOutcome(
            "succeeded",
            200,
            outcome.response,
            None,
            prompt,
            completion,
            outcome.cost,
            usage_record=self._bill_of(call, outcome.target, counted),
        )

    async def _embeddings(self, call: Call, body: dict[str, Any]) -> ItemOutcome:
        """The call of ``POST /v1/embeddings``, billed as a batch item."""
        done = await embed(call, body, with_cost=True)
        usage = done.answer["usage"]
        record = self._bill_of(call, done.target, {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": 0})
        return ItemOutcome(
            "succeeded", 200, done.answer, None, int(usage["prompt_tokens"]), 0, done.cost, usage_record=record
        )

    @staticmethod
    def _bill_of(call: Call, target: Target, usage: dict[str, Any] | None) -> UsageRecord | None:
        """The ledger row the runner writes with the item's result (none when it was billed before)."""
        if not call.check_balance:
            return None
        return metering.usage_record(call.principal, call.request_id, target, usage, call.kind, call.multiplier)
