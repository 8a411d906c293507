"""Stream objects returned by ``stream()`` and the per-endpoint event handling.

A stream is an iterator *and* a context manager. The generator that reads the
HTTP body owns the response and closes it in ``finally``; the stream object
does not appear in the generator's frame, so dropping the stream (``break``
out of a ``for`` loop) frees the generator at once and releases the
connection. Event handling (``[DONE]``, error frames, chunk validation,
end-of-stream rules) lives in small sans-I/O "processor" objects that the sync
and async streams share.
"""

from __future__ import annotations

import json
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Generic,
    Iterator,
    List,
    Optional,
    TypeVar,
)

import httpx
from pydantic import ValidationError as _PydanticValidationError

from ._exceptions import (
    ResponseParseError,
    StreamInterruptedError,
    error_from_frame,
)
from ._sse import ServerSentEvent, SSEDecoder
from .types.chat import ChatCompletionChunk, ChatCompletionResponse
from .types.compare import CompareStreamEvent
from .types.responses import ResponsesStreamEvent

__all__ = [
    "AsyncChatCompletionStream",
    "AsyncStream",
    "ChatCompletionStream",
    "ChatStreamProcessor",
    "CompareStreamProcessor",
    "ResponsesStreamProcessor",
    "Stream",
    "StreamProcessor",
]

T = TypeVar("T")
_DONE: Any = object()


class StreamProcessor(Generic[T]):
    """Turns decoded SSE events into items; knows when a stream ended properly."""

    #: EOF is only a proper end once this is true (``[DONE]`` or a terminal event).
    requires_end = False

    def __init__(self, request_id: str = "") -> None:
        self.request_id = request_id
        self.ended = False

    def handle(self, sse: ServerSentEvent) -> Any:
        """Return an item, ``None`` to skip, or ``_DONE`` to stop."""
        data = sse.data
        if data == "[DONE]":
            self.ended = True
            return _DONE
        if not data:
            return None
        return self._event(sse, data)

    def _event(self, sse: ServerSentEvent, data: str) -> Any:
        """The item for an event with data other than ``[DONE]`` (or ``None`` to skip it)."""
        raise NotImplementedError

    def finish(self) -> None:
        if self.requires_end and not self.ended:
            raise StreamInterruptedError(
                "The stream ended before it was complete (no [DONE]).",
                request_id=self.request_id,
            )

    def not_a_stream(self, body: bytes) -> Exception:
        """The server answered a stream request with a JSON body instead of SSE."""
        try:
            obj = json.loads(body)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
            return error_from_frame(obj, self.request_id)
        return ResponseParseError(f"Expected an event stream, got JSON: {body[:500]!r}", request_id=self.request_id)

    def _loads(self, data: str) -> Any:
        try:
            return json.loads(data)
        except ValueError:
            raise ResponseParseError(
                f"Could not parse stream event: {data[:500]}", request_id=self.request_id
            ) from None

    def _raise_frame(self, frame: Any) -> None:
        raise error_from_frame(frame, self.request_id)


class ChatStreamProcessor(StreamProcessor[ChatCompletionChunk]):
    requires_end = True

    def __init__(self, request_id: str = "") -> None:
        super().__init__(request_id)
        # Kept for ``get_final_completion``; appending is cheaper than
        # accumulating every chunk eagerly.
        self.chunks: List[ChatCompletionChunk] = []

    def _event(self, sse: ServerSentEvent, data: str) -> Any:
        if sse.event == "error" or '"error"' in data:
            obj = self._loads(data)
            if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
                self._raise_frame(obj)
            if sse.event == "error":
                self._raise_frame({"error": {"message": data}})
            try:
                chunk = ChatCompletionChunk.model_validate(obj)
            except _PydanticValidationError as exc:
                raise ResponseParseError(str(exc), request_id=self.request_id) from None
        else:
            try:
                chunk = ChatCompletionChunk.model_validate_json(data)
            except _PydanticValidationError:
                raise ResponseParseError(
                    f"Could not parse stream chunk: {data[:500]}", request_id=self.request_id
                ) from None
        self.chunks.append(chunk)
        return chunk


_RESPONSES_TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete"})


