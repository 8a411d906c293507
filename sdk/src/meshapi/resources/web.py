"""``client.web``: web search through the gateway's configured search provider."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Mapping, Optional, Union

from .._base_client import APIRequest, parse_json
from .._types import NOT_GIVEN, NotGiven
from ..types.web import WebSearchParams, WebSearchResponse
from ._base import AsyncAPIResource, SyncAPIResource
from ._hints import suggest_keywords
from ._shared import Timeout, params_request

__all__ = ["AsyncWeb", "Web"]

_parse = parse_json(WebSearchResponse)

SearchParams = Union[WebSearchParams, Mapping[str, Any], None]


def _search(arguments: Dict[str, Any]) -> APIRequest[WebSearchResponse]:
    params = arguments["params"]
    return params_request("POST", "/v1/web/search", _parse, WebSearchParams, params, arguments, "search")


class Web(SyncAPIResource):
    @suggest_keywords
    def search(
        self,
        params: SearchParams = None,
        /,
        *,
        query: Union[str, NotGiven] = NOT_GIVEN,
        max_results: Union[int, NotGiven, None] = NOT_GIVEN,
        search_depth: Union[Literal["basic", "advanced"], NotGiven, None] = NOT_GIVEN,
        include_domains: Union[List[str], NotGiven, None] = NOT_GIVEN,
        exclude_domains: Union[List[str], NotGiven, None] = NOT_GIVEN,
        include_answer: Union[bool, NotGiven, None] = NOT_GIVEN,
        provider: Union[str, NotGiven, None] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> WebSearchResponse:
        """Search results (``title``, ``url``, ``content``, ``score``) from the gateway's search provider.

        A gateway without one answers 400 ``not_configured`` (raised as ``BadRequestError``).
        """
        return self._t.request(_search(locals()))


class AsyncWeb(AsyncAPIResource):
    @suggest_keywords
    async def search(
        self,
        params: SearchParams = None,
        /,
        *,
        query: Union[str, NotGiven] = NOT_GIVEN,
        max_results: Union[int, NotGiven, None] = NOT_GIVEN,
        search_depth: Union[Literal["basic", "advanced"], NotGiven, None] = NOT_GIVEN,
        include_domains: Union[List[str], NotGiven, None] = NOT_GIVEN,
        exclude_domains: Union[List[str], NotGiven, None] = NOT_GIVEN,
        include_answer: Union[bool, NotGiven, None] = NOT_GIVEN,
        provider: Union[str, NotGiven, None] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> WebSearchResponse:
        """Search results from the gateway's search provider (see :meth:`Web.search`)."""
        return await self._t.request(_search(locals()))
