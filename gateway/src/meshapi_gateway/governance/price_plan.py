"""A call's worst case from integers: the candidates' prices scaled once, per model asked and allowlists.

Budgeted calls all ask for the worst case (``worst_case.py``); working it out from the
catalog on every call means planning the candidates, filtering them by the allowlists and
multiplying Decimals. The candidates a call may be billed for depend only on the model
asked, the request's fallbacks and the allowlists, so ``PricePlans`` keeps them, with every
price as an integer over one power of ten: a call then costs a few integer products and one
Decimal, of exactly the value ``worst_case`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable

from meshapi_gateway.governance.worst_case import OUTPUT_FIELDS, prompt_bound

if TYPE_CHECKING:
    from meshapi_gateway.catalog import ModelEntry

ONE = Decimal(1)
ZERO = Decimal(0)
# Plans kept at most (each is a few integers); past it they are made again.
MAX_PLANS = 10_000


def _scaled(price: Decimal, scale: int) -> int:
    return int(price.scaleb(scale))


def _decimals(price: Decimal) -> int:
    exponent = price.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@dataclass(frozen=True, slots=True)
class PricePlan:
    """The priced candidates: ``(prompt, completion, output limit)`` per entry, prices in 10^-scale USD per 1M."""

    rates: tuple[tuple[int, int, int], ...]
    scale: int

    @classmethod
    def of(cls, entries: Iterable[ModelEntry]) -> PricePlan:
        priced = [e for e in entries if not e.is_free]
        scale = max(
            (_decimals(p) for e in priced for p in (e.pricing.prompt_usd_per_1m, e.pricing.completion_usd_per_1m)),
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
        return cls(rates, scale)

    def worst(self, body: dict[str, Any], multiplier: Decimal = ONE) -> Decimal:
        """``worst_case(body, entries, multiplier)`` of the entries this plan was made of."""
        if not self.rates:
            return ZERO
        prompt = prompt_bound(body)
        asked = 0
        for name in OUTPUT_FIELDS:
            value = body.get(name)
            if type(value) is int and value > 0:
                asked = value
                break
        n = body.get("n")
        choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
        worst = 0
        for prompt_rate, completion_rate, limit in self.rates:
            output = 0 if limit < 0 else (asked or limit) * choices
            cost = prompt * prompt_rate + output * completion_rate
            if cost > worst:
                worst = cost
        if not worst:
            return ZERO
        amount = Decimal(worst).scaleb(-(self.scale + 6))
        return amount if multiplier == ONE else amount * multiplier


class PricePlans:
    """Plans by (catalog, model asked, fallbacks, key allowlist, team allowlist)."""

    def __init__(self) -> None:
        self._plans: dict[tuple[Any, ...], PricePlan] = {}

    def get(self, key: tuple[Any, ...]) -> PricePlan | None:
        return self._plans.get(key)

    def put(self, key: tuple[Any, ...], plan: PricePlan) -> None:
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        self._plans[key] = plan