class ResponsesStreamProcessor(StreamProcessor[ResponsesStreamEvent]):
    requires_end = True

    def _event(self, sse: ServerSentEvent, data: str) -> Any:
        obj = self._loads(data)
        if not isinstance(obj, dict):
            raise ResponseParseError(f"Unexpected stream event: {data[:500]}", request_id=self.request_id)
        kind = obj.get("type")
        err = obj.get("error")
        if kind == "error" or sse.event == "error":
            if isinstance(err, dict):
                self._raise_frame(obj)
            self._raise_frame(
                {
                    "error": {
                        "code": obj.get("code") or "upstream_error",
                        "message": obj.get("message") or "Stream error.",
                    }
                }
            )
        if kind is None and isinstance(err, dict):
            self._raise_frame(obj)
        if kind in _RESPONSES_TERMINAL:
            self.ended = True
        try:
            return ResponsesStreamEvent.model_validate(obj)
        except _PydanticValidationError as exc:
            raise ResponseParseError(str(exc), request_id=self.request_id) from None


class CompareStreamProcessor(StreamProcessor[CompareStreamEvent]):
    """Normalises both compare vocabularies (docs/wire.md, Compare stream events).

    Compare streams may end at EOF without ``[DONE]``. Per-model failures are
    data (``"error": null`` or a string); only an ``error`` event or a bare
    ``{"error": {...}}`` frame aborts the stream.
    """

    def _event(self, sse: ServerSentEvent, data: str) -> Any:
        obj = self._loads(data)
        if not isinstance(obj, dict):
            obj = {"value": obj}
        name = sse.event if sse.event != "message" else None
        json_name = obj.get("event")
        if name is None and isinstance(json_name, str):
            name = json_name
        err = obj.get("error")
        if name == "error":
            # A stream-level failure: the details may sit under "error" or "data".
            detail = err if isinstance(err, dict) else obj.get("data")
            if not isinstance(detail, dict):
                detail = {"message": err if isinstance(err, str) else data}
            self._raise_frame({**obj, "error": detail})
        if isinstance(err, dict) and name is None and "data" not in obj:
            self._raise_frame(obj)
        payload = obj.get("data")
        if not isinstance(payload, dict):
            payload = {k: v for k, v in obj.items() if k != "event"}
        fields = dict(obj)
        fields["event"] = name
        fields["data"] = payload
        try:
            return CompareStreamEvent.model_validate(fields)
        except _PydanticValidationError:
            # A flat field of an unexpected type must not kill the stream:
            # keep the normalised name and payload only.
            return CompareStreamEvent(event=name, data=payload)


def _raise_unless_ended(exc: Exception, processor: StreamProcessor[Any]) -> None:
    """A transport failure once the stream has properly ended loses nothing; before, it is an interruption."""
    if processor.ended:
        return
    if isinstance(exc, httpx.TimeoutException):
        message = "The stream timed out while waiting for data."
    else:
        message = f"The stream was interrupted: {exc or type(exc).__name__}"
    raise StreamInterruptedError(message, request_id=processor.request_id) from exc


def _buffered_at_eof(decoder: SSEDecoder, processor: StreamProcessor[T]) -> Iterator[T]:
    """Items of the events still buffered when the body ends, up to a ``[DONE]``."""
    for sse in decoder.flush():
        item = processor.handle(sse)
        if item is _DONE:
            return
        if item is not None:
            yield item


class _ResponseGuard:
    """Closes a sync response once neither the stream nor its generator is alive.

    A generator that never started does not run its ``finally``; this guard,
    held by both, covers a stream that is created and dropped unread.
    """

    __slots__ = ("response",)

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    def __del__(self) -> None:
        try:
            self.response.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def _iterate(guard: _ResponseGuard, processor: StreamProcessor[T]) -> Generator[T, None, None]:
    response = guard.response
    decoder = SSEDecoder()
    handle = processor.handle
    try:
        chunks = response.iter_bytes()
        try:
            if "json" in response.headers.get("content-type", ""):
                raise processor.not_a_stream(response.read())
            for chunk in chunks:
                for sse in decoder.feed(chunk):
                    item = handle(sse)
                    if item is None:
                        continue
                    if item is _DONE:
                        # Drain the (normally empty) rest so the connection
                        # can go back to the pool.
                        for _ in chunks:
                            pass
                        return
                    yield item
            yield from _buffered_at_eof(decoder, processor)
        except (httpx.HTTPError, httpx.StreamError) as exc:
            _raise_unless_ended(exc, processor)
        processor.finish()
    finally:
        response.close()


