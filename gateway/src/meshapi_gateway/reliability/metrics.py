"""Prometheus counters of the reliability layer, on the gateway's one registry."""

from __future__ import annotations

from prometheus_client import Counter

from meshapi_gateway.metrics import REGISTRY

FALLBACKS = Counter(
    "meshapi_fallbacks_total",
    "Requests answered by another model than the one asked for",
    ["requested", "answered"],
    registry=REGISTRY,
)
RETRY_ROUNDS = Counter(
    "meshapi_retry_rounds_total", "Retry rounds after every candidate had failed", ["model"], registry=REGISTRY
)
RETRY_BUDGET_EXHAUSTED = Counter(
    "meshapi_retry_budget_exhausted_total", "Retries not made because the retry budget was empty", registry=REGISTRY
)
BREAKER_OPENED = Counter(
    "meshapi_breaker_opened_total", "Circuit breaker openings by deployment", ["deployment"], registry=REGISTRY
)
BREAKER_SKIPS = Counter(
    "meshapi_breaker_skips_total", "Attempts skipped because a circuit was open", ["deployment"], registry=REGISTRY
)
CLIENT_DISCONNECTS = Counter(
    "meshapi_client_disconnects_total", "Requests whose client left before the answer", ["kind"], registry=REGISTRY
)
IDEMPOTENT_REPLAYS = Counter(
    "meshapi_idempotent_replays_total", "Responses replayed for a repeated Idempotency-Key", registry=REGISTRY
)
