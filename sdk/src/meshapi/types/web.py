"""Web search types: ``POST /v1/web/search``."""

from __future__ import annotations

from typing import List, Literal, Optional

from .._models import Model, RequestParams

__all__ = ["WebSearchParams", "WebSearchResponse", "WebSearchResult"]


class WebSearchParams(RequestParams):
    query: str
    max_results: Optional[int] = None
    search_depth: Optional[Literal["basic", "advanced"]] = None
    include_domains: Optional[List[str]] = None
    exclude_domains: Optional[List[str]] = None
    include_answer: Optional[bool] = None
    provider: Optional[str] = None
    model: Optional[str] = None


class WebSearchResult(Model):
    title: str
    url: str
    content: str = ""
    score: Optional[float] = None
    published_date: Optional[str] = None


class WebSearchResponse(Model):
    query: str
    answer: Optional[str] = None
    results: List[WebSearchResult] = []
    provider: str = ""
    request_id: str = ""
