"""``client.compare``: one prompt, several models, side by side."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Union

from .._base_client import APIRequest, parse_json
from .._streaming import AsyncStream, CompareStreamProcessor, Stream
from .._types import NOT_GIVEN, NotGiven
from ..types.compare import CompareParams, CompareResponse, CompareStreamEvent, ModelOverride
from ._base import AsyncAPIResource, SyncAPIResource
from ._hints import suggest_keywords
from ._shared import Timeout, params_request
from .chat import MessageParam

__all__ = ["AsyncCompare", "Compare"]

_PATH = "/v1/chat/compare"
_parse = parse_json(CompareResponse)

Params = Union[CompareParams, Mapping[str, Any], None]


def _request(arguments: Dict[str, Any], stream: bool, where: str) -> APIRequest[CompareResponse]:
    params = arguments["params"]
    return params_request("POST", _PATH, _parse, CompareParams, params, arguments, where, stream=stream)


class Compare(SyncAPIResource):
    @suggest_keywords
    def create(
        self,
        params: Params = None,
        /,
        *,
        models: Union[List[str], NotGiven] = NOT_GIVEN,
        messages: Union[Sequence[MessageParam], NotGiven] = NOT_GIVEN,
        model_overrides: Union[Sequence[Union[ModelOverride, Mapping[str, Any]]], NotGiven, None] = NOT_GIVEN,
        comparison_model: Union[str, NotGiven, None] = NOT_GIVEN,
        comparison_instructions: Union[str, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        max_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        stream: Union[Literal[False], NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        skip_comparison: Union[bool, NotGiven, None] = NOT_GIVEN,
        cache: Union[bool, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> CompareResponse:
        """POST /v1/chat/compare (non-streaming, optional judge via ``comparison_model``)."""
        return self._t.request(_request(locals(), False, "create"))

    @suggest_keywords
    def stream(
        self,
        params: Params = None,
        /,
        *,
        models: Union[List[str], NotGiven] = NOT_GIVEN,
        messages: Union[Sequence[MessageParam], NotGiven] = NOT_GIVEN,
        model_overrides: Union[Sequence[Union[ModelOverride, Mapping[str, Any]]], NotGiven, None] = NOT_GIVEN,
        comparison_model: Union[str, NotGiven, None] = NOT_GIVEN,
        comparison_instructions: Union[str, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        max_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        skip_comparison: Union[bool, NotGiven, None] = NOT_GIVEN,
        cache: Union[bool, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> Stream[CompareStreamEvent]:
        """Stream compare events; ``event.event`` is the name, ``event.data`` the payload."""
        request = _request(locals(), True, "stream")
        processor = CompareStreamProcessor()
        return Stream(self._t.open_stream(request, processor), processor)


class AsyncCompare(AsyncAPIResource):
    @suggest_keywords
    async def create(
        self,
        params: Params = None,
        /,
        *,
        models: Union[List[str], NotGiven] = NOT_GIVEN,
        messages: Union[Sequence[MessageParam], NotGiven] = NOT_GIVEN,
        model_overrides: Union[Sequence[Union[ModelOverride, Mapping[str, Any]]], NotGiven, None] = NOT_GIVEN,
        comparison_model: Union[str, NotGiven, None] = NOT_GIVEN,
        comparison_instructions: Union[str, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        max_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        stream: Union[Literal[False], NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        skip_comparison: Union[bool, NotGiven, None] = NOT_GIVEN,
        cache: Union[bool, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> CompareResponse:
        """POST /v1/chat/compare (non-streaming, optional judge via ``comparison_model``)."""
        return await self._t.request(_request(locals(), False, "create"))

    @suggest_keywords
    def stream(
        self,
        params: Params = None,
        /,
        *,
        models: Union[List[str], NotGiven] = NOT_GIVEN,
        messages: Union[Sequence[MessageParam], NotGiven] = NOT_GIVEN,
        model_overrides: Union[Sequence[Union[ModelOverride, Mapping[str, Any]]], NotGiven, None] = NOT_GIVEN,
        comparison_model: Union[str, NotGiven, None] = NOT_GIVEN,
        comparison_instructions: Union[str, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        max_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        skip_comparison: Union[bool, NotGiven, None] = NOT_GIVEN,
        cache: Union[bool, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> AsyncStream[CompareStreamEvent]:
        """Return an async stream of compare events (the request starts on first iteration)."""
        request = _request(locals(), True, "stream")
        processor = CompareStreamProcessor()
        return AsyncStream(self._t.stream_opener(request, processor), processor)
