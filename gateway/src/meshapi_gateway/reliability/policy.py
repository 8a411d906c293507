"""Timeouts per model and the retry rules (backoff, jitter, ``Retry-After``, retry budget).

Kept apart from the router so the numbers are easy to read in one place and the same
rules hold for chat, embeddings and anything else that goes through the router.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshapi_gateway.catalog.catalog import ModelEntry
    from meshapi_gateway.config import Settings

# A request's own ``timeout`` field (docs/wire.md, Request timeout) is honoured up to this many seconds.
MAX_REQUEST_TIMEOUT = 3600.0


@dataclass(slots=True, frozen=True)
class Timeouts:
    """Seconds; ``total`` bounds one upstream attempt from sending the request to its last byte."""

    connect: float
    first_token: float
    idle: float
    total: float


def default_timeouts(settings: "Settings | None") -> Timeouts:
    if settings is None:
        return Timeouts(10.0, 60.0, 60.0, 300.0)
    return Timeouts(
        settings.upstream_connect_timeout,
        settings.upstream_first_token_timeout,
        settings.upstream_idle_timeout,
        settings.upstream_total_timeout,
    )


def timeouts_for(entry: "ModelEntry", defaults: Timeouts) -> Timeouts:
    """The model's own values where the catalog sets them, the gateway's otherwise."""
    if (
        entry.connect_timeout is None
        and entry.first_token_timeout is None
        and entry.idle_timeout is None
        and entry.total_timeout is None
    ):
        return defaults
    return Timeouts(
        entry.connect_timeout or defaults.connect,
        entry.first_token_timeout or defaults.first_token,
        entry.idle_timeout or defaults.idle,
        entry.total_timeout or defaults.total,
    )


def request_deadline(body: dict[str, Any]) -> float | None:
    """Monotonic deadline from the request's ``timeout`` field (seconds), if it has a usable one."""
    value = body.get("timeout")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return time.monotonic() + min(float(value), MAX_REQUEST_TIMEOUT)


@dataclass(slots=True)
class RetryPolicy:
    """How many extra rounds over the candidates, and how long to wait before each."""

    max_rounds: int = 2
    backoff_base: float = 0.25
    backoff_max: float = 8.0
    retry_after_max: float = 10.0

    @classmethod
    def from_settings(cls, settings: "Settings | None") -> "RetryPolicy":
        if settings is None:
            return cls()
        return cls(
            settings.retry_max_rounds, settings.retry_backoff_base, settings.retry_backoff_max, settings.retry_after_max
        )

    def delay(self, round_index: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry round ``round_index`` (0-based), or None to give up.

        Exponential backoff with full jitter in its upper half, never shorter than the
        upstream's ``Retry-After``; an upstream asking for longer than ``retry_after_max``
        is not waited for (the client gets the 429 and its ``Retry-After`` instead).
        """
        if round_index >= self.max_rounds:
            return None
        if retry_after is not None and retry_after > self.retry_after_max:
            return None
        backoff = min(self.backoff_max, self.backoff_base * 2.0**round_index)
        jittered = backoff * (0.5 + random.random() * 0.5)
        return max(jittered, retry_after or 0.0)


class RetryBudget:
    """A token bucket that keeps retries a fraction of real traffic.

    Every first attempt deposits ``ratio`` tokens and a floor of ``min_per_second`` tokens
    flows in over time; every retry round takes one. During an outage retries stop once
    the bucket is empty, so they cannot multiply the load on a failing upstream.
    """

    __slots__ = ("_last", "_tokens", "capacity", "min_per_second", "ratio")

    def __init__(self, ratio: float = 0.2, min_per_second: float = 5.0) -> None:
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.capacity = max(10.0, min_per_second * 10)
        self._tokens = self.capacity
        self._last = time.monotonic()

    def deposit(self) -> None:
        tokens = self._tokens + self.ratio
        self._tokens = tokens if tokens < self.capacity else self.capacity

    def try_spend(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.min_per_second)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    @property
    def tokens(self) -> float:
        return self._tokens
