"""``client.responses``: the Responses API for reasoning models."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Union

from .._base_client import APIRequest, parse_json
from .._streaming import AsyncStream, ResponsesStreamProcessor, Stream
from ..types.responses import ResponsesParams, ResponsesResponse, ResponsesStreamEvent
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import params_request

__all__ = ["AsyncResponses", "Responses"]

_PATH = "/v1/responses"
_parse = parse_json(ResponsesResponse)

Params = Union[ResponsesParams, Mapping[str, Any], None]


def _request(params: Params, kwargs: Dict[str, Any], stream: bool, where: str) -> APIRequest[ResponsesResponse]:
    return params_request("POST", _PATH, _parse, ResponsesParams, params, kwargs, where, stream=stream)


class Responses(SyncAPIResource):
    def create(self, params: Params = None, /, **kwargs: Any) -> ResponsesResponse:
        """POST /v1/responses with ``stream: false``."""
        return self._t.request(_request(params, kwargs, False, "create"))

    def stream(self, params: Params = None, /, **kwargs: Any) -> Stream[ResponsesStreamEvent]:
        """POST /v1/responses with ``stream: true``; iterate the events."""
        processor = ResponsesStreamProcessor()
        response = self._t.open_stream(_request(params, kwargs, True, "stream"), processor)
        return Stream(response, processor)


class AsyncResponses(AsyncAPIResource):
    async def create(self, params: Params = None, /, **kwargs: Any) -> ResponsesResponse:
        return await self._t.request(_request(params, kwargs, False, "create"))

    def stream(self, params: Params = None, /, **kwargs: Any) -> AsyncStream[ResponsesStreamEvent]:
        processor = ResponsesStreamProcessor()
        opener = self._t.stream_opener(_request(params, kwargs, True, "stream"), processor)
        return AsyncStream(opener, processor)
