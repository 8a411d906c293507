"""``POST /v1/web/search``: the configured search API's results in the 0.1.11 SDK's shape.

With no provider configured the answer is 400 ``not_configured`` (never a 5xx), which
meshapi-code reports as "search unavailable" and the model answers without searching.
"""

from __future__ import annotations

import time
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, rid, validate
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.calls import Call
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.websearch import SearchProvider, SearchQuery


class WebSearchRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    query: str = Field(min_length=1, max_length=2000)
    model: Optional[str] = Field(None, max_length=256)
    # "native" names the hosted service's own engine; here the configured provider answers either way.
    provider: Optional[Literal["native", "tavily"]] = None
    max_results: int = Field(5, ge=1, le=20)
    search_depth: Literal["basic", "advanced"] = "basic"
    include_domains: Optional[list[str]] = Field(None, max_length=300)
    exclude_domains: Optional[list[str]] = Field(None, max_length=300)
    include_answer: StrictBool = False


EXTRA_PATHS["/v1/web/search"] = {
    "post": _op("Search the web through the configured provider", WebSearchRequest.model_json_schema())
}


def _provider(request: Request) -> SearchProvider | None:
    return gw(request).web_search  # built at start-up from the settings (websearch/choose.py)


async def web_search(request: Request) -> Response:
    state = gw(request)
    body = await read_json_object(request)
    principal = await authenticate(state, request.headers.get("authorization"), "data")
    # A call like any other data-plane request: the key's rate limits, and a report (the request log's
    # record names the provider as the model, with its attempt). Nothing is billed.
    call = Call(state, "web_search", principal, rid(request))
    limit_headers = await call.limit()
    params = validate(WebSearchRequest, body)
    assert isinstance(params, WebSearchRequest)
    provider = _provider(request)
    if provider is None:
        raise GatewayError(
            "not_configured", "Web search is not configured on this gateway (see [web_search]).", status=400
        )
    query = SearchQuery(
        query=params.query,
        max_results=params.max_results,
        search_depth=params.search_depth,
        include_domains=params.include_domains or [],
        exclude_domains=params.exclude_domains or [],
        include_answer=params.include_answer,
    )
    call.requested = provider.name
    started = time.perf_counter()
    try:
        answer = await provider.search(query, call.request_id)
    except GatewayError as exc:
        call.finish_tool(provider.name, time.perf_counter() - started, exc)
        raise
    call.finish_tool(provider.name, time.perf_counter() - started)
    return json_response({**answer, "request_id": call.request_id}, headers=limit_headers)
