"""The search hook: what a search adapter receives and answers.

Adapters answer the 0.1.11 SDK's ``WebSearchResponse`` fields (``query``, ``answer``,
``results[{title, url, content, score, published_date}]``, ``provider``), so the route
only adds the request id. ``websearch.choose`` picks the adapter the settings name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
