"""``round(seconds * 1000, 3)``, the request log's milliseconds, without its decimal round trip.

``round(x, 3)`` formats ``x`` to three decimals (``dtoa``) and parses the text back: about
3,000 instructions, paid once or twice for every logged row. The same float comes from an
integer: let ``us = ms * 1000``, within half a unit in the last place of the exact product;
below 10^11 that is under 2^-16, so when ``us`` is more than 10^-4 away from a half the exact
product rounds to the same integer ``n`` as ``us`` does, and ``n / 1000`` (an exact integer
over an exact one, rounded once) is the float nearest ``n`` thousandths, which is what
``round`` returns. Anything else (a near half, zero, a negative, huge or non-finite value) goes
through ``round`` itself.
"""

from __future__ import annotations


def millis(seconds: float) -> float:
    """``round(seconds * 1000, 3)``, the same float for every input."""
    ms = seconds * 1000
    us = ms * 1000
    if 0.0 < us < 1e11:  # not 0.0: -0.0 must stay -0.0
        # Called by name: ``round`` looks the method up and binds it first (≈ 0.5 k instructions more a call).
        n = us.__round__()
        if -0.4999 < us - n < 0.4999:
            return n / 1000
    return round(ms, 3)
