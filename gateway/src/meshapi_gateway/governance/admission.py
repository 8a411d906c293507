"""The admission check that enforces a key's terms on every data-plane call.

Registered on ``GatewayState.admission_checks`` (``calls/admission.py``), so chat,
responses, compare, batch items and any later endpoint get it once:

- a model outside the key's ``models`` is refused (403 naming it); a fallback candidate
  outside it is skipped;
- the call's worst-case cost (``worst_case.py``) is reserved against the key's budget
  before anything is sent (402 naming the budget and when it resets), and replaced by the
  real cost when the call ends.

Expiry and suspension are checked earlier, by ``auth/authenticate.py``, for every request.
Everything here reads the key cache and the budget counters (memory or Redis): no database.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from meshapi_gateway.calls.admission import AdmissionCheck
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.governance.budgets import Budget, Hold, MemoryBudgets, Refusal
from meshapi_gateway.governance.periods import iso_seconds, period_bounds
from meshapi_gateway.governance.worst_case import worst_case
from meshapi_gateway.money import money
from meshapi_gateway.request_schemas import fallback_models, model_and_fallbacks

if TYPE_CHECKING:
    from meshapi_gateway.auth.key_cache import CachedKey
    from meshapi_gateway.calls.call import Call
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.governance.budgets_redis import RedisBudgets

HOLD = "governance"


def model_refused(model_id: str, key_id: str) -> GatewayError:
    return GatewayError("forbidden", f"Model '{model_id}' is not among the models this API key may use.",
                        details=[{"model": model_id, "key_id": key_id}])


def refuse_unusable(key: CachedKey) -> None:
    if key.revoked:
        raise GatewayError("forbidden", "This API key has been revoked.")
    if key.suspended:
        raise GatewayError("forbidden", "This API key is suspended; its owner or the admin can resume it.")
    if key.expires_at is not None and key.expires_at <= time.time():
        raise GatewayError("unauthorized", "This API key has expired.")


def require_model(key: CachedKey | None, model_id: str) -> None:
    """403 when ``key`` may not use ``model_id`` (a compare model is refused up front)."""
    if key is not None and key.models is not None and not key.models.allows(model_id):
        raise model_refused(model_id, key.id)


def key_budget(key: CachedKey, now: float) -> Budget | None:
    if key.budget_usd is None:
        return None
    period = key.budget_period or "total"
    start, resets = period_bounds(period, now)
    return Budget("key", key.id, key.budget_usd, period, start, resets)


def budget_exceeded(refusal: Refusal, amount: Decimal) -> GatewayError:
    b = refusal.budget
    left = max(Decimal(0), b.limit - refusal.spent - refusal.reserved)
    when = f"; it resets at {iso_seconds(b.resets_at)}" if b.resets_at is not None else " (it never resets)"
    owner = "API key" if b.kind == "key" else "team"
    return GatewayError(
        "spend_limit_exceeded",
        f"The {b.period} budget of {money(b.limit)} USD of {owner} '{b.id}' is used up for this request: "
        f"{money(refusal.spent)} USD spent, {money(refusal.reserved)} USD held by requests in flight, and this "
        f"request may cost up to {money(amount)} USD{when}.",
        details=[{"budget": b.kind, "id": b.id, "budget_usd": money(b.limit), "budget_period": b.period,
                  "spend_usd": money(refusal.spent), "reserved_usd": money(refusal.reserved),
                  "available_usd": money(left), "request_max_usd": money(amount),
                  "resets_at": iso_seconds(b.resets_at)}])


class KeyGovernance(AdmissionCheck):
    def __init__(self, memory: MemoryBudgets, shared: RedisBudgets | None = None) -> None:
        self.memory = memory
        self.shared = shared
        self._settling: set[asyncio.Task[None]] = set()
        # Each key's budget in its current period, made once per period (or change of terms).
        self._budgets: dict[str, Budget] = {}

    def _budget(self, key: CachedKey, limit: Decimal) -> Budget:
        now = time.time()
        known = self._budgets.get(key.id)
        if (known is not None and known.limit == limit and known.period == (key.budget_period or "total")
                and (known.resets_at is None or now < known.resets_at)):
            return known
        budget = key_budget(key, now)
        assert budget is not None
        if len(self._budgets) > 100_000:
            self._budgets.clear()
        self._budgets[key.id] = budget
        return budget

    async def admit(self, call: Call) -> bool | None:
        key = call.principal.key
        if key is None:
            return False
        refuse_unusable(key)  # a request was checked when it came in; batch items run later
        if key.budget_usd is None or not call.check_balance:
            # (work already paid for, a batch item's rerun, is not counted again)
            return key.models is not None  # only the allowlist, per candidate
        budget = self._budget(key, key.budget_usd)
        amount = self._worst_case(call, key)
        budgets = (budget,)
        refusal: Refusal | None
        if self.shared is not None:
            refusal, hold = await self.shared.reserve(budgets, amount)
        else:
            refusal, hold = self.memory.reserve(budgets, amount), Hold(budgets, amount, shared=False)
        if refusal is not None:
            raise budget_exceeded(refusal, amount)
        call.reserved[HOLD] = hold
        return True

    def _worst_case(self, call: Call, key: CachedKey) -> Decimal:
        body = call.body
        if body is None:
            body = {"model": call.requested} if call.requested else {}
        catalog = call.state.catalog
        try:
            entries = call.state.router.candidates(*model_and_fallbacks(call.requested or body.get("model"),
                                                                         fallback_models(body)))
        except GatewayError:  # a body the endpoint plans its own way (its model named apart)
            asked = catalog.get(call.requested) if call.requested else None
            entries = [asked] if asked is not None else []
        # The router may also insert a model's context-window fallbacks.
        for c in entries:
            if c.context_window_fallbacks:
                entries = [*entries, *(e for e in map(catalog.get, c.context_window_fallbacks) if e is not None)]
        allowed = entries if key.models is None else [e for e in entries if key.models.allows(e.id)]
        return worst_case(body, allowed, call.multiplier)

    def allow(self, call: Call, entry: ModelEntry) -> None:
        require_model(call.principal.key, entry.id)

    def release(self, call: Call, record: Any) -> None:
        hold: Hold | None = call.reserved.pop(HOLD, None)
        if hold is None:
            return
        actual = record.cost if isinstance(record.cost, Decimal) else Decimal(0)
        if not hold.shared or self.shared is None:
            self.memory.settle(hold.budgets, hold.amount, actual)
            return
        task = asyncio.get_running_loop().create_task(self.shared.settle(hold, actual))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def aclose(self) -> None:
        """Wait for the settlements still on their way to Redis."""
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)
