"""``client.chat.completions``: create and stream chat completions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Literal, Mapping, Optional, Sequence, Union

from .._base_client import APIRequest, parse_json
from .._streaming import AsyncChatCompletionStream, ChatCompletionStream, ChatStreamProcessor
from .._types import NOT_GIVEN, NotGiven
from ..types.chat import ChatCompletionParams, ChatCompletionResponse, ChatMessage, ImageOptions, Tool
from ._base import AsyncAPIResource, SyncAPIResource
from ._hints import suggest_keywords
from ._shared import Timeout, params_request

if TYPE_CHECKING:
    from .._base_client import AsyncTransport, SyncTransport

__all__ = ["AsyncChat", "AsyncCompletions", "Chat", "Completions", "MessageParam", "ToolParam"]

_PATH = "/v1/chat/completions"
_parse = parse_json(ChatCompletionResponse)

Params = Union[ChatCompletionParams, Mapping[str, Any], None]
# Nested pieces are accepted as the SDK's models or as plain dicts.
MessageParam = Union[ChatMessage, Mapping[str, Any]]
ToolParam = Union[Tool, Mapping[str, Any]]


def _request(arguments: Dict[str, Any], stream: bool, where: str) -> APIRequest[ChatCompletionResponse]:
    params = arguments["params"]
    return params_request("POST", _PATH, _parse, ChatCompletionParams, params, arguments, where, stream=stream)


class Completions(SyncAPIResource):
    @suggest_keywords
    def create(
        self,
        params: Params = None,
        /,
        *,
        messages: Union[Sequence[MessageParam], NotGiven] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        stream: Union[Literal[False], NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        session_id: Union[str, NotGiven, None] = NOT_GIVEN,
        transforms: Union[List[str], NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        modality: Union[str, NotGiven, None] = NOT_GIVEN,
        image: Union[ImageOptions, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        async_mode: Union[bool, NotGiven, None] = NOT_GIVEN,
        cache: Union[bool, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        max_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        max_completion_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        top_p: Union[float, NotGiven, None] = NOT_GIVEN,
        frequency_penalty: Union[float, NotGiven, None] = NOT_GIVEN,
        presence_penalty: Union[float, NotGiven, None] = NOT_GIVEN,
        stop: Union[str, List[str], NotGiven, None] = NOT_GIVEN,
        seed: Union[int, NotGiven, None] = NOT_GIVEN,
        n: Union[int, NotGiven, None] = NOT_GIVEN,
        logprobs: Union[bool, NotGiven, None] = NOT_GIVEN,
        top_logprobs: Union[int, NotGiven, None] = NOT_GIVEN,
        logit_bias: Union[Mapping[str, float], NotGiven, None] = NOT_GIVEN,
        tools: Union[Sequence[ToolParam], NotGiven, None] = NOT_GIVEN,
        tool_choice: Union[str, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        parallel_tool_calls: Union[bool, NotGiven, None] = NOT_GIVEN,
        response_format: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        stream_options: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        reasoning_effort: Union[str, NotGiven, None] = NOT_GIVEN,
        modalities: Union[List[str], NotGiven, None] = NOT_GIVEN,
        audio: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        user: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> ChatCompletionResponse:
        """POST /v1/chat/completions with ``stream: false``.

        Pass a :class:`ChatCompletionParams` (or a dict) and/or keyword arguments; keywords win.
        """
        return self._t.request(_request(locals(), False, "create"))

    @suggest_keywords
    def stream(
        self,
        params: Params = None,
        /,
        *,
        messages: Union[Sequence[MessageParam], NotGiven] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        session_id: Union[str, NotGiven, None] = NOT_GIVEN,
        transforms: Union[List[str], NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        modality: Union[str, NotGiven, None] = NOT_GIVEN,
        image: Union[ImageOptions, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        async_mode: Union[bool, NotGiven, None] = NOT_GIVEN,
        cache: Union[bool, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        max_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        max_completion_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        top_p: Union[float, NotGiven, None] = NOT_GIVEN,
        frequency_penalty: Union[float, NotGiven, None] = NOT_GIVEN,
        presence_penalty: Union[float, NotGiven, None] = NOT_GIVEN,
        stop: Union[str, List[str], NotGiven, None] = NOT_GIVEN,
        seed: Union[int, NotGiven, None] = NOT_GIVEN,
        n: Union[int, NotGiven, None] = NOT_GIVEN,
        logprobs: Union[bool, NotGiven, None] = NOT_GIVEN,
        top_logprobs: Union[int, NotGiven, None] = NOT_GIVEN,
        logit_bias: Union[Mapping[str, float], NotGiven, None] = NOT_GIVEN,
        tools: Union[Sequence[ToolParam], NotGiven, None] = NOT_GIVEN,
        tool_choice: Union[str, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        parallel_tool_calls: Union[bool, NotGiven, None] = NOT_GIVEN,
        response_format: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        stream_options: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        reasoning_effort: Union[str, NotGiven, None] = NOT_GIVEN,
        modalities: Union[List[str], NotGiven, None] = NOT_GIVEN,
        audio: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        user: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> ChatCompletionStream:
        """POST /v1/chat/completions with ``stream: true``; iterate the chunks."""
        request = _request(locals(), True, "stream")
        processor = ChatStreamProcessor()
        response = self._t.open_stream(request, processor)
        return ChatCompletionStream(response, processor)


class AsyncCompletions(AsyncAPIResource):
    @suggest_keywords
    async def create(
        self,
        params: Params = None,
        /,
        *,
        messages: Union[Sequence[MessageParam], NotGiven] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        stream: Union[Literal[False], NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        session_id: Union[str, NotGiven, None] = NOT_GIVEN,
        transforms: Union[List[str], NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        modality: Union[str, NotGiven, None] = NOT_GIVEN,
        image: Union[ImageOptions, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        async_mode: Union[bool, NotGiven, None] = NOT_GIVEN,
        cache: Union[bool, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        max_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        max_completion_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        top_p: Union[float, NotGiven, None] = NOT_GIVEN,
        frequency_penalty: Union[float, NotGiven, None] = NOT_GIVEN,
        presence_penalty: Union[float, NotGiven, None] = NOT_GIVEN,
        stop: Union[str, List[str], NotGiven, None] = NOT_GIVEN,
        seed: Union[int, NotGiven, None] = NOT_GIVEN,
        n: Union[int, NotGiven, None] = NOT_GIVEN,
        logprobs: Union[bool, NotGiven, None] = NOT_GIVEN,
        top_logprobs: Union[int, NotGiven, None] = NOT_GIVEN,
        logit_bias: Union[Mapping[str, float], NotGiven, None] = NOT_GIVEN,
        tools: Union[Sequence[ToolParam], NotGiven, None] = NOT_GIVEN,
        tool_choice: Union[str, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        parallel_tool_calls: Union[bool, NotGiven, None] = NOT_GIVEN,
        response_format: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        stream_options: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        reasoning_effort: Union[str, NotGiven, None] = NOT_GIVEN,
        modalities: Union[List[str], NotGiven, None] = NOT_GIVEN,
        audio: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        user: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> ChatCompletionResponse:
        """POST /v1/chat/completions with ``stream: false``."""
        return await self._t.request(_request(locals(), False, "create"))

    @suggest_keywords
    def stream(
        self,
        params: Params = None,
        /,
        *,
        messages: Union[Sequence[MessageParam], NotGiven] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        template: Union[str, NotGiven, None] = NOT_GIVEN,
        variables: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        session_id: Union[str, NotGiven, None] = NOT_GIVEN,
        transforms: Union[List[str], NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        modality: Union[str, NotGiven, None] = NOT_GIVEN,
        image: Union[ImageOptions, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        async_mode: Union[bool, NotGiven, None] = NOT_GIVEN,
        cache: Union[bool, NotGiven, None] = NOT_GIVEN,
        temperature: Union[float, NotGiven, None] = NOT_GIVEN,
        max_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        max_completion_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        top_p: Union[float, NotGiven, None] = NOT_GIVEN,
        frequency_penalty: Union[float, NotGiven, None] = NOT_GIVEN,
        presence_penalty: Union[float, NotGiven, None] = NOT_GIVEN,
        stop: Union[str, List[str], NotGiven, None] = NOT_GIVEN,
        seed: Union[int, NotGiven, None] = NOT_GIVEN,
        n: Union[int, NotGiven, None] = NOT_GIVEN,
        logprobs: Union[bool, NotGiven, None] = NOT_GIVEN,
        top_logprobs: Union[int, NotGiven, None] = NOT_GIVEN,
        logit_bias: Union[Mapping[str, float], NotGiven, None] = NOT_GIVEN,
        tools: Union[Sequence[ToolParam], NotGiven, None] = NOT_GIVEN,
        tool_choice: Union[str, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        parallel_tool_calls: Union[bool, NotGiven, None] = NOT_GIVEN,
        response_format: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        stream_options: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        reasoning_effort: Union[str, NotGiven, None] = NOT_GIVEN,
        modalities: Union[List[str], NotGiven, None] = NOT_GIVEN,
        audio: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        user: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> AsyncChatCompletionStream:
        """Return an async stream of chunks (the request starts on first iteration)."""
        request = _request(locals(), True, "stream")
        processor = ChatStreamProcessor()
        opener = self._t.stream_opener(request, processor)
        return AsyncChatCompletionStream(opener, processor)


class Chat(SyncAPIResource):
    __slots__ = ("completions",)

    def __init__(self, transport: SyncTransport) -> None:
        super().__init__(transport)
        self.completions = Completions(transport)


class AsyncChat(AsyncAPIResource):
    __slots__ = ("completions",)

    def __init__(self, transport: AsyncTransport) -> None:
        super().__init__(transport)
        self.completions = AsyncCompletions(transport)
