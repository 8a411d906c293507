"""Deployments, circuit breakers (local and shared through Redis), context-length fallback,
the retry budget, client disconnects and graceful shutdown, against the faulty upstream."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Iterator

import httpx
import pytest
import redis
from gwtest.faulty_upstream import FaultyUpstream
from gwtest.harness import Gateway, start_gateway
from gwtest.recording_billing import install_recording_billing

PRICES = {"prompt_usd_per_1m": "1", "completion_usd_per_1m": "2"}


def catalog(url: str) -> list[dict[str, Any]]:
    common = {"provider": "openai_compat", "base_url": url, "api_key": "sk-test", **PRICES}
    dep = {"base_url": url, "api_key": "sk-test"}
    return [
        {"id": "br/multi", "upstream_model": "dep-a", "deployments": [{**dep, "upstream_model": "dep-b"}], **common},
        {
            "id": "lb/weighted",
            "upstream_model": "dep-w3",
            "weight": 3,
            "deployments": [{**dep, "upstream_model": "dep-w1", "weight": 1}],
            **common,
        },
        {
            "id": "lb/even",
            "upstream_model": "dep-x",
            "deployments": [{**dep, "upstream_model": "dep-y"}],
            "idle_timeout": 30,
            **common,
        },
        {
            "id": "ctx/small",
            "upstream_model": "small",
            "context_length": 1000,
            "fallbacks": ["ctx/tiny"],
            "context_window_fallbacks": ["ctx/large"],
            **common,
        },
        {"id": "ctx/tiny", "upstream_model": "tiny", "context_length": 500, **common},
        {"id": "ctx/large", "upstream_model": "large", "context_length": 100_000, **common},
        {"id": "ctx/alone", "upstream_model": "alone", "context_length": 1000, **common},
        {"id": "out/down", "upstream_model": "down", **common},
        {"id": "slow/one", "upstream_model": "slow", "idle_timeout": 30, **common},
    ]


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyUpstream]:
    upstream = FaultyUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture
def make_gw(tmp_path_factory: pytest.TempPathFactory, faulty: FaultyUpstream) -> Iterator[Any]:
    started: list[Gateway] = []

    def make(**settings: Any) -> Gateway:
        gw = start_gateway(tmp_path_factory.mktemp("relr"), faulty.url, models=catalog(faulty.url), **settings)
        started.append(gw)
        return gw

    faulty.reset_counts()
    yield make
    for gw in started:
        gw.server.stop()
    assert faulty.wait_idle(10), "an upstream call was left running"


def chat(gw: Gateway, key: str, model: str, stream: bool = False, **kw: Any) -> httpx.Response:
    with gw.client(key) as c:
        return c.post(
            "/v1/chat/completions",
            json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]},
            **kw,
        )


def metric(gw: Gateway, name: str) -> float:
    text = httpx.get(gw.url + "/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_breaker_opens_skips_the_deployment_then_probes_it(make_gw: Any, faulty: FaultyUpstream) -> None:
    gw = make_gw(breaker_failure_threshold=2, breaker_cooldown_seconds=3.0)
    key = gw.create_key("br")
    faulty.plan("dep-a", then="status:503")
    opened = time.monotonic()
    with gw.client(key) as c:
        for _ in range(20):
            r = c.post(
                "/v1/chat/completions", json={"model": "br/multi", "messages": [{"role": "user", "content": "x"}]}
            )
            assert r.status_code == 200
    assert time.monotonic() - opened < 3.0, "the machine is too slow for this test's cooldown"
    assert faulty.calls["dep-a"] == 2  # opened after two failures, then skipped
    assert metric(gw, "meshapi_breaker_opened_total") >= 1
    faulty.plan("dep-a", then="ok")
    time.sleep(3.2)  # the cooldown passes; the next request that ranks dep-a first probes it
    for _ in range(20):
        assert chat(gw, key, "br/multi").status_code == 200
    assert faulty.calls["dep-a"] >= 4  # the probe succeeded and dep-a takes traffic again


def test_all_deployments_open_fails_fast_with_503(make_gw: Any, faulty: FaultyUpstream) -> None:
    gw = make_gw(breaker_failure_threshold=1, breaker_cooldown_seconds=30, retry_max_rounds=0)
    key = gw.create_key("br")
    faulty.plan("down", then="status:502")
    assert chat(gw, key, "out/down").status_code == 500
    r = chat(gw, key, "out/down")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "provider_not_available"
    assert int(r.headers["retry-after"]) >= 1
    assert faulty.calls["down"] == 1


def test_open_circuit_is_shared_through_redis(make_gw: Any, faulty: FaultyUpstream, redis_url: str) -> None:
    settings = {
        "redis_url": redis_url,
        "breaker_failure_threshold": 2,
        "breaker_cooldown_seconds": 30,
        "breaker_sync_seconds": 0.1,
    }
    first, second = make_gw(**settings), make_gw(**settings)
    k1, k2 = first.create_key("br"), second.create_key("br")
    faulty.plan("dep-a", then="status:503")
    for _ in range(20):
        assert chat(first, k1, "br/multi").status_code == 200
    assert faulty.calls["dep-a"] == 2
    shared = redis.Redis.from_url(redis_url).hgetall("meshapi:breakers:open")
    assert b"br/multi#0" in shared
    time.sleep(0.5)  # a few sync periods of the second replica
    for _ in range(20):
        assert chat(second, k2, "br/multi").status_code == 200
    assert faulty.calls["dep-a"] == 2  # the second replica never sent dep-a a request


def test_weighted_balancing(make_gw: Any, faulty: FaultyUpstream) -> None:
    gw = make_gw()
    key = gw.create_key("lb")
    with gw.client(key) as c:
        for _ in range(160):
            r = c.post(
                "/v1/chat/completions", json={"model": "lb/weighted", "messages": [{"role": "user", "content": "x"}]}
            )
            assert r.status_code == 200
    heavy, light = faulty.calls["dep-w3"], faulty.calls["dep-w1"]
    assert heavy + light == 160
    assert light > 0 and heavy > 1.5 * light  # weights 3 : 1, so about 120 : 40


def _read_until_content(resp: httpx.Response) -> Iterator[str]:
    for line in resp.iter_lines():
        if line.startswith("data: "):
            yield line[6:]


def test_least_in_flight_and_stream_disconnect_cancels_upstream(make_gw: Any, faulty: FaultyUpstream) -> None:
    gw = make_gw()
    key = gw.create_key("lb")
    billing = install_recording_billing(gw)
    faulty.plan("dep-x", "stall:3")
    faulty.plan("dep-y", "stall:3")
    client = gw.client(key)
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "lb/even", "stream": True, "messages": [{"role": "user", "content": "x"}]},
    ) as resp:
        assert resp.status_code == 200
        events = _read_until_content(resp)
        first = json.loads(next(events))
        assert first["model"] == "lb/even"
        busy = "dep-x" if faulty.calls["dep-x"] else "dep-y"
        idle = "dep-y" if busy == "dep-x" else "dep-x"
        faulty.plan(idle, then="ok")
        # While one deployment holds a call, every new request goes to the other one.
        for _ in range(6):
            assert chat(gw, key, "lb/even").status_code == 200
        assert faulty.calls[busy] == 1 and faulty.calls[idle] == 6
        request_id = resp.headers["x-request-id"]
        assert faulty.active == 1
    client.close()  # the client leaves in the middle of the stream
    assert faulty.wait_idle(5), "the upstream kept generating after the client left"
    assert faulty.abandoned == 1
    records = billing.for_request(request_id)
    assert len(records) == 1 and records[0].model == "lb/even" and records[0].completion_tokens >= 1


def test_a_stream_whose_opening_outlasts_the_watch_delay_still_notices_the_client_leaving(
    make_gw: Any, faulty: FaultyUpstream
) -> None:
    """The opening's client watch has started its watcher by the time the relay runs (one watch serves
    both): a client leaving after the first frames must still cut the upstream and bill the call once."""
    gw = make_gw()
    key = gw.create_key("dc")
    billing = install_recording_billing(gw)
    faulty.plan("slow", "drip:0.4")  # every upstream event 0.4 s apart: the opening alone is past WATCH_AFTER
    client = gw.client(key)
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "slow/one", "stream": True, "messages": [{"role": "user", "content": "x"}]},
    ) as resp:
        assert resp.status_code == 200
        assert json.loads(next(_read_until_content(resp)))["model"] == "slow/one"
        request_id = resp.headers["x-request-id"]
    client.close()  # the client leaves with most of the answer still to come
    assert faulty.wait_idle(5), "the upstream kept generating after the client left"
    assert faulty.abandoned == 1
    records = billing.for_request(request_id)
    assert len(records) == 1 and records[0].model == "slow/one"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse-opening"])
def test_client_disconnect_cancels_the_upstream_call(make_gw: Any, faulty: FaultyUpstream, stream: bool) -> None:
    gw = make_gw()
    key = gw.create_key("dc")
    billing = install_recording_billing(gw)
    faulty.plan("slow", "slow:30")
    before = metric(gw, "meshapi_client_disconnects_total")
    with pytest.raises(httpx.ReadTimeout):
        chat(gw, key, "slow/one", stream=stream, timeout=0.5)
    assert faulty.wait_idle(5), "the upstream call outlived its client"
    assert faulty.abandoned == 1
    deadline = time.monotonic() + 5
    while metric(gw, "meshapi_client_disconnects_total") <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric(gw, "meshapi_client_disconnects_total") == before + 1
    assert billing.records == []  # nothing was generated, nothing is billed


def test_context_length_error_moves_to_a_longer_context_model(make_gw: Any, faulty: FaultyUpstream) -> None:
    gw = make_gw()
    key = gw.create_key("ctx")
    faulty.plan("small", then="context")
    r = chat(gw, key, "ctx/small")
    assert r.status_code == 200
    assert r.json()["model"] == "ctx/large"
    assert r.headers["x-meshapi-fallback"] == "ctx/small,ctx/large"
    assert faulty.calls["tiny"] == 0  # a fallback with a smaller window is not tried
    faulty.plan("alone", then="context")
    r = chat(gw, key, "ctx/alone")
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    assert "context length" in r.json()["error"]["message"]
    assert faulty.calls["alone"] == 1  # not retried


def test_retry_budget_caps_retries_during_an_outage(make_gw: Any, faulty: FaultyUpstream) -> None:
    gw = make_gw(
        retry_max_rounds=3,
        retry_backoff_base=0.001,
        retry_budget_ratio=0,
        retry_budget_min_per_second=0,
        breaker_failure_threshold=10_000,
        breaker_min_requests=10_000,
    )
    key = gw.create_key("budget")
    faulty.plan("down", then="status:503")
    with gw.client(key) as c:
        for _ in range(20):
            r = c.post(
                "/v1/chat/completions", json={"model": "out/down", "messages": [{"role": "user", "content": "x"}]}
            )
            assert r.status_code == 503
    # Without a budget: 20 * (1 + 3) = 80 calls. The budget allows its initial 10 retry rounds only.
    assert 20 <= faulty.calls["down"] <= 30
    assert metric(gw, "meshapi_retry_budget_exhausted_total") >= 1


def _stream_in_thread(gw: Gateway, key: str, model: str, out: dict[str, Any], started: threading.Event) -> None:
    try:
        with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
            with c.stream(
                "POST",
                "/v1/chat/completions",
                json={"model": model, "stream": True, "messages": [{"role": "user", "content": "x"}]},
            ) as resp:
                out["request_id"] = resp.headers["x-request-id"]
                lines = []
                for line in resp.iter_lines():
                    if line.startswith("data: "):
                        lines.append(line[6:])
                        started.set()
                out["events"] = lines
    except Exception as exc:
        out["error"] = exc
    finally:
        started.set()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_graceful_shutdown_finishes_streams_and_flushes_usage(make_gw: Any, faulty: FaultyUpstream) -> None:
    gw = make_gw()
    key = gw.create_key("stop")
    billing = install_recording_billing(gw)
    faulty.plan("slow", "drip:0.3")
    out: dict[str, Any] = {}
    started = threading.Event()
    t = threading.Thread(target=_stream_in_thread, args=(gw, key, "slow/one", out, started))
    t.start()
    assert started.wait(10)
    gw.server.server.should_exit = True  # what SIGTERM does
    time.sleep(0.3)
    assert _refused(gw.server.port)  # no new connections while draining
    t.join(20)
    gw.server.thread.join(20)
    assert "error" not in out, out
    events = out["events"]
    assert events[-1] == "[DONE]" and json.loads(events[-2])["usage"]["completion_tokens"] == 3
    assert (
        "".join(
            json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-2] if json.loads(e)["choices"]
        )
        == "answer from slow"
    )
    assert [r.request_id for r in billing.records] == [out["request_id"]]
    assert billing.records_at_close == 1  # recorded before billing's last flush


def test_shutdown_deadline_cuts_a_stream_with_an_error_frame(make_gw: Any, faulty: FaultyUpstream) -> None:
    gw = make_gw()
    gw.server.server.config.timeout_graceful_shutdown = 1
    key = gw.create_key("stop")
    billing = install_recording_billing(gw)
    faulty.plan("slow", "stall:2")
    out: dict[str, Any] = {}
    started = threading.Event()
    t = threading.Thread(target=_stream_in_thread, args=(gw, key, "slow/one", out, started))
    t.start()
    assert started.wait(10)
    gw.server.server.should_exit = True
    t.join(20)
    gw.server.thread.join(20)
    events = out.get("events") or []
    assert events and events[-1] == "[DONE]", out
    assert json.loads(events[-2])["error"]["code"] == "upstream_error"  # never a clean-looking end
    assert len(billing.records) == 1 and billing.records_at_close == 1
