"""Retry policy: which failures are retried and how long to wait.

Kept free of I/O so the sync and async transports share it and tests can
drive it with a fake clock and a fixed random source.

Rules (docs/wire.md, Client retries): 429/502/503/504, connection errors and timeouts are
retried; GET/DELETE always, POST/PATCH because the transport sends an
``Idempotency-Key`` that is generated once per logical call. The delay is
``0.5 s * 2**n`` capped at 30 s, jittered downwards by up to 25 %; a server
hint (``retry-after-ms``, ``Retry-After`` in seconds or as an HTTP date, or the
body's ``retry_after_seconds``) is a floor the jitter never undercuts. A hint
longer than :data:`MAX_RETRY_AFTER` is not waited out: the error is raised so
the caller can decide.
"""

from __future__ import annotations

import random
import time
from typing import Callable, Mapping, Optional

__all__ = [
    "INITIAL_DELAY",
    "MAX_DELAY",
    "MAX_RETRY_AFTER",
    "RETRY_STATUSES",
    "parse_retry_after",
    "retry_delay",
]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
INITIAL_DELAY = 0.5
MAX_DELAY = 30.0
MAX_RETRY_AFTER = 60.0


def parse_retry_after(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> Optional[float]:
    """Seconds to wait according to ``retry-after-ms`` / ``Retry-After``, if any."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            pass
        else:
            if value >= 0 and value == value:
                return value
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        return value if value >= 0 and value == value and value != float("inf") else None
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now())


def retry_delay(
    attempt: int,
    retry_after: Optional[float] = None,
    rand: Callable[[], float] = random.random,
) -> Optional[float]:
    """Delay before retry number ``attempt + 1`` (``attempt`` counts from 0).

    Returns ``None`` when the server asks for a longer pause than we are
    willing to sleep through.
    """
    delay = min(MAX_DELAY, INITIAL_DELAY * (2.0**attempt))
    delay *= 1.0 - 0.25 * rand()
    if retry_after is not None:
        if retry_after > MAX_RETRY_AFTER:
            return None
        if delay < retry_after:
            # Honour the hint and spread clients a little *after* it.
            delay = retry_after + min(1.0, 0.1 * retry_after) * rand()
    return delay