class Stream(Generic[T]):
    """A synchronous stream of items; iterate it, ideally inside ``with``."""

    def __init__(self, response: httpx.Response, processor: StreamProcessor[T]) -> None:
        self.response = response
        self._processor = processor
        self._guard = _ResponseGuard(response)
        self._iterator = _iterate(self._guard, processor)

    @property
    def request_id(self) -> str:
        return self._processor.request_id

    def __iter__(self) -> Iterator[T]:
        return self._iterator

    def __next__(self) -> T:
        return next(self._iterator)

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        self._iterator.close()
        self.response.close()

    def until_done(self) -> None:
        """Consume the rest of the stream, discarding the items."""
        for _ in self._iterator:
            pass


class ChatCompletionStream(Stream[ChatCompletionChunk]):
    """Chat stream with :meth:`get_final_completion` (text, tool calls, usage)."""

    _processor: ChatStreamProcessor

    def get_final_completion(self) -> ChatCompletionResponse:
        """Read the stream to its end and return the accumulated completion."""
        from ._accumulator import accumulate

        self.until_done()
        return accumulate(self._processor.chunks)


class _AsyncState:
    __slots__ = ("opener", "response")

    def __init__(self, opener: Callable[[], Awaitable[httpx.Response]]) -> None:
        self.opener = opener
        self.response: Optional[httpx.Response] = None


async def _aiterate(state: _AsyncState, processor: StreamProcessor[T]) -> AsyncIterator[T]:
    response = state.response
    if response is None:
        response = state.response = await state.opener()
    decoder = SSEDecoder()
    handle = processor.handle
    try:
        chunks = response.aiter_bytes()
        try:
            if "json" in response.headers.get("content-type", ""):
                raise processor.not_a_stream(await response.aread())
            async for chunk in chunks:
                for sse in decoder.feed(chunk):
                    item = handle(sse)
                    if item is None:
                        continue
                    if item is _DONE:
                        async for _ in chunks:
                            pass
                        return
                    yield item
            for item in _buffered_at_eof(decoder, processor):
                yield item
        except (httpx.HTTPError, httpx.StreamError) as exc:
            _raise_unless_ended(exc, processor)
        processor.finish()
    finally:
        await response.aclose()


class AsyncStream(Generic[T]):
    """An asynchronous stream. ``stream()`` returns it without ``await``.

    The request is sent on first iteration (or on ``async with`` / ``await``),
    so ``async for x in client.chat.completions.stream(...)`` works as in the
    0.1.0 README.
    """

    def __init__(
        self,
        opener: Callable[[], Awaitable[httpx.Response]],
        processor: StreamProcessor[T],
    ) -> None:
        self._state = _AsyncState(opener)
        self._processor = processor
        self._iterator: Optional[AsyncIterator[T]] = None

    @property
    def response(self) -> Optional[httpx.Response]:
        return self._state.response

    @property
    def request_id(self) -> str:
        return self._processor.request_id

    def _iter(self) -> AsyncIterator[T]:
        if self._iterator is None:
            self._iterator = _aiterate(self._state, self._processor)
        return self._iterator

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iter()

    async def __anext__(self) -> T:
        return await self._iter().__anext__()

    async def _open(self) -> AsyncStream[T]:
        if self._state.response is None:
            self._state.response = await self._state.opener()
        return self

    def __await__(self) -> Generator[Any, None, AsyncStream[T]]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncStream[T]:
        return await self._open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        iterator = self._iterator
        if iterator is not None and hasattr(iterator, "aclose"):
            await iterator.aclose()
        if self._state.response is not None:
            await self._state.response.aclose()

    aclose = close

    async def until_done(self) -> None:
        async for _ in self._iter():
            pass


class AsyncChatCompletionStream(AsyncStream[ChatCompletionChunk]):
    _processor: ChatStreamProcessor

    async def get_final_completion(self) -> ChatCompletionResponse:
        from ._accumulator import accumulate

        await self.until_done()
        return accumulate(self._processor.chunks)
