"""Prometheus metrics: requests, latency, time to first token, tokens, cost and upstream errors.

With ``serve --workers N`` every worker is its own process with its own counters, and a
scrape reaches only one of them. The supervisor then turns on prometheus-client's
multiprocess mode (``share_between_workers``) before starting the workers: each worker
keeps its values in memory-mapped files of one folder, and ``render`` sums the files of
every worker, so one scrape reports the whole gateway. The folder is per machine (under
the data folder) and emptied at each start, so counts never carry over from a previous run.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from bisect import bisect_left
from pathlib import Path
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.values import MutexValue

# prometheus-client reads this when it is imported: it must be set before a worker starts.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

REGISTRY = CollectorRegistry(auto_describe=False)

REQUESTS = Counter("meshapi_requests_total", "HTTP requests answered", ["route", "status"], registry=REGISTRY)
LATENCY = Histogram(
    "meshapi_request_seconds",
    "Time to the full response",
    ["route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
_MODEL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Data-plane requests by the model that answered ("-" when none did) and the HTTP status.
MODEL_LATENCY = Histogram(
    "meshapi_model_request_seconds",
    "Time to the full response of a data-plane request",
    ["model", "status"],
    registry=REGISTRY,
    buckets=_MODEL_BUCKETS,
)
TTFT = Histogram(
    "meshapi_time_to_first_token_seconds",
    "Time from the request to the first streamed chunk",
    ["model", "status"],
    registry=REGISTRY,
    buckets=_MODEL_BUCKETS,
)
MODEL_REQUESTS = Counter(
    "meshapi_model_requests_total", "Upstream calls answered", ["model", "provider"], registry=REGISTRY
)
TOKENS = Counter("meshapi_tokens_total", "Tokens by kind", ["model", "provider", "kind"], registry=REGISTRY)
COST = Counter("meshapi_cost_usd_total", "Billed cost in USD", ["model", "provider"], registry=REGISTRY)
UPSTREAM_ERRORS = Counter(
    "meshapi_upstream_errors_total", "Failed upstream attempts", ["model", "provider", "code"], registry=REGISTRY
)


# A labelled child's update, taken once per label set. Every request makes about eight of them;
# the public ``inc``/``observe`` check on each call what a child always is (observable, amount not
# negative) and take a lock of the value's own for every single addition. Here a request's updates
# are made together under ``LOCK`` (one acquisition), straight to the values of this process. In
# multiprocess mode (``share_between_workers``) the values live in shared files and keep their own
# methods. Every update of these metrics goes through the functions below, so ``LOCK`` is the one
# writers take; a reader (a scrape) reads a float, whole either way.
Add = Callable[[float], None]
LOCK = threading.Lock()


def _add_to(value: Any) -> Add:
    def add(amount: float) -> None:
        value._value += amount

    return add


def _plain(value: Any) -> bool:
    """A single-process value: a float added to under its own lock, which ``LOCK`` stands in for."""
    return isinstance(value, MutexValue) and type(getattr(value, "_value", None)) is float


def adder(counter: Any) -> Add:
    """``counter.inc`` (a labelled child) without the checks; call it holding ``LOCK``."""
    value = getattr(counter, "_value", None)
    return _add_to(value) if _plain(value) else counter.inc


def observer(histogram: Any) -> Add:
    """``histogram.observe`` (a labelled child): the sum, then the first bucket whose bound is not below.

    Call it holding ``LOCK``.
    """
    parts = _histogram_values(histogram)
    if parts is None:
        return histogram.observe  # type: ignore[no-any-return]
    total, buckets, upper = parts

    # The values added to in place, not through ``_add_to``'s adders: two Python calls an observation less.
    def observe(amount: float) -> None:
        total._value += amount
        buckets[bisect_left(upper, amount)]._value += 1

    return observe


def _histogram_values(histogram: Any) -> tuple[Any, list[Any], tuple[float, ...]] | None:
    """A labelled histogram's sum, buckets and their upper bounds, when all are plain values (else None)."""
    total = getattr(histogram, "_sum", None)
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = list(getattr(histogram, "_buckets", ()))
    if not _plain(total) or not bounds or len(buckets) != len(bounds) or not all(map(_plain, buckets)):
        return None
    return total, buckets, tuple(bounds)  # the last bound is +Inf: every amount has a bucket


_NEGATIVE = "Counters can only be incremented by non-negative amounts."
# A billed call's updates: its request, prompt and completion tokens, and cost.
Usage = Callable[[int, int, float], None]
_USAGE_UPDATES: dict[tuple[str, str], Usage] = {}


