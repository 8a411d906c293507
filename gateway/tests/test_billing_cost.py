"""A billed answer's cost from integers (``billing.cost``) is the Decimal ``Pricing.cost`` gives, to the last digit.

What the ledger keeps, what the answer shows and what a budget settles must not move: over
token counts and prices of any precision (with and without a cache price, batch multipliers),
the Decimal is equal, it rounds and prints the same, and its counter units are what
``governance.budgets.units`` makes of it (and the ledger's SQLite row binds the same float from them).
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from meshapi_gateway.billing.cost import ONE, cost_of
from meshapi_gateway.billing.ledger_sqlite import row_sqlite
from meshapi_gateway.billing.usage import UsageRecord
from meshapi_gateway.catalog.catalog import Pricing
from meshapi_gateway.governance.budgets import units
from meshapi_gateway.money import LEDGER_PRECISION, money


def _price() -> st.SearchStrategy[Decimal]:
    return st.builds(lambda units, places: Decimal(units).scaleb(-places), st.integers(0, 10**9), st.integers(0, 14))


pricings = st.builds(
    Pricing,
    prompt_usd_per_1m=_price(),
    completion_usd_per_1m=_price(),
    cache_read_input_usd_per_1m=st.one_of(st.none(), _price()),
)
tokens = st.one_of(st.integers(0, 300_000), st.integers(-3, 10**13))


@settings(max_examples=1500, deadline=None)
@given(
    pricings,
    tokens,
    tokens,
    tokens,
    st.sampled_from([ONE, Decimal(1), Decimal("1.00"), Decimal("0.5"), Decimal("0.25"), Decimal("1.3333")]),
)
def test_the_integer_cost_is_the_decimal_cost(
    pricing: Pricing, prompt: int, completion: int, cached: int, multiplier: Decimal
) -> None:
    expected = pricing.cost(prompt, completion, cached, multiplier)
    for _ in range(2):  # the first call makes the price's rates, the second reads them
        cost, counted = cost_of(pricing, prompt, completion, cached, multiplier)
        assert cost == expected
        assert str(cost.quantize(LEDGER_PRECISION)) == str(expected.quantize(LEDGER_PRECISION))  # the ledger row
        assert money(cost) == money(expected)  # the answer
        assert float(cost) == float(expected)  # the metrics
        if counted is not None:
            assert counted == units(expected)
            assert multiplier == ONE
            # The ledger's SQLite row binds the queued cost's float from the units: the same float.
            record = UsageRecord("req_1", "o", None, "m", "p", prompt, completion, cached, cost, cost_units=counted)
            queued = cost.quantize(LEDGER_PRECISION)
            assert row_sqlite(("led_1", record, queued, 0))[11] == float(queued)


def test_a_full_price_call_has_its_units() -> None:
    pricing = Pricing(prompt_usd_per_1m=Decimal("0.15"), completion_usd_per_1m=Decimal("0.6"))
    assert cost_of(pricing, 1000, 500, 0) == (Decimal("0.00045"), 4_500_000)
    finer = Pricing(prompt_usd_per_1m=Decimal("0.0000123"), completion_usd_per_1m=Decimal("0"))
    cost, counted = cost_of(finer, 5, 0, 0)  # 6.15e-11 USD: half a unit and more, rounded up to one
    assert (cost, counted) == (Decimal("6.15E-11"), 1)
    half = Pricing(prompt_usd_per_1m=Decimal("0.00005"))  # half a unit a token: ties go to the even unit
    assert [cost_of(half, n, 0, 0)[1] for n in (1, 2, 3, 5)] == [0, 1, 2, 2]
    assert cost_of(pricing, 1000, 500, 0, Decimal("0.5"))[1] is None
