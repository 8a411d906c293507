"""``POST /v1/web/search``: not configured (400), then a Tavily adapter against a local Tavily-format server."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import httpx
import pytest

from gwtest.harness import Gateway
from gwtest.server_thread import ServerThread
from gwtest.tavily_upstream import KEY, make_tavily_app


@pytest.fixture(scope="module")
def tavily() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    requests: list[dict[str, Any]] = []
    server = ServerThread(make_tavily_app(requests)).start()
    yield server.url, requests
    server.stop()


def _search(gw: Gateway, body: dict[str, Any]) -> httpx.Response:
    with gw.client(gw.create_key("searcher")) as c:
        return c.post("/v1/web/search", json=body)


def test_without_a_provider_the_answer_is_400_not_configured(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post("/v1/web/search", json={"query": "weather in Paris"})
        bad = c.post("/v1/web/search", json={"query": ""})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "not_configured" and r.json()["request_id"]
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == ["body", "query"]
    with gateway.client() as anonymous:
        assert anonymous.post("/v1/web/search", json={"query": "x"}).status_code == 401


def test_tavily_results_in_the_sdk_shape(
    gateway_factory: Callable[..., Gateway], tavily: tuple[str, list[dict[str, Any]]]
) -> None:
    url, requests = tavily
    gw = gateway_factory(web_search={"provider": "tavily", "base_url": url, "api_key": KEY})
    r = _search(
        gw,
        {
            "query": "meshapi gateway",
            "max_results": 3,
            "include_answer": True,
            "include_domains": ["example.org"],
            "search_depth": "advanced",
        },
    )
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["query"] == "meshapi gateway" and data["provider"] == "tavily"
    assert data["answer"] == "An answer about meshapi gateway."
    assert data["request_id"] == r.headers["x-request-id"]
    assert len(data["results"]) == 3
    assert data["results"][0] == {
        "title": "Result 0 for meshapi gateway",
        "url": "https://example.org/0",
        "content": "snippet 0",
        "score": 0.9,
        "published_date": "2026-11-30",
    }
    assert data["results"][1]["published_date"] is None
    sent = requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert sent["body"] == {
        "query": "meshapi gateway",
        "max_results": 3,
        "search_depth": "advanced",
        "include_answer": True,
        "include_domains": ["example.org"],
    }


def test_tavily_key_from_the_environment_variable(
    gateway_factory: Callable[..., Gateway], tavily: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = tavily
    monkeypatch.setenv("SEARCH_KEY_FOR_TEST", KEY)
    gw = gateway_factory(web_search={"provider": "tavily", "base_url": url, "api_key_env": "SEARCH_KEY_FOR_TEST"})
    assert _search(gw, {"query": "x"}).status_code == 200
    unset = gateway_factory(web_search={"provider": "tavily", "base_url": url, "api_key_env": "UNSET_KEY_FOR_TEST"})
    assert _search(unset, {"query": "x"}).json()["error"]["code"] == "not_configured"


@pytest.mark.parametrize(
    "query, status, code",
    [
        ("fail-429", 429, "rate_limit_exceeded"),
        ("fail-432", 429, "rate_limit_exceeded"),
        ("fail-400", 400, "invalid_request"),
        ("fail-500", 502, "upstream_error"),
    ],
)
def test_provider_failures_become_the_envelope(
    gateway_factory: Callable[..., Gateway],
    tavily: tuple[str, list[dict[str, Any]]],
    query: str,
    status: int,
    code: str,
) -> None:
    url, _ = tavily
    gw = gateway_factory(web_search={"provider": "tavily", "base_url": url, "api_key": KEY})
    r = _search(gw, {"query": query})
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert "/srv/" not in r.text and "scripted" not in r.text  # the provider's internals stay out
    if query == "fail-429":
        assert r.headers["retry-after"] == "7"


def test_a_wrong_key_or_a_dead_provider_is_a_502_without_the_key(
    gateway_factory: Callable[..., Gateway], tavily: tuple[str, list[dict[str, Any]]]
) -> None:
    url, _ = tavily
    wrong = gateway_factory(web_search={"provider": "tavily", "base_url": url, "api_key": "tvly-wrong-secret"})
    r = _search(wrong, {"query": "x"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error"
    assert "tvly-wrong-secret" not in r.text
    dead = gateway_factory(web_search={"provider": "tavily", "base_url": "http://127.0.0.1:9", "api_key": KEY})
    r = _search(dead, {"query": "x"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error"
