"""The search hook: what a search adapter receives and answers, and which adapter the settings name.

Adapters answer the 0.1.11 SDK's ``WebSearchResponse`` fields (``query``, ``answer``,
``results[{title, url, content, score, published_date}]``, ``provider``), so the route
only adds the request id. Without a configured provider there is no adapter, and the
route answers 400 ``not_configured``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from meshapi_gateway.config import WebSearchSettings
    from meshapi_gateway.http_client import HTTPClient


@dataclass(frozen=True, slots=True)
class SearchQuery:
    query: str
    max_results: int = 5
    search_depth: str = "basic"
    include_domains: list[str] = field(default_factory=list)
    exclude_domains: list[str] = field(default_factory=list)
    include_answer: bool = False


class SearchProvider(Protocol):
    name: str

    async def search(self, query: SearchQuery, request_id: str) -> dict[str, Any]:
        """``{query, answer, results, provider}``; failures raise ``GatewayError``."""
        ...


def provider_from_settings(settings: "WebSearchSettings", http: "HTTPClient") -> SearchProvider | None:
    """The configured adapter, or None when no provider (or no key for it) is configured."""
    if settings.provider == "tavily":
        from meshapi_gateway.websearch.tavily import TAVILY_URL, TavilySearch

        key = settings.api_key or os.environ.get(settings.api_key_env or "TAVILY_API_KEY", "")
        if not key:
            return None
        return TavilySearch(http, settings.base_url or TAVILY_URL, key, settings.timeout)
    return None
