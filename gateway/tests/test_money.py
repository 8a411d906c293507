"""The one money formatter: what every cost, balance and price looks like on the wire."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meshapi_gateway.money import money


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0.000011"), "0.000011"),
        (Decimal("10.0000"), "10"),
        (Decimal("1E+1"), "10"),
        (Decimal("-0.5"), "-0.5"),
        (Decimal("0E-10"), "0"),
        (Decimal("-0.00000000001"), "0"),  # rounds to zero: never "-0"
        (Decimal("0.00000000015"), "0.0000000002"),  # the ledger's precision, half to even
        (7, "7"),
    ],
)
def test_costs_and_balances_are_plain_decimal_strings(value: Decimal | int, text: str) -> None:
    assert money(value) == text


def test_prices_are_exact_when_asked() -> None:
    assert money(Decimal("0.000123456789012"), precision=None) == "0.000123456789012"
    assert money(Decimal("2.50E+2"), precision=None) == "250"
