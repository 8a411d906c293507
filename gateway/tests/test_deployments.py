"""``GET /v1/deployments``: each deployment's breaker as the router sees it, without upstream secrets."""

from __future__ import annotations

from typing import Any

import httpx


def test_a_failing_deployment_shows_its_breaker_open(gateway_factory: Any) -> None:
    gw = gateway_factory(breaker_failure_threshold=1, retry_max_rounds=0, breaker_cooldown_seconds=300)
    key = gw.create_key("dep-owner")
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
        before = {d["id"]: d for d in client.get("/v1/deployments").json()["data"]}
        assert before["fake/fail-500#0"]["breaker"] == "closed" and before["fake/echo#0"]["breaker"] == "closed"
        body = {"model": "fake/fail-500", "messages": [{"role": "user", "content": "x"}]}
        assert client.post("/v1/chat/completions", json=body).status_code >= 500
        after = client.get("/v1/deployments")
    assert after.status_code == 200
    rows = {d["id"]: d for d in after.json()["data"]}
    assert rows["fake/fail-500#0"]["breaker"] == "open" and rows["fake/fail-500#0"]["open_until"] > 0
    assert rows["fake/echo#0"]["breaker"] == "closed"
    assert rows["fake/echo#0"]["model"] == "fake/echo" and rows["fake/echo#0"]["provider"] == "openai_compat"
    assert "sk-fake" not in after.text and "base_url" not in after.text
    assert httpx.get(gw.url + "/v1/deployments").status_code == 401
