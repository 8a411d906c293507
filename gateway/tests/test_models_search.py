"""``GET /v1/models/{id}`` and ``GET /v1/models/search`` over a small mixed catalog, by raw HTTP."""

from __future__ import annotations

from typing import Any, Callable

import httpx
import pytest

from gwtest.harness import FakeUpstream, Gateway


def _catalog(base_url: str) -> list[dict[str, Any]]:
    common = {
        "provider": "openai_compat",
        "base_url": base_url,
        "api_key": "sk-fake",
        "upstream_model": "echo",
        "prompt_usd_per_1m": "1",
        "completion_usd_per_1m": "2",
    }
    return [
        {"id": "acme/writer", "name": "Acme Writer", "description": "Long prose.", "context_length": 32000, **common},
        {
            "id": "acme/vision",
            "name": "Acme Vision",
            "input_modalities": ["text", "image"],
            "context_length": 8000,
            **common,
        },
        {
            "id": "zeta/tiny",
            "name": "Zeta Tiny",
            "description": "a small writer",
            "is_free": True,
            "context_length": 2000,
            **common,
        },
        {"id": "zeta/embed", "name": "Zeta Embed", "model_type": "embedding", "context_length": 512, **common},
    ]


@pytest.fixture
def client(gateway_factory: Callable[..., Gateway], fake_openai: FakeUpstream) -> Any:
    gw = gateway_factory(models=_catalog(fake_openai.url), local_embeddings=False)
    with gw.client(gw.create_key("searcher")) as c:
        yield c


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["items"]]


def test_get_one_model_keeps_the_slash_and_404s_in_the_envelope(client: httpx.Client) -> None:
    r = client.get("/v1/models/acme/vision")
    assert r.status_code == 200
    assert r.json()["id"] == "acme/vision" and r.json()["brand"] == "acme"
    assert r.json()["input_modalities"] == ["text", "image"] and r.json()["supports_tools"] is True
    missing = client.get("/v1/models/acme/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    assert missing.json()["request_id"]


def test_search_text_filters_sort_and_pages(client: httpx.Client) -> None:
    page = client.get("/v1/models/search")
    assert page.json() == {**page.json(), "total": 4, "limit": 50, "offset": 0, "brands": ["acme", "zeta"]}
    # q matches id, name and description, case-insensitively.
    assert _ids(client.get("/v1/models/search", params={"q": "WRITER"})) == ["acme/writer", "zeta/tiny"]
    assert _ids(client.get("/v1/models/search", params={"free": "true"})) == ["zeta/tiny"]
    assert _ids(client.get("/v1/models/search", params={"input_modality": ["image"]})) == ["acme/vision"]
    assert _ids(client.get("/v1/models/search", params={"brand": ["zeta"], "sort": "context_length"})) == [
        "zeta/embed",
        "zeta/tiny",
    ]
    assert _ids(client.get("/v1/models/search", params={"sort": "name", "order": "desc", "limit": 2})) == [
        "zeta/tiny",
        "zeta/embed",
    ]
    second = client.get("/v1/models/search", params={"sort": "id", "limit": 3, "offset": 3})
    assert _ids(second) == ["zeta/tiny"] and second.json()["total"] == 4 and second.json()["offset"] == 3
    assert _ids(client.get("/v1/models/search", params={"discounted": "true"})) == []
    brands = client.get("/v1/models/search", params={"q": "acme"}).json()["brands"]
    assert brands == ["acme"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"sort": "price"}, "sort"),
        ({"order": "up"}, "order"),
        ({"free": "yes"}, "free"),
    ],
)
def test_search_refuses_bad_parameters_naming_them(client: httpx.Client, params: dict[str, str], field: str) -> None:
    r = client.get("/v1/models/search", params=params)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["query", field]
