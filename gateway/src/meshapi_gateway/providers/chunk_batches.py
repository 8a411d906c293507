"""A provider's chunk stream taken one network read at a time.

An SSE upstream usually delivers many chunks in one read (a fast model, or a burst after a
pause). Stepping every layer of the relay (guard, normalizer, framing, the ASGI send) once
per chunk was most of a stream's cost, so an adapter that parses reads hands out each
read's chunks as one batch and says which batch is the last; the relay then normalizes,
frames and writes them together, and finishes the response with the last one. Consumers
that want one chunk at a time iterate it as usual.
"""

from __future__ import annotations

from typing import Any, Awaitable, Protocol

Chunk = dict[str, Any]


# Between two events of an SSE body as the relay writes them (and in a run's ``encoded``).
EVENT_SEP = b"\n\ndata: "


class RelayedDelta(dict[str, Any]):
    """A read's run of text chunks kept as bytes: the same JSON as an earlier chunk of its stream but for the text.

    Decoding each chunk of a stream and encoding it again was the largest part of relaying it
    (more than half of the instructions spent per chunk). An adapter that knows the shape of a
    stream's plain text chunks (``SSEChunkReads``) hands out each run of them in one read as this
    instead, one object for the run rather than one a chunk: ``tails`` are the chunks' JSON after
    their leading ``id``, ``object``, ``created`` and ``model`` members (in the compact form orjson
    writes), ``texts`` their contents that are not empty. The normalizer sets ``encoded``: the run
    as the client gets it, its chunks joined by ``EVENT_SEP`` (no chunk holds a line break: the text
    is printable ASCII). The dict itself is empty: ``ChatStream.chunks`` decodes ``encoded`` chunk
    by chunk for consumers that want chunk dicts; only the chat relay reads batches raw.
    """

    # Set right after it is made (no ``__init__``: a Python call would cost a third of what is saved).
    __slots__ = ("encoded", "tails", "texts")
    tails: list[bytes]
    texts: list[str]
    encoded: bytes


class RelayedRead(dict[str, Any]):
    """A whole read of a chat chunk stream recognized by its bytes (``TextShape.scan``), for the normalizer.

    Decoding the role, text, finish and usage chunks one by one was most of what relaying a stream
    cost. When every event of a read is one of the shapes learned for its model, the read is handed
    out as this one object, never as per-chunk dicts: ``first`` the constant bytes after the leading
    members of a first chunk (the role chunk) or None, ``raw`` the texts of the run of text chunks
    that follows (their bytes, between ``before`` and ``after``), ``texts`` those of them not empty,
    decoded, ``finish`` the constant bytes after the leading members of a finish chunk (``finish_data``
    the whole chunk) or None, ``usage`` the usage chunk's usage or None. ``cid`` and ``created`` are the
    stream's upstream id and time, ``stamped`` the bytes of its first chunk's id, object and created
    members (``{"id":…,"created":…``) when they were read from its bytes, else empty. The normalizer
    turns it into a ``RelayedDelta``; the dict is empty.
    """

    # Set right after it is made (no ``__init__``).
    __slots__ = (
        "after",
        "before",
        "cid",
        "created",
        "finish",
        "finish_data",
        "first",
        "raw",
        "stamped",
        "texts",
        "usage",
    )
    cid: str
    created: int
    stamped: bytes
    first: bytes | None
    raw: list[bytes]
    texts: list[str]
    before: bytes
    after: bytes
    finish: bytes | None
    finish_data: bytes
    usage: dict[str, Any] | None


# What an adapter's generator yields: the chunks of one read, and whether the stream ended with it.
Batch = tuple[list[Chunk], bool]


class BatchSource(Protocol):
    """An adapter's batches: an async generator, or an object stepping without one (``SSEChunkReads``)."""

    def __anext__(self) -> Awaitable[Batch]: ...

    async def aclose(self) -> None: ...


class ChunkBatches:
    """An adapter's chunk stream by network read: ``next_batch`` hands out what one read brought,
    ``__anext__`` one chunk at a time, and ``ended`` says that the last batch has been handed out.

    Made around a ``BatchSource``; a reader that parses reads itself (``SSEChunkReads``) is one of
    these with its own ``next_batch``, so that a read passes one coroutine fewer and a stream makes
    one object fewer.
    """

    __slots__ = ("_pending", "_source", "ended")
    # True when a stream that has ``ended`` holds nothing to close (its reader let go of the connection).
    released_at_end = False

    def __init__(self, source: BatchSource) -> None:
        self._source: BatchSource | None = source
        self._pending: list[Chunk] = []  # reversed, so taking one is a pop from the end
        # True once the adapter has handed out its last batch (nothing further will be read).
        self.ended = False

    def __aiter__(self) -> "ChunkBatches":
        return self

    async def __anext__(self) -> Chunk:
        while not self._pending:
            if self.ended:
                raise StopAsyncIteration
            self._pending = (await self.next_batch())[::-1]
        return self._pending.pop()

    def take(self) -> list[Chunk]:
        """The chunks already read and not handed out, in order, without waiting."""
        pending, self._pending = self._pending, []
        pending.reverse()
        return pending

    async def next_batch(self) -> list[Chunk]:
        """What is already read, else the next read's chunks (possibly none, when ``ended``)."""
        if self._pending:
            return self.take()
        if self.ended:
            raise StopAsyncIteration
        assert self._source is not None
        batch, self.ended = await self._source.__anext__()
        return batch

    async def aclose(self) -> None:
        self._pending = []
        source = self._source
        # A source that lets go of its connection with its last batch has nothing left to close then.
        if source is None or (self.ended and getattr(source, "released_at_end", False)):
            return
        await source.aclose()
