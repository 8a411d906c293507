"""Balances and the usage ledger end to end: costs, 402 and recovery, enforcement, usage reads.

Every check is what an owner would notice: the ``cost`` on answers, the ledger rows
behind them, the balance moving by exactly their sum, and the refusals.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any, Callable

import pytest
from gwtest.accounts_support import ADMIN, credit, ledger, ledger_sum, stored_balance
from gwtest.harness import Gateway

CHAT = {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}
FREE = {"model": "fake/free-echo", "messages": [{"role": "user", "content": "hi"}]}


def _stream_cost(text: str) -> tuple[str, dict[str, Any]]:
    payloads = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    last = json.loads(payloads[-2])
    return last["cost"], last["usage"]


def test_each_request_has_a_ledger_row_with_its_cost(
    gateway_factory: Callable[..., Gateway], database_url: str
) -> None:
    gw = gateway_factory(database_url=database_url, admin_token=ADMIN)
    key = gw.create_key("led-one")
    credit(gw, "led-one", "1")
    with gw.client(key) as c:
        plain = c.post("/v1/chat/completions", json=CHAT)
        streamed = c.post("/v1/chat/completions", json={**CHAT, "stream": True})
        free = c.post("/v1/chat/completions", json=FREE)
        assert plain.status_code == streamed.status_code == free.status_code == 200
        usage = c.get("/v1/usage").json()
    stream_cost, stream_usage = _stream_cost(streamed.text)
    expected = {
        plain.headers["x-request-id"]: plain.json()["cost"],
        streamed.headers["x-request-id"]: stream_cost,
        free.headers["x-request-id"]: free.json()["cost"],
    }
    assert free.json()["cost"] == "0"
    assert (
        Decimal(plain.json()["cost"])
        == Decimal(plain.json()["usage"]["prompt_tokens"] * 1 + plain.json()["usage"]["completion_tokens"] * 2) / 10**6
    )
    assert {e["request_id"]: e["cost_usd"] for e in usage["data"]} == expected
    assert usage["total_count"] == 3
    assert Decimal(usage["total_cost_usd"]) == sum(Decimal(v) for v in expected.values())
    row = next(e for e in usage["data"] if e["request_id"] == streamed.headers["x-request-id"])
    assert row["prompt_tokens"] == stream_usage["prompt_tokens"]
    assert row["completion_tokens"] == stream_usage["completion_tokens"]
    assert row["model"] == "fake/echo" and row["provider"] and row["key_id"].startswith("key_")
    assert row["created_at"].endswith("Z")
    # The rows are in the database itself, not only in a cache.
    assert {r.request_id for r in ledger(gw, "led-one")} == set(expected)
    assert stored_balance(gw, "led-one") == 1 - sum(Decimal(v) for v in expected.values())


def test_usage_events_and_filters(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory()
    key = gw.create_key("led-events")
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
    ids = []
    with gw.client(key) as c:
        for body in (CHAT, FREE, CHAT):
            ids.append(c.post("/v1/chat/completions", json=body).headers["x-request-id"])
        r = c.post("/v1/usage/events", json={"org_id": "", "since": before, "limit": 200})
        assert r.status_code == 200
        events = r.json()["events"]
        assert [e["request_id"] for e in events] == ids  # oldest first from `since`
        assert all(isinstance(e["cost_usd"], str) for e in events)
        page = c.post("/v1/usage/events", json={"since": before, "limit": 2}).json()
        assert len(page["events"]) == 2 and page["has_more"] is True
        later = c.post("/v1/usage/events", json={"since": time.time() + 60}).json()
        assert later["events"] == []
        free_rows = c.get("/v1/usage", params={"model": "fake/free-echo"}).json()["data"]
        assert [e["request_id"] for e in free_rows] == [ids[1]]
        assert c.get("/v1/usage", params={"request_id": ids[0]}).json()["total_count"] == 1
        assert c.get("/v1/usage", params={"since": "yesterday"}).status_code == 422
        assert c.get("/v1/usage", params={"limit": "0"}).status_code == 422
        newest = c.get("/v1/usage", params={"limit": "1"}).json()
        assert [e["request_id"] for e in newest["data"]] == [ids[2]] and newest["has_more"] is True


def test_spend_limit_402_and_recovery_after_credit(gateway_factory: Callable[..., Gateway]) -> None:
    from meshapi import MeshAPI, MeshAPIError

    gw = gateway_factory(admin_token=ADMIN, balance_refresh_seconds=0.3)
    key = gw.create_key("led-poor")
    credit(gw, "led-poor", "0.00003")  # a few requests' worth (8e-6 each)
    statuses = []
    with gw.client(key) as c:
        for _ in range(10):
            statuses.append(c.post("/v1/chat/completions", json=CHAT).status_code)
            if statuses[-1] == 402:
                break
        assert statuses[-1] == 402 and 3 <= statuses.count(200) <= 4  # overspend: at most the request in flight
        r = c.post("/v1/chat/completions", json=CHAT)
        assert r.status_code == 402 and r.json()["error"]["code"] == "spend_limit_exceeded"
        stream = c.post("/v1/chat/completions", json={**CHAT, "stream": True})
        assert stream.status_code == 402  # refused before any SSE byte
        assert c.post("/v1/chat/completions", json=FREE).status_code == 200  # free models run at any balance
        balance = c.get("/v1/balance").json()
        assert Decimal(balance["available_usd"]) <= 0 and balance["limited"] is True
    client = MeshAPI(base_url=gw.url, token=key, max_retries=0)
    with pytest.raises(MeshAPIError) as info:
        client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status == 402 and info.value.error_code == "spend_limit_exceeded"
    # An admin credit through the API applies at once ...
    credit(gw, "led-poor", "1")
    with gw.client(key) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
    # ... and a debit through the CLI (another process) is seen within the refresh interval.
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshapi_gateway",
            "accounts",
            "credit",
            "--owner",
            "led-poor",
            "--usd",
            "-2",
            "--database-url",
            gw.settings.resolved_database_url(),
            "--json",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert Decimal(json.loads(out.stdout)["balance_usd"]) < 0
    deadline = time.monotonic() + 10
    with gw.client(key) as c:
        while c.post("/v1/chat/completions", json=CHAT).status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 402


def test_balance_moves_by_the_ledger_sum(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(admin_token=ADMIN)
    key = gw.create_key("led-bal")
    start = credit(gw, "led-bal", "2.5")
    assert start["available_usd"] == "2.5" and start["credited_usd"] == "2.5"
    costs = []
    with gw.client(key) as c:
        for i in range(12):
            body = {**CHAT, "messages": [{"role": "user", "content": "word " * (i + 1)}], "stream": i % 3 == 0}
            r = c.post("/v1/chat/completions", json=body)
            costs.append(Decimal(_stream_cost(r.text)[0] if i % 3 == 0 else r.json()["cost"]))
        balance = c.get("/v1/balance").json()
    assert Decimal(balance["available_usd"]) == Decimal("2.5") - sum(costs)
    assert Decimal(balance["spent_usd"]) == sum(costs)
    assert isinstance(balance["available_usd"], str)
    assert ledger_sum(gw, "led-bal") == (12, sum(costs))
    assert stored_balance(gw, "led-bal") == Decimal("2.5") - sum(costs)


def test_enforced_billing_needs_an_account(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(admin_token=ADMIN, billing_enforce=True)
    key = gw.create_key("led-new")
    with gw.client(key) as c:
        r = c.post("/v1/chat/completions", json=CHAT)
        assert r.status_code == 402 and r.json()["error"]["code"] == "spend_limit_exceeded"
        assert c.post("/v1/chat/completions", json=FREE).status_code == 200
        assert c.get("/v1/balance").json()["available_usd"] == "0"
    credit(gw, "led-new", "0.000008")  # exactly one request
    with gw.client(key) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 402


def test_enforced_billing_with_a_starting_credit(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(billing_enforce=True, default_credit_usd="0.00002")
    key = gw.create_key("led-starter")
    with gw.client(key) as c:
        assert c.get("/v1/balance").json()["available_usd"] == "0.00002"
        codes = [c.post("/v1/chat/completions", json=CHAT).status_code for _ in range(4)]
        c.get("/v1/balance")  # reading usage writes this process's pending rows first
    assert codes[:2] == [200, 200] and codes[-1] == 402
    assert stored_balance(gw, "led-starter") == Decimal("0.00002") - ledger_sum(gw, "led-starter")[1]


def test_unaccounted_owner_is_unlimited_by_default(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
        balance = c.get("/v1/balance").json()
    assert balance["limited"] is False and balance["available_usd"] == "0"
    assert Decimal(balance["spent_usd"]) > 0


def test_stream_left_early_is_still_billed(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory()
    key = gw.create_key("led-leaver")
    long_text = "word " * 400
    with gw.client(key) as c:
        with c.stream(
            "POST",
            "/v1/chat/completions",
            json={**CHAT, "stream": True, "messages": [{"role": "user", "content": long_text}]},
        ) as r:
            request_id = r.headers["x-request-id"]
            next(r.iter_bytes())  # first bytes only, then hang up
        deadline = time.monotonic() + 10
        rows: list[Any] = []
        while not rows:
            assert time.monotonic() < deadline
            rows = c.get("/v1/usage", params={"request_id": request_id}).json()["data"]
            time.sleep(0.05)
    assert rows[0]["prompt_tokens"] > 0 and Decimal(rows[0]["cost_usd"]) > 0


def test_admin_api_needs_the_admin_token(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(admin_token=ADMIN)
    key = gw.create_key("led-admin")
    for token, status in ((key, 403), (gw.token("led-admin"), 403), (None, 401)):
        with gw.client(token) as c:
            assert c.post("/v1/admin/credits", json={"owner": "led-admin", "usd": "5"}).status_code == status
            assert c.get("/v1/admin/accounts/led-admin").status_code == status
    with gw.client(ADMIN) as c:
        for bad in (
            {"owner": "x", "usd": "ten"},
            {"owner": "x", "usd": True},
            {"usd": "1"},
            {"owner": "x", "usd": "0"},
        ):
            r = c.post("/v1/admin/credits", json=bad)
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
        assert c.post("/v1/admin/credits", json={"owner": "led-admin", "usd": 1.1}).json()["available_usd"] == "1.1"
        assert c.get("/v1/admin/accounts/led-admin").json()["credited_usd"] == "1.1"


def test_replicas_share_balances_through_redis(
    gateway_factory: Callable[..., Gateway], redis_url: str, tmp_path: Any
) -> None:
    """With Redis, one replica's spending counts on the other before any ledger write or balance refresh."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    slow = {"ledger_flush_seconds": 60, "balance_refresh_seconds": 60, "balance_sync_seconds": 0.05}
    one = gateway_factory(database_url=database_url, redis_url=redis_url, admin_token=ADMIN, **slow)
    credit(one, "led-replicas", "0.000024")  # three requests' worth (8e-6 each)
    two = gateway_factory(database_url=database_url, redis_url=redis_url, admin_token=ADMIN, **slow)
    key = one.create_key("led-replicas")
    codes = []
    for gw in (one, two) * 3:
        with gw.client(key) as c:
            codes.append(c.post("/v1/chat/completions", json=CHAT).status_code)
        time.sleep(0.4)  # a few sync intervals
    assert codes[:3] == [200, 200, 200] and codes[3:] == [402, 402, 402]
    # Nothing was written yet: the refusals came from the shared pending spend alone.
    assert ledger_sum(one, "led-replicas") == (0, Decimal(0))
    with two.client(key) as c:
        assert Decimal(c.get("/v1/balance").json()["available_usd"]) <= 0


def test_without_redis_replicas_see_each_other_only_after_writes(
    gateway_factory: Callable[..., Gateway], tmp_path: Any
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    slow = {"ledger_flush_seconds": 60, "balance_refresh_seconds": 60}
    one = gateway_factory(database_url=database_url, admin_token=ADMIN, **slow)
    credit(one, "led-apart", "0.000008")
    two = gateway_factory(database_url=database_url, admin_token=ADMIN, **slow)
    key = one.create_key("led-apart")
    with one.client(key) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 402
    with two.client(key) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200  # the documented window
