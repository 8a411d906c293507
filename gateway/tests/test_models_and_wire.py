"""``/v1/models`` shapes, prices as strings, health, metrics and the OpenAPI document."""

from __future__ import annotations

from decimal import Decimal

from gwtest.harness import Gateway


def test_models_bare_array_for_meshapi_sdks(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.get("/v1/models", headers={"x-meshapi-sdk": "python/0.1.0"})
    items = r.json()
    assert isinstance(items, list)
    echo = next(m for m in items if m["id"] == "fake/echo")
    assert echo["is_free"] is False and isinstance(echo["name"], str)
    pricing = echo["pricing"]
    assert all(v is None or isinstance(v, str) for v in pricing.values())
    assert Decimal(pricing["prompt_usd_per_1k"]) == Decimal("0.001")
    assert Decimal(pricing["completion_usd_per_1m"]) == Decimal("2")


def test_models_envelope_for_openai_clients(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        body = c.get("/v1/models").json()
    assert body["object"] == "list"
    first = body["data"][0]
    assert {"id", "object", "created", "owned_by"} <= set(first)


def test_free_paid_filters_and_detail(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        free = c.get("/v1/models/free").json()
        paid = c.get("/v1/models/paid").json()
        assert "fake/free-echo" in {m["id"] for m in free} and "fake/echo" not in {m["id"] for m in free}
        assert all(m["is_free"] and m["pricing"]["prompt_usd_per_1k"] == "0" for m in free)
        assert "fake/free-echo" not in {m["id"] for m in paid} and "fake/echo" in {m["id"] for m in paid}
        q = c.get("/v1/models?free=true", headers={"x-meshapi-sdk": "python/0.1.0"}).json()
        assert [m["id"] for m in q] == [m["id"] for m in free]
        detail = c.get("/v1/models/fake/echo")
        assert detail.status_code == 200 and detail.json()["id"] == "fake/echo"
        missing = c.get("/v1/models/fake/none")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_health_ready_metrics_openapi(gateway: Gateway, key: str) -> None:
    with gateway.client() as c:
        assert c.get("/health").json() == {"status": "ok"}
        ready = c.get("/ready")
        assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
        with gateway.client(key) as k:
            k.post("/v1/chat/completions", json={"model": "fake/echo", "messages": [{"role": "user", "content": "m"}]})
        text = c.get("/metrics").text
        assert 'meshapi_tokens_total{kind="prompt",model="fake/echo",provider="openai_compat"}' in text
        assert "meshapi_request_seconds_bucket" in text
        doc = c.get("/openapi.json").json()
        assert doc["openapi"].startswith("3.")
        assert "/v1/chat/completions" in doc["paths"]
        props = doc["components"]["schemas"]["ChatRequest"]["properties"]
        assert props["temperature"]["anyOf"][0]["maximum"] == 2
