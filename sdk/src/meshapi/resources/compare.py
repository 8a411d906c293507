"""``client.compare``: one prompt, several models, side by side."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Union

from .._base_client import APIRequest, parse_json
from .._streaming import AsyncStream, CompareStreamProcessor, Stream
from ..types.compare import CompareParams, CompareResponse, CompareStreamEvent
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import params_request

__all__ = ["AsyncCompare", "Compare"]

_PATH = "/v1/chat/compare"
_parse = parse_json(CompareResponse)

Params = Union[CompareParams, Mapping[str, Any], None]


def _request(params: Params, kwargs: Dict[str, Any], stream: bool, where: str) -> APIRequest[CompareResponse]:
    return params_request("POST", _PATH, _parse, CompareParams, params, kwargs, where, stream=stream)


class Compare(SyncAPIResource):
    def create(self, params: Params = None, /, **kwargs: Any) -> CompareResponse:
        """POST /v1/chat/compare (non-streaming, optional judge via ``comparison_model``)."""
        return self._t.request(_request(params, kwargs, False, "create"))

    def stream(self, params: Params = None, /, **kwargs: Any) -> Stream[CompareStreamEvent]:
        """Stream compare events; ``event.event`` is the name, ``event.data`` the payload."""
        processor = CompareStreamProcessor()
        response = self._t.open_stream(_request(params, kwargs, True, "stream"), processor)
        return Stream(response, processor)


class AsyncCompare(AsyncAPIResource):
    async def create(self, params: Params = None, /, **kwargs: Any) -> CompareResponse:
        return await self._t.request(_request(params, kwargs, False, "create"))

    def stream(self, params: Params = None, /, **kwargs: Any) -> AsyncStream[CompareStreamEvent]:
        processor = CompareStreamProcessor()
        opener = self._t.stream_opener(_request(params, kwargs, True, "stream"), processor)
        return AsyncStream(opener, processor)
