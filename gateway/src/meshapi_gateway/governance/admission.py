"""The admission check that enforces a key's terms on every data-plane call.

Registered on ``GatewayState.admission_checks`` (``calls/admission.py``), so chat,
responses, compare, batch items and any later endpoint get it once:

- a model outside the key's ``models``, or its team's, is refused (403 naming it); a
  fallback candidate outside them is skipped;
- the team's RPM/TPM limits count the call (429), as the key's own limits already did;
- the call's worst-case cost (``worst_case.py``) is reserved against the key's budget and
  its team's, all or none, before anything is sent (402 naming the budget and when it
  resets), and replaced by the real cost when the call ends.

Expiry and suspension are checked earlier, by ``auth/authenticate.py``, for every request.
Everything here reads the key cache and the budget counters (memory or Redis): no database.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.calls.admission import PENDING, AdmissionCheck, Pending, clear
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.governance.budgets import (
    PER_USD,
    Budget,
    Hold,
    MemoryBudgets,
    Refusal,
    Tally,
    usd,
)
from meshapi_gateway.governance.key_plan import KeyPlan as KeyPlan  # (where the key cache names its type)
from meshapi_gateway.governance.periods import iso_seconds, period_bounds
from meshapi_gateway.governance.price_plan import MAX_PLANS, ONE, PricePlan
from meshapi_gateway.governance.worst_case import reachable
from meshapi_gateway.money import money
from meshapi_gateway.request_schemas import model_and_fallbacks

if TYPE_CHECKING:
    from meshapi_gateway.auth.key_cache import CachedKey
    from meshapi_gateway.calls.call import Call
    from meshapi_gateway.calls.record import CallRecord
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.governance.allowlist import Allowlist
    from meshapi_gateway.governance.budgets_redis import RedisBudgets
    from meshapi_gateway.governance.team_cache import CachedTeam, TeamCache

HOLD = "governance"
# What a call admitted from its key's plan holds: (the plan's counters, amount in units).
KEPT = "governance.kept"
TEAM = "governance.team"


def model_refused(model_id: str, key_id: str, team_id: str | None = None) -> GatewayError:
    whose = f"team '{team_id}'" if team_id else "this API key"
    return GatewayError(
        "forbidden",
        f"Model '{model_id}' is not among the models {whose} may use.",
        details=[{"model": model_id, "key_id": key_id, "team_id": team_id}],
    )


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
    return make_budget("key", key.id, key.budget_usd, key.budget_period, now)


def make_budget(kind: str, subject: str, limit: Decimal, period: str | None, now: float) -> Budget:
    period = period or "total"
    start, resets = period_bounds(period, now)
    return Budget(kind, subject, limit, period, start, resets)


def team_principal(principal: Principal, team: CachedTeam) -> Principal:
    """The team as the limiter counts it: its own RPM/TPM windows, shared by all its keys."""
    return Principal(principal.owner, "data", f"team:{team.id}", team.rpm, None, team.tpm)


def budget_exceeded(refusal: Refusal, amount: Decimal) -> GatewayError:
    """The 402 for a call of at most ``amount`` USD that ``refusal``'s budget cannot hold."""
    b = refusal.budget
    spent, reserved = usd(refusal.spent), usd(refusal.reserved)
    left = max(Decimal(0), b.limit - spent - reserved)
    when = f"; it resets at {iso_seconds(b.resets_at)}" if b.resets_at is not None else " (it never resets)"
    owner = "API key" if b.kind == "key" else "team"
    return GatewayError(
        "spend_limit_exceeded",
        f"The {b.period} budget of {money(b.limit)} USD of {owner} '{b.id}' is used up for this request: "
        f"{money(spent)} USD spent, {money(reserved)} USD held by requests in flight, and this "
        f"request may cost up to {money(amount)} USD{when}.",
        details=[
            {
                "budget": b.kind,
                "id": b.id,
                "budget_usd": money(b.limit),
                "budget_period": b.period,
                "spend_usd": money(spent),
                "reserved_usd": money(reserved),
                "available_usd": money(left),
                "request_max_usd": money(amount),
                "resets_at": iso_seconds(b.resets_at),
            }
        ],
    )


def cost_units(call: Call, record: CallRecord) -> int:
    """The call's cost in counter units: its bill's own (``billing.cost``) when it has them, else converted."""
    cost = record.cost
    billed = call.billed
    if billed is not None and billed.cost is cost:
        counted = billed.cost_units
        if counted is not None:
            return counted
    return round(cost * PER_USD) if isinstance(cost, Decimal) and cost else 0  # ``units``, inline


