"""0.1.11's additions: router.select, web.search (without and with a search provider), models.get/search.

``MESHAPI_SEARCH_URL``/``MESHAPI_SEARCH_KEY`` name a second gateway that has a search provider.
"""

from __future__ import annotations

import os
from typing import Any

from compat_common import client, report, step

import meshapi

SEARCH_URL = os.environ.get("MESHAPI_SEARCH_URL", "")
SEARCH_KEY = os.environ.get("MESHAPI_SEARCH_KEY", "")


def select() -> dict[str, Any]:
    params = meshapi.RouterSelectParams(messages=[{"role": "user", "content": "What is 2 + 2?"}])
    picked = client().router.select(params)
    return {"model": picked.model, "fallback_used": picked.auto_router.fallback_used}


def search_unconfigured() -> Any:
    return client().web.search(meshapi.WebSearchParams(query="weather in Paris")).model_dump()


def search_configured() -> dict[str, Any]:
    c = meshapi.MeshAPI(base_url=SEARCH_URL, token=SEARCH_KEY, max_retries=0)
    found = c.web.search(meshapi.WebSearchParams(query="weather in Paris", max_results=2))
    return {
        "provider": found.provider,
        "urls": [r.url for r in found.results],
        "titles": [r.title for r in found.results],
        "request_id": bool(found.request_id),
    }


def models() -> dict[str, Any]:
    c = client()
    one = c.models.get("openai/gpt-4o-mini")
    page = c.models.search(meshapi.ModelSearchParams(q="openai", sort="id", limit=2))
    return {
        "get": one.id,
        "brand": one.brand,
        "items": [m.id for m in page.items],
        "total": page.total,
        "limit": page.limit,
        "brands": page.brands,
    }


step("router_select", select)
step("web_search_unconfigured", search_unconfigured)
step("web_search", search_configured)
step("models", models)
step("models_get_missing", lambda: client().models.get("openai/no-such-model").model_dump())
report()
