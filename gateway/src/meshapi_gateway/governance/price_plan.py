"""A call's worst case from integers: the candidates' prices scaled once, per model asked and allowlists.

Budgeted calls all ask for the worst case (``worst_case.py``); working it out from the
catalog on every call means planning the candidates, filtering them by the allowlists and
multiplying Decimals. The candidates a call may be billed for depend only on the model
asked, the request's fallbacks and the allowlists, so admission keeps a plan of them per those, every
price as an integer over one power of ten: a call then costs a few integer products, and
gives the budget counters their integer units (``worst_units``) without a Decimal; ``worst``
gives exactly the value ``worst_case`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable

from meshapi_gateway.billing.cost import PLACES, decimal_places
from meshapi_gateway.governance.budgets import units_up
from meshapi_gateway.governance.worst_case import OUTPUT_FIELDS, prompt_bound

if TYPE_CHECKING:
    from meshapi_gateway.catalog import ModelEntry

ONE = Decimal(1)
ZERO = Decimal(0)
# Plans an admission check keeps at most (each is a few integers); past it they are made again.
MAX_PLANS = 10_000


def _scaled(price: Decimal, scale: int) -> int:
    return int(price.scaleb(scale))


@dataclass(frozen=True, slots=True)
class PricePlan:
    """The priced candidates: ``(prompt, completion, output limit)`` per entry, prices in 10^-scale USD per 1M."""

    rates: tuple[tuple[int, int, int], ...]
    scale: int
    # The ids of the entries it was made of: the models the allowlists let this call use (``Cleared``).
    models: frozenset[str] = frozenset()
    # A cost in the plan's unit (10^-(scale + 6) USD) is ``per_unit`` budget counter units, or
    # ``unit_div`` of them make one (prices finer than the counters, rounded up).
    per_unit: int = field(init=False, compare=False)
    unit_div: int = field(init=False, compare=False)
    # The one priced candidate's rates in counter units per token (with its output limit), or None
    # (several candidates, or prices finer than the counters): ``KeyPlan.worst_units`` then has no
    # loop to run and no unit to convert.
    single: tuple[int, int, int] | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        shift = PLACES - 6 - self.scale
        object.__setattr__(self, "per_unit", int(10 ** max(shift, 0)))
        object.__setattr__(self, "unit_div", int(10 ** max(-shift, 0)))
        single = None
        if len(self.rates) == 1 and self.unit_div == 1:
            prompt, completion, limit = self.rates[0]
            single = (prompt * self.per_unit, completion * self.per_unit, limit)
        object.__setattr__(self, "single", single)

    @classmethod
    def of(cls, entries: Iterable[ModelEntry]) -> PricePlan:
        entries = list(entries)
        priced = [e for e in entries if not e.is_free]
        scale = max(
            (decimal_places(p) for e in priced for p in (e.pricing.prompt_usd_per_1m, e.pricing.completion_usd_per_1m)),
            default=0,
        )
        rates = tuple(
            (
                _scaled(e.pricing.prompt_usd_per_1m, scale),
                _scaled(e.pricing.completion_usd_per_1m, scale),
                # An embedding produces no output tokens; -1 marks it.
                -1 if e.model_type == "embedding" else e.max_output_tokens,
            )
            for e in priced
        )
        return cls(rates, scale, frozenset(e.id for e in entries))

    def worst(self, body: dict[str, Any], multiplier: Decimal = ONE) -> Decimal:
        """``worst_case(body, entries, multiplier)`` of the entries this plan was made of."""
        most = self._most(body)
        if not most:
            return ZERO
        amount = Decimal(most).scaleb(-(self.scale + 6))
        return amount if multiplier == ONE else amount * multiplier

    def worst_units(self, body: dict[str, Any], multiplier: Decimal = ONE) -> int:
        """``worst`` in budget counter units (10^-10 USD), rounded up when it is finer than one."""
        most = self._most(body)
        if not most:
            return 0
        if multiplier != ONE:  # a batch's discount: rare, in Decimal
            return units_up(Decimal(most).scaleb(-(self.scale + 6)) * multiplier)
        return most * self.per_unit if self.unit_div == 1 else -(-most // self.unit_div)

    def _most(self, body: dict[str, Any]) -> int:
        """The costliest candidate's worst case for ``body``, in 10^-(scale + 6) USD."""
        rates = self.rates
        if not rates:
            return 0
        # The first of OUTPUT_FIELDS that is a positive integer: the ``or`` finds it, unless an earlier
        # field holds another truthy value (a string, a negative number), which the loop sorts out.
        asked = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens")
        if asked is not None and (type(asked) is not int or asked <= 0):
            asked = next((v for v in map(body.get, OUTPUT_FIELDS) if type(v) is int and v > 0), 0)
        n = body.get("n")
        if n is not None and type(n) is int and n > 1:
            asked = n * (asked or 0)  # 0: each candidate's own limit, times n below
        else:
            n = 1
        if len(rates) == 1:  # one priced candidate, the common case: no loop
            prompt_rate, completion_rate, limit = rates[0]
            if limit < 0:
                return prompt_bound(body) * prompt_rate
            return prompt_bound(body) * prompt_rate + (asked or limit * n) * completion_rate
        prompt = prompt_bound(body)
        worst = 0
        for prompt_rate, completion_rate, limit in rates:
            cost = prompt * prompt_rate if limit < 0 else prompt * prompt_rate + (asked or limit * n) * completion_rate
            if cost > worst:
                worst = cost
        return worst
