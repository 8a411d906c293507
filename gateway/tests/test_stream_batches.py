"""Stream relay by network read: the SSE parser fed piece by piece, and chunk batches with their last one marked."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncGenerator

from meshapi_gateway.providers.chunk_batches import Batch, ChunkBatches
from meshapi_gateway.sse import SSEParser

STREAM = b'data: {"a":1}\r\n\r\n: comment\n\nevent: x\ndata: line1\ndata: line2\n\ndata: [DONE]'


def _events(pieces: list[bytes]) -> list[tuple[str, str]]:
    parser = SSEParser()
    out = [(e.event, e.data) for piece in pieces for e in parser.feed(piece)]
    return out + [(e.event, e.data) for e in parser.close()]


def test_events_do_not_depend_on_how_the_network_cut_the_bytes() -> None:
    whole = _events([STREAM])
    assert whole == [("", '{"a":1}'), ("x", "line1\nline2"), ("", "[DONE]")]
    assert _events([STREAM[i : i + 1] for i in range(len(STREAM))]) == whole
    assert _events([STREAM[:7], STREAM[7:30], STREAM[30:]]) == whole


def test_one_read_is_one_batch_and_only_the_last_event_of_a_read_says_nothing_follows() -> None:
    events = SSEParser().feed(b"data: 1\n\ndata: 2\n\ndata: 3")
    assert [(e.data, e.more) for e in events] == [("1", True), ("2", False)]


async def _source(batches: list[Batch]) -> AsyncGenerator[Batch, None]:
    for batch in batches:
        yield batch


def test_batches_hand_out_what_is_read_and_mark_the_end() -> None:
    async def run() -> tuple[Any, ...]:
        stream = ChunkBatches(_source([([{"n": 1}, {"n": 2}, {"n": 3}], False), ([{"n": 4}], True)]))
        first = await stream.__anext__()
        rest_of_read = stream.take()
        ended_after_first_read = stream.ended
        last = await stream.next_batch()
        try:
            await stream.next_batch()
            more = True
        except StopAsyncIteration:
            more = False
        one_by_one = [c["n"] async for c in ChunkBatches(_source([([{"n": 1}, {"n": 2}], False), ([], True)]))]
        return first, rest_of_read, ended_after_first_read, last, stream.ended, more, one_by_one

    first, rest, ended_early, last, ended, more, one_by_one = asyncio.run(run())
    assert first == {"n": 1} and rest == [{"n": 2}, {"n": 3}] and ended_early is False
    assert last == [{"n": 4}] and ended is True and more is False
    assert one_by_one == [1, 2]