class KeyGovernance(AdmissionCheck):
    def __init__(
        self, memory: MemoryBudgets, shared: RedisBudgets | None = None, teams: TeamCache | None = None
    ) -> None:
        self.memory = memory
        self.shared = shared
        self.teams = teams
        self._background: set[asyncio.Task[None]] = set()
        # Each team's budget in its current period, made once per period (or change of terms).
        self._budgets: dict[tuple[str, str], Budget] = {}
        self._plans: dict[tuple[Any, ...], PricePlan] = {}

    def _budget(self, kind: str, subject: str, limit: Decimal, period: str | None) -> Budget:
        now = time.time()
        known = self._budgets.get((kind, subject))
        if (
            known is not None
            and known.limit == limit
            and known.period == (period or "total")
            and (known.resets_at is None or now < known.resets_at)
        ):
            return known
        budget = make_budget(kind, subject, limit, period, now)
        if len(self._budgets) > 100_000:
            self._budgets.clear()
        self._budgets[(kind, subject)] = budget
        return budget

    def _later(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def decide(self, call: Call) -> bool | Pending | None:
        """``admit`` without a coroutine for the calls that wait on nothing: no team, budget in this process."""
        key = call.principal.key
        if key is None:
            return False
        last = key.plan
        if (
            last is not None
            and last.model == call.requested
            and last.version == call.state.catalog.version
            and last.multiplier is call.multiplier
            and call.check_balance
            and time.time() < last.until
            and call.body is not None
        ):
            # The key's terms were checked, and its budget and price plan made, by an earlier call of this
            # key object (a change of terms is a new one) asking the same model: what is left is this call's.
            amount = last.worst_units(call.body)
            if amount >= 0:  # (-1: a body with fallbacks, which the plan was not made for)
                tally = last.tally  # ``MemoryBudgets.reserve_one``, on the counters the plan holds
                held = tally.reserved
                if tally.spent + held + amount > last.limit_units and amount > 0:
                    raise budget_exceeded(Refusal(last.budget, tally.spent, held), last.plan.worst(call.body))
                tally.reserved = held + amount
                call.reserved[KEPT] = (tally, amount)
                if call.cleared is None:  # ``clear``, inline: the plan's entries are what ``allow`` lets through
                    call.cleared, call.sole = last.plan.models, last.sole
                else:
                    clear(call, last.plan.models, last.sole)
                return True
        if key.budget_usd is None and key.team_id is None and key.expires_at is None:
            if not (key.revoked or key.suspended):
                return key.models is not None  # a key with no terms but its allowlist: ``_decide``'s answer
        return self._decide(call, key)

    def _decide(self, call: Call, key: CachedKey) -> bool | Pending | None:
        budget_usd = key.budget_usd
        if (key.team_id is not None and self.teams is not None) or (budget_usd is not None and self.shared is not None):
            return PENDING
        if key.revoked or key.suspended or key.expires_at is not None:
            refuse_unusable(key)  # a request was checked when it came in; batch items run later
        if budget_usd is None or not call.check_balance:
            return key.models is not None  # the allowlist, per candidate
        budget = key.budget
        if budget is None or time.time() >= budget.until:
            budget = key.budget = make_budget("key", key.id, budget_usd, key.budget_period, time.time())
        body = call.body if call.body is not None else ({"model": call.requested} if call.requested else {})
        plan = self._plan(call, body, key, None)
        requested = call.requested
        sole = None
        if requested and "models" not in body and call.multiplier == ONE:
            tally = self.memory.tally(budget.slot)
            entry = call.state.catalog.get(requested)
            if entry is not None and entry.id in plan.models and not entry.context_window_fallbacks:
                sole = entry
            key.plan = KeyPlan(
                call.state.catalog.version, requested, plan, budget, key.expires_at, call.multiplier, tally, sole
            )
        amount = plan.worst_units(body, call.multiplier)
        refusal = self.memory.reserve(budget.alone, amount)
        if refusal is not None:
            raise budget_exceeded(refusal, plan.worst(body, call.multiplier))
        call.reserved[HOLD] = (budget.alone, amount, False)
        clear(call, plan.models, sole)  # the price plan's entries are the candidates both allowlists let through
        return True

    async def admit(self, call: Call) -> bool | None:
        key = call.principal.key
        if key is None:
            return False
        if key.revoked or key.suspended or key.expires_at is not None:
            refuse_unusable(key)  # a request was checked when it came in; batch items run later
        team = self.teams.get(key.team_id) if key.team_id is not None and self.teams is not None else None
        budgets: tuple[Budget, ...] = ()
        if key.budget_usd is not None:
            budget = key.budget
            if budget is None or time.time() >= budget.until:
                budget = key.budget = make_budget("key", key.id, key.budget_usd, key.budget_period, time.time())
            budgets = budget.alone
        if team is not None:
            call.reserved[TEAM] = team
            if team.rpm or team.tpm:
                await call.state.limits.check(team_principal(call.principal, team))
            if team.budget_usd is not None:
                budgets = (*budgets, self._budget("team", team.id, team.budget_usd, team.budget_period))
        if not budgets or not call.check_balance:
            # (work already paid for, a batch item's rerun, is not counted again)
            return key.models is not None or team is not None  # the allowlists, per candidate
        body = call.body if call.body is not None else ({"model": call.requested} if call.requested else {})
        plan = self._plan(call, body, key, team.models if team is not None else None)
        amount = plan.worst_units(body, call.multiplier)
        refusal: Refusal | None
        hold: Hold
        if self.shared is not None:
            refusal, hold = await self.shared.reserve(budgets, amount)
        else:
            refusal, hold = self.memory.reserve(budgets, amount), (budgets, amount, False)
        if refusal is not None:
            raise budget_exceeded(refusal, plan.worst(body, call.multiplier))
        call.reserved[HOLD] = hold
        clear(call, plan.models)
        return True

    def _plan(self, call: Call, body: dict[str, Any], key: CachedKey, team_models: Allowlist | None) -> PricePlan:
        """The price plan of the entries the call may be billed for, made once per model asked and allowlists."""
        models = body.get("models")
        fallbacks = models if isinstance(models, list) else None  # ``fallback_models``
        catalog = call.state.catalog
        try:
            memo: tuple[Any, ...] | None = (
                catalog,
                catalog.version,
                call.requested,
                None if call.requested else body.get("model"),
                tuple(fallbacks) if fallbacks else None,
                key.models,  # allowlists compare by identity: each is parsed once, when its row is loaded
                team_models,
            )
            plan = self._plans.get(memo)  # type: ignore[arg-type]
        except TypeError:  # an id that is no string (refused later, when the call is planned)
            memo, plan = None, None
        if plan is None:
            plan = PricePlan.of(self._allowed(call, body, fallbacks, key, team_models))
            if memo is not None:
                if len(self._plans) >= MAX_PLANS:
                    self._plans.clear()
                self._plans[memo] = plan
        return plan

    def _allowed(
        self, call: Call, body: dict[str, Any], fallbacks: list[Any] | None, key: CachedKey, team_models: Any
    ) -> list[ModelEntry]:
        """The entries the call may be billed for: its candidates that both allowlists let through."""
        catalog = call.state.catalog
        try:
            entries = call.state.router.candidates(*model_and_fallbacks(call.requested or body.get("model"), fallbacks))
        except GatewayError:  # a body the endpoint plans its own way (its model named apart)
            asked = catalog.get(call.requested) if call.requested else None
            entries = [asked] if asked is not None else []
        if any(e.context_window_fallbacks for e in entries):
            entries = reachable(entries, catalog)
        if key.models is not None:
            entries = [e for e in entries if key.models.allows(e.id)]
        if team_models is not None:
            entries = [e for e in entries if team_models.allows(e.id)]
        return entries

    def allow(self, call: Call, entry: ModelEntry) -> None:
        key = call.principal.key
        if key is not None:
            models = key.models  # ``Allowlist.allows``, inline: this runs per candidate
            if models is not None and entry.id not in models.exact and not entry.id.startswith(models.prefixes):
                raise model_refused(entry.id, key.id)
        if key is None or key.team_id is not None:  # only a key of a team has its team's allowlist
            team: CachedTeam | None = call.reserved.get(TEAM)
            if team is not None and team.models is not None and not team.models.allows(entry.id):
                raise model_refused(entry.id, key.id if key is not None else "", team.id)

    def release(self, call: Call, record: CallRecord) -> None:
        reserved = call.reserved
        kept: tuple[Tally, int] | None = reserved.pop(KEPT, None)
        if kept is not None:  # admitted from the key's plan: settled on the counters it reserved on
            tally, amount = kept
            # ``settle_tally(tally, amount, cost_units(call, record))`` in this frame: every call of a kept
            # plan ends here, and two calls cost more than the steps they take (an amount of 0 leaves the
            # held units as they are, so it needs no test of its own).
            cost = record.cost
            billed = call.billed
            actual = billed.cost_units if billed is not None and billed.cost is cost else None
            if actual is None:
                actual = round(cost * PER_USD) if isinstance(cost, Decimal) and cost else 0
            left = tally.reserved - amount
            tally.reserved = left if left > 0 else 0
            if actual:
                tally.spent += actual
            return
        if TEAM in reserved:
            team: CachedTeam = reserved.pop(TEAM)
            if team.tpm and isinstance(record.usage, dict):
                tokens = int(record.usage.get("total_tokens") or 0)
                if tokens > 0:
                    self._later(call.state.limits.add_tokens(team_principal(call.principal, team), tokens))
        hold: Hold | None = reserved.pop(HOLD, None)
        if hold is None:
            return
        actual = cost_units(call, record)
        budgets, amount, shared = hold
        if not shared or self.shared is None:
            if len(budgets) == 1:  # a key's own budget, the common case
                self.memory.settle_one(budgets[0], amount, actual)
            else:
                self.memory.settle(budgets, amount, actual)
            return
        self._later(self.shared.settle(hold, actual))

    async def aclose(self) -> None:
        """Wait for the settlements still on their way to Redis."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
