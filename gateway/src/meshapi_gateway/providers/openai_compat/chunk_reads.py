"""An OpenAI-compatible chunk stream read off the upstream's SSE body, one network read at a time.

A ``ChunkBatches`` whose ``next_batch`` reads the body itself: each call returns the chunks one
read brought, and the batch that contains ``[DONE]`` sets ``ended``. It is a plain object with a
coroutine method rather than an async generator, because it runs once per read of every stream:
a generator is registered with the event loop and finalized through it, and steps through frames
of its own (and it reads the body itself rather than as the source of a ``ChunkBatches``: one
coroutine fewer a read, one object fewer a stream). What the upstream sent before a failure still
reaches the client; the failure is raised on the next call.
"""

from __future__ import annotations

from typing import Any

import orjson

from meshapi_gateway.http_client import Response, TransportError
from meshapi_gateway.providers import upstream_errors
from meshapi_gateway.providers.base import UpstreamError
from meshapi_gateway.providers.chunk_batches import Chunk, ChunkBatches, RelayedDelta
from meshapi_gateway.providers.relayed_text import TextShape
from meshapi_gateway.sse import SSEDataParser

DONE = b"[DONE]"


class SSEChunkReads(ChunkBatches):
    """``relay``: a read made of nothing but chunks of the shapes known for its model comes out as
    one ``RelayedRead``; in any other read, a run of plain text chunks that repeat an earlier one's
    shape comes out as one ``RelayedDelta`` (a chat chunk stream; see ``providers/relayed_text.py``)."""

    __slots__ = ("_failure", "_finished", "_name", "_parser", "_resp", "_shape")
    # The last batch is handed out once the response is released: nothing is left to close then.
    released_at_end = True

    def __init__(self, resp: Response, provider: str, *, relay: bool = False) -> None:
        # ``ChunkBatches``' own fields set here (no call of its ``__init__``): no source, it reads itself.
        self._source = None
        self._pending = []
        self.ended = False
        self._resp = resp
        self._name = provider
        self._parser = SSEDataParser()
        self._failure: UpstreamError | None = None  # raised on the call after the chunks that preceded it
        self._finished = False
        self._shape: TextShape | None = TextShape() if relay else None

    async def next_batch(self) -> list[Chunk]:
        """The chunks of the next read that brought any (``ended`` set with the one holding ``[DONE]``)."""
        if self._pending:  # left by a reader of single chunks (``__anext__``)
            return self.take()
        if self._finished:
            raise StopAsyncIteration
        if self._failure is not None:
            self._finished = True
            raise self._failure
        chunks: list[Chunk] = []
        resp = self._resp
        try:
            while True:
                piece = await resp.read_some()
                if piece:
                    events = self._parser.read_events(piece)
                    shape = self._shape
                    if shape is not None and len(events) == 1 and shape.known is not None:
                        # One event of a stream whose shapes are known (the usual read of a slow stream): a
                        # text chunk is matched here, without ``_take`` (the same answer): a call less a token.
                        data = events[0]
                        text = shape.match(data)
                        if text is not None:
                            one = RelayedDelta()
                            one.tails = [data[shape.cut :]]
                            one.texts = [text] if text else []
                            chunks.append(one)
                            return chunks
                    failure, done = self._take(events, chunks)
                else:  # the body ended
                    failure, done = self._take(self._parser.close(), chunks)
                    if failure is None and not done:
                        failure = UpstreamError(
                            "stream_interrupted", f"{self._name} ended the stream before [DONE]", retryable=True
                        )
                if failure is not None:
                    resp.close()
                    if chunks:
                        self._failure = failure
                        return chunks
                    raise failure
                if done:
                    self._finished = self.ended = True
                    resp.release()
                    return chunks
                if chunks:
                    return chunks
        except BaseException as exc:  # the connection's state is unknown: it is not reused
            self._finished = True
            resp.close()
            if isinstance(exc, TimeoutError):
                raise upstream_errors.timed_out(self._name, "send the next chunk") from exc
            if isinstance(exc, TransportError):
                raise UpstreamError(
                    "stream_interrupted", f"{self._name} connection dropped mid-stream: {exc}", retryable=True
                ) from exc
            raise

    def _take(self, events: list[bytes], into: list[Chunk]) -> tuple[UpstreamError | None, bool]:
        """Decode ``events`` into ``into`` up to ``[DONE]`` (then True) or a failure (returned).

        A read of one text chunk of a known stream never comes here: ``next_batch`` matches it first.
        """
        loads = orjson.loads
        shape = self._shape
        # The stream's first chunk, when this read holds it, is decoded unless the whole read is recognized:
        # the normalizer takes the stream's id and time from it.
        first = False
        if shape is not None:
            if shape.known is None and events and shape.learning and shape.stamp is None:
                first = True
                shape.begin_bytes(events[0])
            if shape.known is not None:
                got, done = shape.scan(events)
                if got is not None:
                    into.append(got)
                    return None, done
                if done:  # nothing but [DONE]
                    return None, True
        if self._parser.loose:  # not recognized whole: its events looked at for other lines
            events = self._parser.settle(events)
        run: RelayedDelta | None = None  # the text chunks just before, relayed as one
        cut = 0
        # Checked here before ``match`` is called: in a read the scan did not recognize (tool calls, say)
        # most events are not text chunks, and a slice compared costs less than the call.
        head = shape.head if shape is not None else b""
        at = len(head)
        for data in events:
            if data == DONE:
                return None, True
            if shape is not None:
                text = None if first or data[:at] != head else shape.match(data)
                first = False
                if text is not None:
                    if run is None:
                        cut = shape.cut  # the shape changes only on a decoded chunk, which ends the run
                        run = RelayedDelta()
                        run.tails = [data[cut:]]
                        run.texts = [text] if text else []
                        into.append(run)
                    else:
                        run.tails.append(data[cut:])
                        if text:
                            run.texts.append(text)
                    continue
                run = None
            try:
                chunk: Any = loads(data)
            except orjson.JSONDecodeError:
                return UpstreamError(
                    "upstream_error",
                    f"{self._name} sent a stream event that is not JSON",
                    provider_error=data[:500].decode("utf-8", "replace"),
                    retryable=True,
                ), False
            if type(chunk) is dict and isinstance(chunk.get("error"), dict):
                err = chunk["error"]
                return UpstreamError(
                    str(err.get("code") or "upstream_error"),
                    str(err.get("message") or "upstream stream error"),
                    provider_error=err,
                    retryable=True,
                ), False
            into.append(chunk)
            if shape is not None and shape.learning:
                shape.learn(data, chunk)
                head = shape.head  # a decoded chunk may have taught the stream its own shape
                at = len(head)
        return None, False

    async def aclose(self) -> None:
        self._pending = []
        self._finished = True
        self._resp.close()  # no-op once released after [DONE]