def _usage_updates(model: str, provider: str) -> Usage:
    """Every usage update of a billed call in one call (as ``request_updates``); call it holding ``LOCK``."""
    counters = (
        MODEL_REQUESTS.labels(model, provider),
        TOKENS.labels(model, provider, "prompt"),
        TOKENS.labels(model, provider, "completion"),
        COST.labels(model, provider),
    )
    values: list[Any] = [getattr(c, "_value", None) for c in counters]
    if all(map(_plain, values)):
        requests, prompts, completions, costs = values

        def plain(prompt: int, completion: int, cost: float) -> None:
            requests._value += 1
            if prompt:
                prompts._value += prompt
            if completion:
                completions._value += completion
            if cost:
                costs._value += cost

        return plain
    add_request, add_prompt, add_completion, add_cost = (adder(c) for c in counters)

    def shared(prompt: int, completion: int, cost: float) -> None:
        add_request(1)
        if prompt:
            add_prompt(prompt)
        if completion:
            add_completion(completion)
        if cost:
            add_cost(cost)

    return shared


def observe_usage(model: str, provider: str, prompt: int, completion: int, cost: float) -> None:
    # labels() builds and looks up a key under a lock; the updates are taken once per (model, provider),
    # and made in one call rather than an adder call each (≈ 1.2 k instructions less a bill).
    update = _USAGE_UPDATES.get((model, provider))
    if update is None:
        update = _USAGE_UPDATES[(model, provider)] = _usage_updates(model, provider)
    # A negative amount raises as the public ``inc`` does (the value must never go down).
    if prompt < 0 or completion < 0 or cost < 0:
        raise ValueError(_NEGATIVE)
    with LOCK:
        update(prompt, completion, cost)


_REQUEST_CHILDREN: dict[tuple[str, int], tuple[Add, Add]] = {}
_MAX_REQUEST_CHILDREN = 10_000


def observe_request(model: str | None, status: int, duration: float, ttft: float | None) -> None:
    """A finished data-plane request: its latency, and its time to first token if it streamed.

    Call it holding ``LOCK`` (``RequestContext`` makes all of a request's updates under one hold).
    """
    key = (model or "-", status)
    children = _REQUEST_CHILDREN.get(key)
    if children is None:
        children = (observer(MODEL_LATENCY.labels(key[0], str(status))), observer(TTFT.labels(key[0], str(status))))
        if len(_REQUEST_CHILDREN) < _MAX_REQUEST_CHILDREN:
            _REQUEST_CHILDREN[key] = children
    children[0](duration)
    if ttft is not None:
        children[1](ttft)


# A finished request's updates: its duration, and its time to first token (None if it streamed nothing).
Finish = Callable[[float, float | None], None]


def request_updates(route: str, status: int, model: str | None) -> Finish:
    """Every metric update of a finished request in one call; call it holding ``LOCK``.

    The request count and latency by route and status; with a ``model`` (a data-plane request: the
    model that answered, "-" when none did) also what ``observe_request`` adds. Taken once per
    (route, status, model) by ``RequestContext``: a request then makes one Python call for its
    metrics, not five (the count's adder, three observers and ``observe_request``).
    """
    status_label = str(status)
    count: Any = getattr(REQUESTS.labels(route, status_label), "_value", None)
    latency = _histogram_values(LATENCY.labels(route))
    if model is None:
        if _plain(count) and latency is not None:
            l_sum, l_buckets, l_upper = latency

            def plain(duration: float, ttft: float | None) -> None:
                count._value += 1
                l_sum._value += duration
                l_buckets[bisect_left(l_upper, duration)]._value += 1

            return plain
        add = adder(REQUESTS.labels(route, status_label))
        observe = observer(LATENCY.labels(route))

        def plain_shared(duration: float, ttft: float | None) -> None:
            add(1)
            observe(duration)

        return plain_shared
    by_model = _histogram_values(MODEL_LATENCY.labels(model, status_label))
    first = _histogram_values(TTFT.labels(model, status_label))
    if _plain(count) and latency is not None and by_model is not None and first is not None:
        l_sum, l_buckets, l_upper = latency
        m_sum, m_buckets, m_upper = by_model
        t_sum, t_buckets, t_upper = first

        def data_plane(duration: float, ttft: float | None) -> None:
            count._value += 1
            l_sum._value += duration
            l_buckets[bisect_left(l_upper, duration)]._value += 1
            m_sum._value += duration
            m_buckets[bisect_left(m_upper, duration)]._value += 1
            if ttft is not None:
                t_sum._value += ttft
                t_buckets[bisect_left(t_upper, ttft)]._value += 1

        return data_plane
    add = adder(REQUESTS.labels(route, status_label))
    observe = observer(LATENCY.labels(route))

    def data_plane_shared(duration: float, ttft: float | None) -> None:
        add(1)
        observe(duration)
        observe_request(model, status, duration, ttft)

    return data_plane_shared


def share_between_workers(data_dir: Path) -> Path:
    """Turn on multiprocess mode for the workers about to start; returns the (emptied) folder."""
    from meshapi_gateway.store.private_files import private_dir

    folder = data_dir / "metrics" / socket.gethostname()
    if folder.exists():
        shutil.rmtree(folder)
    private_dir(folder)
    os.environ[MULTIPROCESS_ENV] = str(folder)
    return folder


def worker_gone(pid: int) -> None:
    """A worker died: its live gauges no longer count (its counters still do, they happened)."""
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def render() -> bytes:
    folder = os.environ.get(MULTIPROCESS_ENV)
    if not folder:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(registry, folder)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
