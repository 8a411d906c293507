"""Prometheus series of the batch runner, on the gateway's own registry (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from meshapi_gateway.metrics import REGISTRY

ITEMS = Counter("meshapi_batch_items_total", "Batch requests finished by this process, by outcome", ["outcome"],
                registry=REGISTRY)
IN_FLIGHT = Gauge("meshapi_batch_items_in_flight", "Batch requests running in this process now", registry=REGISTRY)
BATCHES = Counter("meshapi_batches_finished_total", "Batches finalized by this process, by final status", ["status"],
                  registry=REGISTRY)
