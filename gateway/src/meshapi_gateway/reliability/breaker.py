"""Circuit breakers per deployment: skip an upstream that keeps failing, then probe it.

A deployment opens after ``threshold`` consecutive failures, or when its error rate in
the current window passes ``error_rate`` over at least ``min_requests`` calls. It stays
open for a cooldown; after that exactly one request probes it (half-open). A good probe
closes it, a bad one reopens it with twice the cooldown (up to ``cooldown_max``).

Only deployments that have failed have any state, so a healthy request costs one dict
lookup. Times are wall-clock seconds so that replicas can share open circuits (see
``breaker_sync``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from meshapi_gateway.config import Settings

# Called with (deployment key, open-until wall time or 0 when closed, cooldown seconds).
ChangeListener = Callable[[str, float, float], None]


class _State:
    __slots__ = (
        "consecutive",
        "cooldown",
        "failures",
        "open_until",
        "probing_since",
        "remote",
        "requests",
        "window_start",
    )

    def __init__(self, now: float, cooldown: float) -> None:
        self.consecutive = 0
        self.window_start = now
        self.requests = 0
        self.failures = 0
        self.open_until = 0.0
        self.cooldown = cooldown
        self.probing_since = 0.0
        self.remote = False  # opened because another replica said so


class Breakers:
    def __init__(
        self,
        threshold: int = 5,
        error_rate: float = 0.5,
        window: float = 30.0,
        min_requests: int = 20,
        cooldown: float = 15.0,
        cooldown_max: float = 300.0,
    ) -> None:
        self.threshold = threshold
        self.error_rate = error_rate
        self.window = window
        self.min_requests = min_requests
        self.base_cooldown = cooldown
        self.cooldown_max = cooldown_max
        self._states: dict[str, _State] = {}
        self.listeners: list[ChangeListener] = []

    @classmethod
    def from_settings(cls, settings: "Settings | None") -> "Breakers":
        if settings is None:
            return cls()
        return cls(
            settings.breaker_failure_threshold,
            settings.breaker_error_rate,
            settings.breaker_window_seconds,
            settings.breaker_min_requests,
            settings.breaker_cooldown_seconds,
            settings.breaker_cooldown_max_seconds,
        )

    # -- hot path ---------------------------------------------------------
    def allow(self, key: str, now: float) -> bool:
        """May a request go to this deployment now? Claims the probe when half-open."""
        st = self._states.get(key)
        if st is None or not st.open_until:
            return True
        if now < st.open_until:
            return False
        if st.probing_since and now - st.probing_since < st.cooldown:
            return False  # someone else is probing
        st.probing_since = now
        return True

    def is_open(self, key: str, now: float) -> bool:
        st = self._states.get(key)
        return st is not None and bool(st.open_until) and now < st.open_until

    def success(self, key: str) -> None:
        st = self._states.get(key)
        if st is None:
            return
        now = time.time()
        st.consecutive = 0
        self._count(st, now, failed=False)
        # Only the probe closes an open circuit: calls that started before it opened prove nothing.
        if st.open_until and now >= st.open_until:
            self._close(key, st)

    def failure(self, key: str) -> None:
        now = time.time()
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = _State(now, self.base_cooldown)
        st.consecutive += 1
        self._count(st, now, failed=True)
        if st.open_until:
            if now >= st.open_until:  # the probe failed: open again, for longer
                self._open(key, st, now, min(self.cooldown_max, st.cooldown * 2))
            return
        over_rate = st.requests >= self.min_requests and st.failures >= st.requests * self.error_rate
        if st.consecutive >= self.threshold or over_rate:
            self._open(key, st, now, st.cooldown)

    # -- state changes -----------------------------------------------------
    def _count(self, st: _State, now: float, failed: bool) -> None:
        if now - st.window_start > self.window:
            st.window_start, st.requests, st.failures = now, 0, 0
        st.requests += 1
        if failed:
            st.failures += 1

    def _open(self, key: str, st: _State, now: float, cooldown: float) -> None:
        st.cooldown = cooldown
        st.open_until = now + cooldown
        st.probing_since = 0.0
        st.remote = False
        for listener in self.listeners:
            listener(key, st.open_until, cooldown)

    def _close(self, key: str, st: _State) -> None:
        st.open_until = 0.0
        st.probing_since = 0.0
        st.cooldown = self.base_cooldown
        st.window_start, st.requests, st.failures = time.time(), 0, 0
        st.remote = False
        for listener in self.listeners:
            listener(key, 0.0, 0.0)

    # -- shared state (another replica's view) --------------------------------
    def apply_remote(self, opened: dict[str, float]) -> None:
        """Adopt circuits other replicas opened; close those they closed."""
        now = time.time()
        for key, until in opened.items():
            if until <= now:
                continue
            st = self._states.get(key)
            if st is None:
                st = self._states[key] = _State(now, self.base_cooldown)
            if st.open_until < until:
                st.open_until = until
                st.probing_since = 0.0
                st.remote = True
        for key, st in self._states.items():
            if st.remote and st.open_until and key not in opened:
                st.open_until = 0.0
                st.probing_since = 0.0
                st.consecutive = 0
                st.remote = False

    def state(self, key: str, now: float) -> tuple[str, float | None]:
        """A deployment's breaker as people read it: closed, open (until when) or half-open (a probe may go)."""
        st = self._states.get(key)
        if st is None or not st.open_until:
            return "closed", None
        return ("open", st.open_until) if now < st.open_until else ("half_open", st.open_until)

    def open_circuits(self) -> dict[str, float]:
        now = time.time()
        return {k: st.open_until for k, st in self._states.items() if st.open_until and st.open_until > now}
