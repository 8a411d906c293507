"""``client.web``: web search through the gateway's configured search provider."""

from __future__ import annotations

from typing import Any, Dict, Literal, Mapping, Optional, Sequence, Union

from .._base_client import APIRequest, parse_json
from ..types.web import WebSearchParams, WebSearchResponse
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import params_request

__all__ = ["AsyncWeb", "Web"]

_parse = parse_json(WebSearchResponse)

SearchParams = Union[WebSearchParams, Mapping[str, Any], None]


def _search(params: SearchParams, fields: Dict[str, Any], options: Dict[str, Any]) -> APIRequest[WebSearchResponse]:
    kwargs = {k: v for k, v in fields.items() if v is not None}
    kwargs.update(options)
    return params_request("POST", "/v1/web/search", _parse, WebSearchParams, params, kwargs, "search")


class Web(SyncAPIResource):
    def search(
        self,
        params: SearchParams = None,
        /,
        *,
        query: Optional[str] = None,
        max_results: Optional[int] = None,
        search_depth: Optional[Literal["basic", "advanced"]] = None,
        include_domains: Optional[Sequence[str]] = None,
        exclude_domains: Optional[Sequence[str]] = None,
        include_answer: Optional[bool] = None,
        **options: Any,
    ) -> WebSearchResponse:
        """Search results (``title``, ``url``, ``content``, ``score``) from the gateway's search provider.

        A gateway without one answers 400 ``not_configured`` (raised as ``BadRequestError``).
        """
        fields = {"query": query, "max_results": max_results, "search_depth": search_depth,
                  "include_domains": include_domains, "exclude_domains": exclude_domains,
                  "include_answer": include_answer}
        return self._t.request(_search(params, fields, options))


class AsyncWeb(AsyncAPIResource):
    async def search(
        self,
        params: SearchParams = None,
        /,
        *,
        query: Optional[str] = None,
        max_results: Optional[int] = None,
        search_depth: Optional[Literal["basic", "advanced"]] = None,
        include_domains: Optional[Sequence[str]] = None,
        exclude_domains: Optional[Sequence[str]] = None,
        include_answer: Optional[bool] = None,
        **options: Any,
    ) -> WebSearchResponse:
        fields = {"query": query, "max_results": max_results, "search_depth": search_depth,
                  "include_domains": include_domains, "exclude_domains": exclude_domains,
                  "include_answer": include_answer}
        return await self._t.request(_search(params, fields, options))
