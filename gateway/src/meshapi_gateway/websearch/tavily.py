"""Tavily's search API (``POST /search``, bearer key) as a search adapter.

Tavily answers ``{query, answer, results: [{title, url, content, score, published_date?}], …}``.
Failures become our envelope's codes by status; the gateway's key and Tavily's own
error text never reach the client.
"""

from __future__ import annotations

from typing import Any

import orjson

from meshapi_gateway.errors import GatewayError
from meshapi_gateway.http_client import HTTPClient, TransportError
from meshapi_gateway.websearch.hook import SearchQuery

TAVILY_URL = "https://api.tavily.com"
# Tavily's own limit statuses: 432 (plan's credits) and 433 (pay-as-you-go limit).
_LIMITED = {429, 432, 433}


def _failure(status: int, retry_after: str | None) -> GatewayError:
    # The provider's own words are not passed on: they may name its internals.
    if status in _LIMITED:
        wait = int(retry_after) if retry_after and retry_after.isdigit() else 1
        return GatewayError(
            "rate_limit_exceeded",
            "The search provider's rate or usage limit was reached.",
            retry_after_seconds=wait,
            provider_error={"provider": "tavily", "status": status},
        )
    if status in (401, 403):
        return GatewayError(
            "upstream_error",
            "The search provider refused the gateway's credentials.",
            status=502,
            provider_error={"provider": "tavily", "status": status},
        )
    if 400 <= status < 500:
        return GatewayError(
            "invalid_request",
            "The search provider refused the query (check its length, domains and depth).",
            provider_error={"provider": "tavily", "status": status},
        )
    return GatewayError(
        "upstream_error",
        "The search provider failed to answer.",
        status=502,
        provider_error={"provider": "tavily", "status": status},
    )


def _result(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict) or not isinstance(item.get("url"), str):
        return None
    score = item.get("score")
    published = item.get("published_date")
    return {
        "title": str(item.get("title") or item["url"]),
        "url": item["url"],
        "content": str(item.get("content") or ""),
        "score": float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
        "published_date": published if isinstance(published, str) else None,
    }


class TavilySearch:
    name = "tavily"

    def __init__(self, http: HTTPClient, base_url: str, api_key: str, timeout: float) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/search"
        self._headers = {"content-type": "application/json", "authorization": f"Bearer {api_key}"}
        self._timeout = timeout

    def _payload(self, query: SearchQuery) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "query": query.query,
            "max_results": query.max_results,
            "search_depth": query.search_depth,
            "include_answer": query.include_answer,
        }
        if query.include_domains:
            payload["include_domains"] = query.include_domains
        if query.exclude_domains:
            payload["exclude_domains"] = query.exclude_domains
        return payload

    async def search(self, query: SearchQuery, request_id: str) -> dict[str, Any]:
        try:
            resp = await self._http.post(
                self._url,
                orjson.dumps(self._payload(query)),
                {**self._headers, "x-request-id": request_id},
                connect_timeout=self._timeout,
                read_timeout=self._timeout,
                total_timeout=self._timeout,
            )
            raw = await resp.read()
        except TimeoutError:
            raise GatewayError("gateway_timeout", "The search provider did not answer in time.", status=504) from None
        except TransportError:
            raise GatewayError("upstream_error", "The search provider could not be reached.", status=502) from None
        if resp.status >= 400:
            raise _failure(resp.status, resp.headers.get("retry-after"))
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise GatewayError("upstream_error", "The search provider's answer was not understood.", status=502)
        results = [r for r in (_result(item) for item in data.get("results") or []) if r is not None]
        answer = data.get("answer")
        return {
            "query": query.query,
            "answer": answer if isinstance(answer, str) else None,
            "results": results[: query.max_results],
            "provider": self.name,
        }
