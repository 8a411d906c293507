"""A billed answer's cost from integers: the Decimal for the ledger and the answer, and its counter units.

``Pricing.cost`` multiplies and divides Decimals, and a budgeted call then turned that Decimal
into the budget counters' units (``governance/budgets.py``) to settle its reservation: the
conversion alone cost about as much as the arithmetic. Catalog prices have few decimal places,
so each is an integer over one power of ten, made once per price (``Rates``). A cost is then an
integer sum over that power; its counter units (10^-10 USD, rounded half to even, as the ledger
rounds) are one more integer product or division, and its Decimal one product, of the same
value ``Pricing.cost`` gives (every consumer rounds it to the ledger's precision or prints it
through ``money``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshapi_gateway.catalog import Pricing

ONE = Decimal(1)
# The budget counters' unit: 10^-PLACES USD (``governance.budgets`` counts in it; it lives here so
# that billing does not depend on governance).
PLACES = 10
# Token counts below this, and price coefficients below ``_MAX_COEFFICIENT``, keep every product and
# sum under 10^27: exact in integers and in a Decimal of the default 28 digits alike, so both ways
# give one value. Anything larger goes to ``Pricing.cost``.
_MAX_TOKENS = 10**12
_MAX_COEFFICIENT = 10**14
# Rates kept at most (a catalog has a few hundred prices); past it they are made again.
_MAX_RATES = 10_000


def decimal_places(price: Decimal) -> int:
    """The digits after the point of a price as written (``1.50`` has 2): the scale that makes it an integer."""
    exponent = price.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


class Rates:
    """One ``Pricing``'s prices per million tokens as integers of 10^-scale USD (``cost_of`` reads them)."""

    __slots__ = ("cache_priced", "cached", "completion", "divisor", "factor", "per_unit", "prompt", "unit_div")

    def __init__(self, prompt: int, cached: int, completion: int, scale: int, cache_priced: bool) -> None:
        self.prompt = prompt
        self.cached = cached
        self.completion = completion
        self.cache_priced = cache_priced  # a cache price is set: cached tokens are counted apart
        exponent = scale + 6  # an integer sum of tokens times these is in 10^-exponent USD
        self.factor = Decimal(1).scaleb(-exponent)  # that unit as a Decimal (a product with it is exact)
        self.divisor = 10**exponent  # that unit's count in one USD (an int: a quotient by it is rounded once)
        self.per_unit = 10 ** max(PLACES - exponent, 0)  # counter units in one of it
        self.unit_div = 10 ** max(exponent - PLACES, 0)  # or of it in one counter unit (rounded)


def rates_of(pricing: Pricing) -> Rates | None:
    """``pricing`` as integers; None for prices too fine or too large to keep exact (they go the Decimal way)."""
    prices = (
        pricing.prompt_usd_per_1m,
        pricing.cache_read_input_usd_per_1m or Decimal(0),
        pricing.completion_usd_per_1m,
    )
    if not all(p.is_finite() for p in prices):
        return None
    scale = max(decimal_places(p) for p in prices)
    prompt, cached, completion = (int(p.scaleb(scale)) for p in prices)
    if not all(0 <= c < _MAX_COEFFICIENT for c in (prompt, cached, completion)):
        return None
    return Rates(prompt, cached, completion, scale, pricing.cache_read_input_usd_per_1m is not None)


# id(Pricing) -> (that Pricing, its rates): a catalog's prices are made once and kept, and the entry
# holds the object, so its id is not reused while the entry is here.
_rates: dict[int, tuple[Pricing, Rates | None]] = {}


def cost_of(
    pricing: Pricing, prompt: int, completion: int, cached: int, multiplier: Decimal = ONE
) -> tuple[Decimal, int | None]:
    """``pricing.cost(prompt, completion, cached, multiplier)``, and the same in counter units (or None).

    The units are given for a call at its full price (``multiplier`` 1), else None: a discounted
    call's cost is rounded by Decimal arithmetic, and what needs its units converts it.
    """
    cost, units, _ = price(pricing, prompt, completion, cached, multiplier)
    return cost, units


def price(
    pricing: Pricing, prompt: int, completion: int, cached: int, multiplier: Decimal = ONE
) -> tuple[Decimal, int | None, float]:
    """``cost_of``'s cost and units, and the cost as a float (the usage metrics' ``float(cost)``).

    The float of a cost made from integers is their quotient: Python rounds an int over an int
    once, to the nearest float, as ``float(Decimal)`` rounds the exact value, so the two are equal;
    the Decimal's conversion (through its text) cost about 1.7 k instructions a bill.
    """
    known = _rates.get(id(pricing))
    if known is None or known[0] is not pricing:
        if len(_rates) >= _MAX_RATES:
            _rates.clear()
        known = _rates[id(pricing)] = (pricing, rates_of(pricing))
    rates = known[1]
    if rates is None or not (0 <= prompt < _MAX_TOKENS and 0 <= completion < _MAX_TOKENS and 0 <= cached):
        cost = pricing.cost(prompt, completion, cached, multiplier)
        return cost, None, float(cost)
    if rates.cache_priced:
        if cached > prompt:
            cached = prompt
        total = (prompt - cached) * rates.prompt + cached * rates.cached + completion * rates.completion
    else:
        total = prompt * rates.prompt + completion * rates.completion
    cost = Decimal(total) * rates.factor
    if multiplier is not ONE and multiplier != ONE:
        cost *= multiplier
        return cost, None, float(cost)
    if rates.unit_div == 1:
        return cost, total * rates.per_unit, total / rates.divisor
    whole, rest = divmod(total, rates.unit_div)  # half to even, as the ledger's NUMERIC(20, 10) rounds
    rest *= 2
    if rest > rates.unit_div or (rest == rates.unit_div and whole % 2):
        whole += 1
    return cost, whole, total / rates.divisor
