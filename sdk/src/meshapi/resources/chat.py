"""``client.chat.completions``: create and stream chat completions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Union

from .._base_client import APIRequest, parse_json
from .._streaming import AsyncChatCompletionStream, ChatCompletionStream, ChatStreamProcessor
from ..types.chat import ChatCompletionParams, ChatCompletionResponse
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import params_request

if TYPE_CHECKING:
    from .._base_client import AsyncTransport, SyncTransport

__all__ = ["AsyncChat", "AsyncCompletions", "Chat", "Completions"]

_PATH = "/v1/chat/completions"
_parse = parse_json(ChatCompletionResponse)

Params = Union[ChatCompletionParams, Mapping[str, Any], None]


def _request(params: Params, kwargs: Dict[str, Any], stream: bool, where: str) -> APIRequest[ChatCompletionResponse]:
    return params_request("POST", _PATH, _parse, ChatCompletionParams, params, kwargs, where, stream=stream)


class Completions(SyncAPIResource):
    def create(self, params: Params = None, /, **kwargs: Any) -> ChatCompletionResponse:
        """POST /v1/chat/completions with ``stream: false``."""
        return self._t.request(_request(params, kwargs, False, "create"))

    def stream(self, params: Params = None, /, **kwargs: Any) -> ChatCompletionStream:
        """POST /v1/chat/completions with ``stream: true``; iterate the chunks."""
        processor = ChatStreamProcessor()
        response = self._t.open_stream(_request(params, kwargs, True, "stream"), processor)
        return ChatCompletionStream(response, processor)


class AsyncCompletions(AsyncAPIResource):
    async def create(self, params: Params = None, /, **kwargs: Any) -> ChatCompletionResponse:
        """POST /v1/chat/completions with ``stream: false``."""
        return await self._t.request(_request(params, kwargs, False, "create"))

    def stream(self, params: Params = None, /, **kwargs: Any) -> AsyncChatCompletionStream:
        """Return an async stream of chunks (the request starts on first iteration)."""
        processor = ChatStreamProcessor()
        opener = self._t.stream_opener(_request(params, kwargs, True, "stream"), processor)
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
