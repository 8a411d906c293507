"""What both limit backends agree on: the windows, the response headers and the 429.

RPM and RPD are sliding logs (a request counts for exactly 60 s / 24 h after it was
admitted), TPM is a sliding sum of per-second token buckets over 60 s. A refused request
is told the real time until a slot frees, not a fixed back-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from meshapi_gateway.errors import GatewayError

MINUTE = 60.0
DAY = 86400.0


@dataclass(slots=True)
class Window:
    """One request window after a check: its limit, how many it holds, when the next slot frees."""

    name: str  # "minute" or "day"
    limit: int
    used: int
    frees_in: float  # seconds until the oldest entry leaves (the window length when empty)


@dataclass(slots=True)
class Verdict:
    windows: list[Window]
    blocked_for: float = 0.0  # > 0: refused, seconds until every blocking window has a slot
    blocked_by: str = ""
    tpm: int | None = None
    tokens_used: int = 0


def _ceil(seconds: float) -> int:
    return max(1, math.ceil(seconds - 1e-6))


def headers(verdict: Verdict) -> dict[str, str]:
    """``X-RateLimit-*`` for the tightest request window (and the token window when set)."""
    out: dict[str, str] = {}
    if verdict.windows:
        tight = min(verdict.windows, key=lambda w: (w.limit - w.used, w.frees_in))
        out["x-ratelimit-limit"] = str(tight.limit)
        out["x-ratelimit-remaining"] = str(max(0, tight.limit - tight.used))
        out["x-ratelimit-reset"] = str(_ceil(tight.frees_in))
    if verdict.tpm is not None:
        out["x-ratelimit-limit-tokens"] = str(verdict.tpm)
        out["x-ratelimit-remaining-tokens"] = str(max(0, verdict.tpm - verdict.tokens_used))
    return out


def raise_if_blocked(verdict: Verdict) -> dict[str, str]:
    out = headers(verdict)
    if verdict.blocked_for <= 0:
        return out
    seconds = _ceil(verdict.blocked_for)
    if verdict.blocked_by == "tokens":
        what = f"{verdict.tpm} tokens per minute"
        out["x-ratelimit-remaining-tokens"] = "0"
    else:
        w = next(w for w in verdict.windows if w.name == verdict.blocked_by)
        what = f"{w.limit} requests per {w.name}"
        # Headers describe the window that refused, whatever is tightest otherwise.
        out.update({"x-ratelimit-limit": str(w.limit), "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(seconds)})
    raise GatewayError(
        "rate_limit_exceeded",
        f"Rate limit exceeded: this key allows {what}. Retry in {seconds} s.",
        retry_after_seconds=seconds,
        headers=out,
    )
