"""Prometheus metrics: requests, latency, time to first token, tokens, cost and upstream errors."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=False)

REQUESTS = Counter("meshapi_requests_total", "HTTP requests answered", ["route", "status"], registry=REGISTRY)
LATENCY = Histogram("meshapi_request_seconds", "Time to the full response", ["route"], registry=REGISTRY,
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
TTFT = Histogram("meshapi_time_to_first_token_seconds", "Time to the first streamed chunk", ["model", "provider"],
                 registry=REGISTRY, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
MODEL_REQUESTS = Counter("meshapi_model_requests_total", "Upstream calls answered", ["model", "provider"],
                         registry=REGISTRY)
TOKENS = Counter("meshapi_tokens_total", "Tokens by kind", ["model", "provider", "kind"], registry=REGISTRY)
COST = Counter("meshapi_cost_usd_total", "Billed cost in USD", ["model", "provider"], registry=REGISTRY)
UPSTREAM_ERRORS = Counter("meshapi_upstream_errors_total", "Failed upstream attempts", ["model", "provider", "code"],
                          registry=REGISTRY)


_USAGE_CHILDREN: dict[tuple[str, str], tuple[Any, Any, Any, Any]] = {}


def observe_usage(model: str, provider: str, prompt: int, completion: int, cost: float) -> None:
    # labels() builds and looks up a key under a lock; keep the children per (model, provider).
    children = _USAGE_CHILDREN.get((model, provider))
    if children is None:
        children = (MODEL_REQUESTS.labels(model, provider), TOKENS.labels(model, provider, "prompt"),
                    TOKENS.labels(model, provider, "completion"), COST.labels(model, provider))
        _USAGE_CHILDREN[(model, provider)] = children
    children[0].inc()
    if prompt:
        children[1].inc(prompt)
    if completion:
        children[2].inc(completion)
    if cost:
        children[3].inc(cost)


def render() -> bytes:
    return generate_latest(REGISTRY)
