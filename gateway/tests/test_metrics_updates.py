"""The per-request metric updates (metrics.py) give what prometheus-client's own methods give."""

from __future__ import annotations

import threading
import uuid
from typing import Any, Iterable

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


def test_a_finished_requests_updates_give_what_prometheus_client_gives() -> None:
    """``request_updates`` adds to prometheus-client's values in place: counts, sums and buckets must read as
    its own ``inc`` and ``observe`` would leave them (a change in its internals fails here, not silently)."""
    model, route = f"m/{uuid.uuid4().hex}", f"/r/{uuid.uuid4().hex}"
    durations = [0.0, 0.004, 0.005, 0.0051, 0.25, 1, 59.9, 60, 60.5, 500.0]
    firsts = [d / 3 for d in durations[1::2]]
    for model_label in (model, None):  # a data-plane request, then any other
        update = metrics.request_updates(route, 200, model_label)
        for i, d in enumerate(durations):
            with metrics.LOCK:
                update(d, d / 3 if i % 2 else None)

    def buckets(histogram: Any, **labels: str) -> dict[str, float]:
        return {
            s.labels["le"]: s.value
            for s in histogram.collect()[0].samples
            if s.name.endswith("_bucket") and all(s.labels.get(k) == v for k, v in labels.items())
        }

    def reference(bounds: Iterable[str], values: list[float]) -> dict[str, float]:
        made = Histogram("reference_seconds", "", registry=CollectorRegistry(), buckets=[float(b) for b in bounds])
        for v in values:
            made.observe(v)
        return buckets(made)

    latency = buckets(metrics.LATENCY, route=route)
    assert latency == reference(latency, durations * 2)
    by_model = buckets(metrics.MODEL_LATENCY, model=model, status="200")
    assert by_model == reference(by_model, durations)
    first = buckets(metrics.TTFT, model=model, status="200")
    assert first == reference(first, firsts)
    sample = metrics.REGISTRY.get_sample_value
    assert sample("meshapi_requests_total", {"route": route, "status": "200"}) == 2 * len(durations)
    assert sample("meshapi_request_seconds_sum", {"route": route}) == sum(durations * 2)
    assert sample("meshapi_time_to_first_token_seconds_sum", {"model": model, "status": "200"}) == sum(firsts)
