"""Money as the wire shows it: a Decimal as a plain decimal string, never a float or an exponent.

Costs, balances and prices all go out through ``money`` so they read the same everywhere
(``"0.000011"``, ``"10"``, ``"-0.5"``, never ``"1E+1"`` or ``"-0"``); clients parse them
into decimals of their own (docs/wire.md, Transport).
"""

from __future__ import annotations

from decimal import Decimal

# NUMERIC(20, 10): what the ledger keeps exactly, so what a cost or balance is rounded to.
LEDGER_PRECISION = Decimal("0.0000000001")


def money(value: Decimal | int, precision: Decimal | None = LEDGER_PRECISION) -> str:
    """``value`` rounded to ``precision`` (None: exact, as catalog prices are) as a decimal string."""
    if not value:
        # Every zero prints as "0" whatever its exponent or sign; a free model's cost is one on
        # every answer, and the Decimal steps below cost about 1.5 µs.
        return "0"
    exact = Decimal(value)
    if precision is not None:
        exact = exact.quantize(precision)
    text = format(exact.normalize(), "f")
    return "0" if text == "-0" else text
