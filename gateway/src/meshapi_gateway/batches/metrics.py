"""Prometheus series of the batch runner, on the gateway's own registry (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from meshapi_gateway.metrics import REGISTRY

ITEMS = Counter(
    "meshapi_batch_items_total", "Batch requests finished by this process, by outcome", ["outcome"], registry=REGISTRY
)
# With several workers: the sum over the live ones.
IN_FLIGHT = Gauge(
    "meshapi_batch_items_in_flight", "Batch requests running now", registry=REGISTRY, multiprocess_mode="livesum"
)
BATCHES = Counter(
    "meshapi_batches_finished_total",
    "Batches finalized by this process, by final status",
    ["status"],
    registry=REGISTRY,
)
