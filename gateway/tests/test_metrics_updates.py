"""The per-request metric updates (metrics.py) give what prometheus-client's own methods give."""

from __future__ import annotations

import threading
import uuid

from meshapi_gateway import metrics
from prometheus_client import CollectorRegistry, Histogram


def test_usage_counts_from_several_threads_all_add_up() -> None:
    model = f"m/{uuid.uuid4().hex}"

    def work() -> None:
        for _ in range(5000):
            metrics.observe_usage(model, "p", 2, 3, 0.5)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sample = metrics.REGISTRY.get_sample_value
    assert sample("meshapi_model_requests_total", {"model": model, "provider": "p"}) == 20000
    assert sample("meshapi_tokens_total", {"model": model, "provider": "p", "kind": "prompt"}) == 40000
    assert sample("meshapi_tokens_total", {"model": model, "provider": "p", "kind": "completion"}) == 60000
    assert sample("meshapi_cost_usd_total", {"model": model, "provider": "p"}) == 10000.0


def test_request_latencies_land_in_the_buckets_observe_would_choose() -> None:
    model = f"m/{uuid.uuid4().hex}"
    reference = Histogram("reference_seconds", "", registry=CollectorRegistry(), buckets=metrics._MODEL_BUCKETS)
    durations = [0.0, 0.004, 0.005, 0.0051, 0.25, 1, 59.9, 60, 60.5, 500.0]
    for d in durations:
        with metrics.LOCK:
            metrics.observe_request(model, 200, d, d / 2)
        reference.observe(d)
    ours = {
        s.labels["le"]: s.value
        for s in metrics.MODEL_LATENCY.collect()[0].samples
        if s.name.endswith("_bucket") and s.labels["model"] == model
    }
    theirs = {s.labels["le"]: s.value for s in reference.collect()[0].samples if s.name.endswith("_bucket")}
    assert ours == theirs and len(ours) == len(metrics._MODEL_BUCKETS) + 1
    labels = {"model": model, "status": "200"}
    assert metrics.REGISTRY.get_sample_value("meshapi_model_request_seconds_sum", labels) == sum(durations)
    assert metrics.REGISTRY.get_sample_value("meshapi_time_to_first_token_seconds_count", labels) == len(durations)
