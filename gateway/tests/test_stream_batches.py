"""Stream relay by network read: the SSE parser fed piece by piece, and chunk batches with their last one marked."""

from __future__ import annotations

import asyncio
import copy
from typing import Any, AsyncGenerator

import orjson

from meshapi_gateway.chat.normalize import StreamNormalizer
from meshapi_gateway.providers.chunk_batches import Batch, ChunkBatches
from meshapi_gateway.sse import SSEDataParser, SSEParser, frame, frames

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


MIXED = (
    b'data: {"a":1}\r\n\r\n: comment\n\nevent: x\ndata: line1\ndata:line2\n\nid: 7\ndata\n\n'
    b"retry: 10\ndata: caf\xc3\xa9\n\ndata: [DONE]\n\ndata: tail"
)


def _data(pieces: list[bytes]) -> list[bytes]:
    parser = SSEDataParser()
    return [d for piece in pieces for d in parser.feed(piece)] + parser.close()


def test_the_data_parser_reads_what_the_event_parser_reads_however_the_bytes_were_cut() -> None:
    parser = SSEParser()
    expected = [e.data.encode() for e in parser.feed(MIXED)] + [e.data.encode() for e in parser.close()]
    assert expected == [b'{"a":1}', b"line1\nline2", b"", "café".encode(), b"[DONE]", b"tail"]
    assert _data([MIXED]) == expected
    assert _data([MIXED[i : i + 1] for i in range(len(MIXED))]) == expected
    for cut in range(1, len(MIXED)):
        assert _data([MIXED[:cut], MIXED[cut:]]) == expected


def _upstream_chunks() -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 7, "model": "up-model"}

    def chunk(**fields: Any) -> dict[str, Any]:
        return {**copy.deepcopy(base), **fields}

    return [
        chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
        chunk(choices=[{"index": 0, "delta": {"content": "Hé \u2028 🙂"}, "finish_reason": None}]),
        chunk(choices=[{"index": 0, "delta": {"content": "x"}}]),  # no finish_reason key
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": None}]),  # nothing to pass on
        chunk(choices=[{"index": 0, "delta": {"content": "y"}, "logprobs": {"content": []}, "finish_reason": None}]),
        chunk(
            choices=[
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{"}}]},
                }
            ]
        ),
        chunk(choices=[{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}}]),
        chunk(choices=[{"index": 0, "delta": {"content": "z"}, "finish_reason": None}], usage=None),
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        chunk(choices=[], usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
    ]


def _state(n: StreamNormalizer) -> tuple[Any, ...]:
    return (n.id, n.created, n.usage, n.finish_reason, n.content_chunks, n.text_parts, n.tool_calls)


def test_a_read_normalized_at_once_is_what_its_chunks_normalized_one_by_one_give() -> None:
    one_by_one = StreamNormalizer("public/model")
    expected = [out for chunk in _upstream_chunks() for out in one_by_one.feed(chunk)]
    for cut in range(len(_upstream_chunks()) + 1):
        batched = StreamNormalizer("public/model")
        chunks = _upstream_chunks()
        got = batched.feed_batch(chunks[:cut]) + batched.feed_batch(chunks[cut:])
        assert orjson.dumps(got) == orjson.dumps(expected)
        assert _state(batched)[2:] == _state(one_by_one)[2:]
    assert all(c["model"] == "public/model" and c["id"] == "chatcmpl-up" for c in expected)


def test_frames_made_together_are_the_frames_made_one_by_one() -> None:
    payloads = [c for c in _upstream_chunks() if c["choices"]] + [{"error": {"message": "\u2029 ünïcode 🙂"}}]
    together = frames(payloads)
    assert together == b"".join(frame(p) for p in payloads)
    assert together.isascii() and b"\\u2028" in together and b"\\ud83d\\ude42" in together


def test_reads_of_whole_data_events_split_at_once_read_as_the_event_parser_reads_them() -> None:
    # Reads made of whole one-line ``data: `` events take a shortcut; anything else in them must not.
    lines = [
        b'data: {"a":1}\n\n',
        b"data: \n\n",
        b"data: x\n\n: comment\n\n",
        b"data: a\ndata: b\n\n",
        b"data:tight\n\n",
        b"event: e\ndata: y\n\n",
        b"data: c\r\n\r\n",
        b"data: d\n\n\n",
        b"data: the data: \\n\\ndata: inside\n\n",
        b"id: 3\n\n",
        b"data: [DONE]\n\n",
    ]
    streams = [b"".join(lines)] + [a + b for a in lines for b in lines]
    for stream in streams:
        parser = SSEParser()
        expected = [e.data.encode() for e in parser.feed(stream)] + [e.data.encode() for e in parser.close()]
        assert _data([stream]) == expected, stream
        for cut in range(1, len(stream)):
            assert _data([stream[:cut], stream[cut:]]) == expected, (stream, cut)
