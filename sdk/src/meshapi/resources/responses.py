"""``client.responses``: the Responses API for reasoning models."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Union

from .._base_client import APIRequest, parse_json
from .._streaming import AsyncStream, ResponsesStreamProcessor, Stream
from .._types import NOT_GIVEN, NotGiven
from ..types.responses import ResponsesParams, ResponsesResponse, ResponsesStreamEvent
from ._base import AsyncAPIResource, SyncAPIResource
from ._hints import suggest_keywords
from ._shared import Timeout, params_request

__all__ = ["AsyncResponses", "Responses"]

_PATH = "/v1/responses"
_parse = parse_json(ResponsesResponse)

Params = Union[ResponsesParams, Mapping[str, Any], None]


def _request(arguments: Dict[str, Any], stream: bool, where: str) -> APIRequest[ResponsesResponse]:
    params = arguments["params"]
    return params_request("POST", _PATH, _parse, ResponsesParams, params, arguments, where, stream=stream)


class Responses(SyncAPIResource):
    @suggest_keywords
    def create(
        self,
        params: Params = None,
        /,
        *,
        input: Union[str, Sequence[Any], NotGiven] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        stream: Union[Literal[False], NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        session_id: Union[str, NotGiven, None] = NOT_GIVEN,
        instructions: Union[str, NotGiven, None] = NOT_GIVEN,
        max_output_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        top_p: Union[float, NotGiven, None] = NOT_GIVEN,
        seed: Union[int, NotGiven, None] = NOT_GIVEN,
        reasoning: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        tools: Union[Sequence[Mapping[str, Any]], NotGiven, None] = NOT_GIVEN,
        tool_choice: Union[str, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        parallel_tool_calls: Union[bool, NotGiven, None] = NOT_GIVEN,
        max_tool_calls: Union[int, NotGiven, None] = NOT_GIVEN,
        response_format: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        text: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        plugins: Union[Sequence[Any], NotGiven, None] = NOT_GIVEN,
        previous_response_id: Union[str, NotGiven, None] = NOT_GIVEN,
        background: Union[bool, NotGiven, None] = NOT_GIVEN,
        store: Union[bool, NotGiven, None] = NOT_GIVEN,
        include: Union[List[str], NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        truncation: Union[str, NotGiven, None] = NOT_GIVEN,
        user: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> ResponsesResponse:
        """POST /v1/responses with ``stream: false``."""
        return self._t.request(_request(locals(), False, "create"))

    @suggest_keywords
    def stream(
        self,
        params: Params = None,
        /,
        *,
        input: Union[str, Sequence[Any], NotGiven] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        session_id: Union[str, NotGiven, None] = NOT_GIVEN,
        instructions: Union[str, NotGiven, None] = NOT_GIVEN,
        max_output_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        top_p: Union[float, NotGiven, None] = NOT_GIVEN,
        seed: Union[int, NotGiven, None] = NOT_GIVEN,
        reasoning: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        tools: Union[Sequence[Mapping[str, Any]], NotGiven, None] = NOT_GIVEN,
        tool_choice: Union[str, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        parallel_tool_calls: Union[bool, NotGiven, None] = NOT_GIVEN,
        max_tool_calls: Union[int, NotGiven, None] = NOT_GIVEN,
        response_format: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        text: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        plugins: Union[Sequence[Any], NotGiven, None] = NOT_GIVEN,
        previous_response_id: Union[str, NotGiven, None] = NOT_GIVEN,
        background: Union[bool, NotGiven, None] = NOT_GIVEN,
        store: Union[bool, NotGiven, None] = NOT_GIVEN,
        include: Union[List[str], NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        truncation: Union[str, NotGiven, None] = NOT_GIVEN,
        user: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> Stream[ResponsesStreamEvent]:
        """POST /v1/responses with ``stream: true``; iterate the events."""
        request = _request(locals(), True, "stream")
        processor = ResponsesStreamProcessor()
        return Stream(self._t.open_stream(request, processor), processor)


class AsyncResponses(AsyncAPIResource):
    @suggest_keywords
    async def create(
        self,
        params: Params = None,
        /,
        *,
        input: Union[str, Sequence[Any], NotGiven] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        stream: Union[Literal[False], NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        session_id: Union[str, NotGiven, None] = NOT_GIVEN,
        instructions: Union[str, NotGiven, None] = NOT_GIVEN,
        max_output_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        top_p: Union[float, NotGiven, None] = NOT_GIVEN,
        seed: Union[int, NotGiven, None] = NOT_GIVEN,
        reasoning: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        tools: Union[Sequence[Mapping[str, Any]], NotGiven, None] = NOT_GIVEN,
        tool_choice: Union[str, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        parallel_tool_calls: Union[bool, NotGiven, None] = NOT_GIVEN,
        max_tool_calls: Union[int, NotGiven, None] = NOT_GIVEN,
        response_format: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        text: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        plugins: Union[Sequence[Any], NotGiven, None] = NOT_GIVEN,
        previous_response_id: Union[str, NotGiven, None] = NOT_GIVEN,
        background: Union[bool, NotGiven, None] = NOT_GIVEN,
        store: Union[bool, NotGiven, None] = NOT_GIVEN,
        include: Union[List[str], NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        truncation: Union[str, NotGiven, None] = NOT_GIVEN,
        user: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> ResponsesResponse:
        """POST /v1/responses with ``stream: false``."""
        return await self._t.request(_request(locals(), False, "create"))

    @suggest_keywords
    def stream(
        self,
        params: Params = None,
        /,
        *,
        input: Union[str, Sequence[Any], NotGiven] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        session_id: Union[str, NotGiven, None] = NOT_GIVEN,
        instructions: Union[str, NotGiven, None] = NOT_GIVEN,
        max_output_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        top_p: Union[float, NotGiven, None] = NOT_GIVEN,
        seed: Union[int, NotGiven, None] = NOT_GIVEN,
        reasoning: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        tools: Union[Sequence[Mapping[str, Any]], NotGiven, None] = NOT_GIVEN,
        tool_choice: Union[str, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        parallel_tool_calls: Union[bool, NotGiven, None] = NOT_GIVEN,
        max_tool_calls: Union[int, NotGiven, None] = NOT_GIVEN,
        response_format: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        text: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        plugins: Union[Sequence[Any], NotGiven, None] = NOT_GIVEN,
        previous_response_id: Union[str, NotGiven, None] = NOT_GIVEN,
        background: Union[bool, NotGiven, None] = NOT_GIVEN,
        store: Union[bool, NotGiven, None] = NOT_GIVEN,
        include: Union[List[str], NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        truncation: Union[str, NotGiven, None] = NOT_GIVEN,
        user: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> AsyncStream[ResponsesStreamEvent]:
        """Return an async stream of events (the request starts on first iteration)."""
        request = _request(locals(), True, "stream")
        processor = ResponsesStreamProcessor()
        return AsyncStream(self._t.stream_opener(request, processor), processor)
