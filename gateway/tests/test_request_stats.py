"""``GET /v1/stats``: the request log summed per time bucket and per model, an owner's own or (the admin) all."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Iterator

import httpx
import pytest
from gwtest.harness import FakeUpstream, Gateway, start_gateway

ADMIN = "stats-admin-" + "s" * 32


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("stats"), fake_openai.url, admin_token=ADMIN)
    yield gateway
    gateway.server.stop()


def _client(gw: Gateway, token: str) -> httpx.Client:
    return httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {token}"}, timeout=30)


def _key(gw: Gateway, owner: str) -> str:
    with _client(gw, ADMIN) as admin:
        resp = admin.post("/v1/keys", json={"owner": owner})
        assert resp.status_code == 201, resp.text
        key: str = resp.json()["key"]
        return key


def test_stats_sum_the_log_per_bucket_and_model_for_the_owner(gw: Gateway) -> None:
    key = _key(gw, "stat-ann")
    with _client(gw, key) as ann:
        for text in ("one", "two", "three"):
            resp = ann.post(
                "/v1/chat/completions", json={"model": "fake/echo", "messages": [{"role": "user", "content": text}]}
            )
            assert resp.status_code == 200
        bad = ann.post(
            "/v1/chat/completions", json={"model": "fake/fail-400", "messages": [{"role": "user", "content": "x"}]}
        )
        assert bad.status_code >= 400
    with _client(gw, gw.token("stat-ann")) as ann:
        logs = ann.get("/v1/logs").json()["data"]
        stats = ann.get("/v1/stats").json()
    assert stats["object"] == "request_stats" and stats["bucket_seconds"] == 3600
    totals = stats["totals"]
    assert (totals["requests"], totals["errors"]) == (4, 1)
    assert Decimal(totals["cost_usd"]) == sum(Decimal(r["cost"] or 0) for r in logs) > 0
    assert totals["prompt_tokens"] == sum(r["usage"]["prompt_tokens"] for r in logs)
    durations = sorted(r["duration_ms"] for r in logs)
    assert totals["p50_ms"] == pytest.approx(durations[1], abs=1e-3)  # nearest rank: the 2nd of 4
    assert totals["p99_ms"] == pytest.approx(durations[-1], abs=1e-3)
    # 24 hours in hours: 24 or 25 buckets (the first is cut at the hour), together holding every request.
    assert len(stats["buckets"]) in (24, 25)
    assert sum(b["requests"] for b in stats["buckets"]) == 4
    assert stats["buckets"][0]["start_ms"] % 3600_000 == 0
    by_model = {m["model"]: m for m in stats["models"]}
    assert by_model["fake/echo"]["requests"] == 3 and by_model["fake/echo"]["errors"] == 0
    assert by_model["fake/fail-400"]["errors"] == 1 and by_model["fake/fail-400"]["requests"] == 1


def test_stats_are_scoped_to_the_owner_and_the_admin_sees_all(gw: Gateway) -> None:
    key = _key(gw, "stat-bob")
    with _client(gw, key) as bob:
        assert (
            bob.post(
                "/v1/chat/completions", json={"model": "fake/echo", "messages": [{"role": "user", "content": "b"}]}
            ).status_code
            == 200
        )
    with _client(gw, gw.token("stat-nobody")) as nobody:
        assert nobody.get("/v1/stats").json()["totals"]["requests"] == 0
    with _client(gw, gw.token("stat-bob")) as bob:
        assert bob.get("/v1/stats").json()["totals"]["requests"] == 1
        # An rsk key reads its owner's stats too, like /v1/logs.
    with _client(gw, ADMIN) as admin:
        everyone = admin.get("/v1/stats").json()["totals"]["requests"]
        only_bob = admin.get("/v1/stats", params={"owner": "stat-bob"}).json()["totals"]["requests"]
    assert only_bob == 1 and everyone >= 2


def test_stats_by_day_over_a_week_and_the_refusals(gw: Gateway) -> None:
    now = int(time.time())
    with _client(gw, gw.token("stat-ann")) as ann:
        week = ann.get("/v1/stats", params={"since": now - 7 * 86400, "until": now + 1})
        assert week.status_code == 200
        assert week.json()["bucket_seconds"] == 86400 and len(week.json()["buckets"]) in (7, 8)
        refusals: list[tuple[dict[str, Any], str]] = [
            ({"bucket": "minute"}, "bucket"),
            ({"since": now, "until": now - 10}, "since"),
            ({"since": 0, "until": now, "bucket": "hour"}, "bucket"),
        ]
        for params, field in refusals:
            resp = ann.get("/v1/stats", params=params)
            assert resp.status_code == 422, params
            assert resp.json()["error"]["details"][0]["loc"][-1] == field
        assert httpx.get(gw.url + "/v1/stats").status_code == 401
