"""Text chunks relayed as bytes: the client gets exactly what decoding and encoding every chunk gives."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from meshapi_gateway.chat.normalize import StreamNormalizer
from meshapi_gateway.chat.pipeline import _one_by_one
from meshapi_gateway.providers.base import UpstreamError
from meshapi_gateway.providers.chunk_batches import EVENT_SEP, RelayedDelta, RelayedRead
from meshapi_gateway.providers.openai_compat.chunk_reads import SSEChunkReads
from meshapi_gateway.providers.relayed_text import _KNOWN
from meshapi_gateway.sse import frame, frames


@pytest.fixture(autouse=True)
def _no_known_shapes() -> None:
    _KNOWN.clear()  # each test starts as the first stream of its model


HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "up-model"}


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {**HEAD, "system_fingerprint": "fp_1", **extra, "choices": [choice]}


class _Body:
    """A response body handing out the given pieces, one per read."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)

    async def read_some(self) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


def _sse(events: list[bytes]) -> bytes:
    return b"".join(b"data: " + e + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def _relay(
    body: bytes, relay: bool, cut: int = 0, pieces: list[bytes] | None = None
) -> tuple[bytes, list[Any], StreamNormalizer]:
    """What the chat relay writes for ``body`` (read in pieces of ``cut`` bytes, or as ``pieces``), the
    chunks relayed as bytes, the state."""

    async def run() -> tuple[bytes, list[Any], StreamNormalizer]:
        if pieces is None:
            reads = [body[i : i + cut] for i in range(0, len(body), cut)] if cut else [body]
        else:
            reads = pieces
        normalizer = StreamNormalizer("public/model")
        out, relayed = b"", []
        chunk_reads = SSEChunkReads(_Body(reads), "test", relay=relay)  # type: ignore[arg-type]
        while True:
            try:
                batch = await chunk_reads.next_batch()
                ended = chunk_reads.ended
            except StopAsyncIteration:
                break
            relayed += [c for c in batch if type(c) is RelayedDelta or type(c) is RelayedRead]
            normalized = normalizer.feed_batch(batch)
            if normalized:
                out += frames(normalized)
            if ended:
                break
        return out, relayed, normalizer

    return asyncio.run(run())


def _n(got: list[Any]) -> int:
    """Text chunks relayed as bytes (a read's run of them is one ``RelayedDelta``, a whole read one ``RelayedRead``)."""
    return sum(len(c.tails) if type(c) is RelayedDelta else len(c.raw) for c in got)


def _state(n: StreamNormalizer) -> tuple[Any, ...]:
    return n.content_chunks, n.text_parts, n.usage, n.finish_reason, n.tool_calls, n.id, n.created


def _same(
    events: list[bytes], *, relayed: int | None = None, cut: int = 0, body: bytes | None = None, by_event: bool = False
) -> list[Any]:
    """The first stream of a model (which teaches its shapes) and the next ones read the same as decoding
    every chunk; what the last of them relayed as bytes. ``by_event``: one read a event."""
    _KNOWN.clear()
    body = _sse(events) if body is None else body
    pieces = [b"data: " + e + b"\n\n" for e in events] + [b"data: [DONE]\n\n"] if by_event else None
    plain, none, n0 = _relay(body, relay=False, cut=cut, pieces=pieces)
    fast, got, n1 = _relay(body, relay=True, cut=cut, pieces=pieces)
    assert not none
    assert fast == plain
    if relayed is not None:
        assert _n(got) == relayed
    assert _state(n1) == _state(n0)
    for _ in range(2):  # the next streams of the model: whole reads recognized where they can be
        again, got, n2 = _relay(body, relay=True, cut=cut, pieces=pieces)
        assert again == plain
        assert _state(n2) == _state(n0)
    _same_usage_frame(n0, n2)
    return got


def _same_usage_frame(*normalizers: StreamNormalizer) -> None:
    """The usage chunk's frame, written around the relayed members or encoded whole, is ``frame`` of the chunk."""
    for n in normalizers:
        usages = [n.usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, {"note": "é\u2028"}]
        for usage in usages:
            for cost in (None, "0", "0.0012"):
                assert n.usage_frame(usage, cost) == frame(n.usage_chunk(usage, cost))


def test_a_stream_of_plain_text_is_relayed_as_bytes_and_reads_the_same() -> None:
    texts = ["Hello", " world", "", "!", " a/b {c} [d] ~"]
    events = [orjson.dumps(_chunk({"role": "assistant", "content": ""}))]
    events += [orjson.dumps(_chunk({"content": t})) for t in texts]
    events += [orjson.dumps(_chunk({}, "stop"))]
    events += [orjson.dumps({**HEAD, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5}})]
    _same(events, relayed=len(texts) - 1)  # the first text chunk teaches the shape
    _same(events, relayed=len(texts) - 1, cut=7)  # however the network cut the bytes


def test_text_that_json_writes_otherwise_is_decoded() -> None:
    texts = ["first", 'say "hi"', "back\\slash", "caf\u00e9", "tab\there", "line\nbreak", "\u2028", "ok", "\x7f"]
    events = [orjson.dumps(_chunk({"role": "assistant", "content": ""}))]
    events += [orjson.dumps(_chunk({"content": t})) for t in texts]
    _same(events, relayed=1)  # only "ok"
    # Escapes an upstream may write where orjson would not (the same text) are decoded too.
    events.append(orjson.dumps(_chunk({"content": "x"})).replace(b'"x"', b'"\\u0078"'))
    _same(events, relayed=1)


def test_chunks_of_another_shape_are_decoded() -> None:
    first = orjson.dumps(_chunk({"role": "assistant", "content": ""}))
    text = orjson.dumps(_chunk({"content": "a"}))
    others = [
        orjson.dumps({**_chunk({"content": "b"}), "id": "chatcmpl-2"}),  # another id: stamped with the first's
        orjson.dumps(_chunk({"content": "c"}, usage=None)),  # a usage member, even null, is removed
        orjson.dumps(_chunk({"content": "d"}, "stop")),  # a finish reason
        orjson.dumps(_chunk({"content": "e", "tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})),
        orjson.dumps(_chunk({"content": "f"})).replace(b'"fp_1"', b'"fp_2"'),  # another member's value
        orjson.dumps(_chunk({"content": "g"})).replace(b'{"index":0,', b'{ "index":0,'),  # not as orjson writes it
        orjson.dumps(_chunk({"content": "h"})).replace(b"}]}", b'}],"choices":[]}'),  # a member repeated
    ]
    _same([first, text, *others, text], relayed=1)


def test_a_stream_whose_first_text_chunk_is_not_plain_learns_from_a_later_one() -> None:
    events = [orjson.dumps(_chunk({"role": "assistant", "content": ""}))]
    events += [orjson.dumps(_chunk({"content": 'q"'})), orjson.dumps(_chunk({"content": "a"}))]
    events += [orjson.dumps(_chunk({"content": "b"}))] * 3
    _same(events, relayed=3)


def test_a_stream_without_an_id_is_never_relayed_as_bytes() -> None:
    events = [orjson.dumps({**_chunk({"content": t}), "id": ""}) for t in ["a", "b", "c"]]
    _, got, normalizer = _relay(_sse(events), relay=True)  # the gateway makes the id up
    assert not got and normalizer.content_chunks == 3


def test_consumers_of_single_chunks_get_them_decoded() -> None:
    events = [orjson.dumps(_chunk({"content": t})) for t in ["a", "b", "c", "d", "e"]]
    body = _sse(events)
    reads = SSEChunkReads(_Body([body]), "test", relay=True)  # type: ignore[arg-type]
    normalizer = StreamNormalizer("public/model")
    batch = asyncio.run(reads.next_batch())
    relayed = [c for c in normalizer.feed_batch(batch) if type(c) is RelayedDelta]
    assert relayed

    async def batches() -> Any:
        yield relayed

    async def run() -> list[dict[str, Any]]:
        return [c async for c in _one_by_one(batches())]

    chunks = asyncio.run(run())
    assert chunks == [orjson.loads(e) for c in relayed for e in c.encoded.split(EVENT_SEP)]
    assert len(chunks) == 3
    assert chunks[0]["model"] == "public/model" and chunks[0]["choices"][0]["delta"] == {"content": "c"}


def test_the_next_stream_of_a_model_relays_its_text_from_the_first_chunk() -> None:
    events = [orjson.dumps(_chunk({"role": "assistant", "content": ""}))]
    events += [orjson.dumps(_chunk({"content": t})) for t in ["a", "b", "c"]]
    plain = _relay(_sse(events), relay=False)[0]
    assert _n(_relay(_sse(events), relay=True)[1]) == 2  # the first text chunk teaches the shape
    second = {**HEAD, "id": "chatcmpl-2", "created": 1700000001}  # another stream of the same model
    again = [orjson.dumps({**orjson.loads(e), **second}) for e in events]
    fast, got, _ = _relay(_sse(again), relay=True)
    assert _n(got) == 3 and fast == _relay(_sse(again), relay=False)[0]
    assert fast == plain.replace(b"chatcmpl-1", b"chatcmpl-2").replace(b"1700000000", b"1700000001")
    # A stream of that model whose chunks look otherwise is decoded, and teaches its own shape.
    other = [e.replace(b'"fp_1"', b'"fp_other"') for e in events]
    fast, got, _ = _relay(_sse(other), relay=True)
    assert _n(got) == 2 and fast == _relay(_sse(other), relay=False)[0]


def test_a_read_of_many_text_chunks_is_relayed_in_runs_and_reads_the_same() -> None:
    """Runs of text chunks between other chunks, read whole or cut anywhere, give the same bytes."""
    text = [orjson.dumps(_chunk({"content": t})) for t in ["a", " b", "{c}", "d/e", " ", "~f"]]
    others = [
        orjson.dumps(_chunk({"content": "caf\u00e9"})),  # unicode
        orjson.dumps(_chunk({"content": "x"})).replace(b'"x"', b'"\\u0078"'),  # an escape orjson would not write
        orjson.dumps(_chunk({"content": "y"})).replace(b'{"index":0,', b'{ "index":0,'),  # odd whitespace
        orjson.dumps(_chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{"}}]})),
        orjson.dumps(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]})),
        orjson.dumps(  # two choices
            {
                **HEAD,
                "choices": [
                    {"index": 0, "delta": {"content": "m"}, "finish_reason": None},
                    {"index": 1, "delta": {"content": "n"}, "finish_reason": None},
                ],
            }
        ),
    ]
    events = [orjson.dumps(_chunk({"role": "assistant", "content": ""})), text[0]]
    for other in others:
        events += text + [other]
    events += text + [orjson.dumps(_chunk({}, "stop"))]
    events += [orjson.dumps({**HEAD, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 9}})]
    relayed = len(text) * (len(others) + 1)
    for cut in (0, 1, 5, 64, 333):
        _same(events, relayed=relayed, cut=cut)
    _KNOWN.clear()
    _, got, _ = _relay(_sse(events), relay=True)
    assert len(got) == len(others) + 1  # one object a run when the read holds the whole body


ROLE = orjson.dumps(_chunk({"role": "assistant", "content": ""}))
STOP = orjson.dumps(_chunk({}, "stop"))
USAGE = orjson.dumps(
    {**HEAD, "system_fingerprint": "fp_1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
)
TEXTS = [orjson.dumps(_chunk({"content": t})) for t in ["Hi", " there", "", "{x}", " ~/a"]]


def test_a_read_of_nothing_but_known_shapes_is_one_object_after_the_first_stream() -> None:
    events = [ROLE, *TEXTS, STOP, USAGE]
    _same(events)
    got = _relay(_sse(events), relay=True)[1]  # the model's shapes are known now
    assert [type(c) for c in got] == [RelayedRead] and got[0].first is not None and got[0].finish is not None
    assert len(got[0].raw) == len(TEXTS) and got[0].texts == ["Hi", " there", "{x}", " ~/a"]
    assert got[0].usage == {"prompt_tokens": 3, "completion_tokens": 4}
    # Another stream of the model (its own id, time and usage) reads the same as decoding it.
    other = {"id": "chatcmpl-9", "created": 1700000009}
    again = [orjson.dumps({**orjson.loads(e), **other}) for e in events[:-1]]
    again.append(orjson.dumps({**orjson.loads(USAGE), **other, "usage": {"prompt_tokens": 7, "total_tokens": 9}}))
    plain, _, n0 = _relay(_sse(again), relay=False)
    fast, got, n1 = _relay(_sse(again), relay=True)
    assert fast == plain and _state(n1) == _state(n0) and [type(c) for c in got] == [RelayedRead]


@pytest.mark.parametrize("cut", [0, 1, 3, 64, 333])
def test_reads_of_known_shapes_cut_anywhere_read_the_same(cut: int) -> None:
    _same([ROLE, *TEXTS, STOP, USAGE], cut=cut)
    _same([ROLE, *TEXTS, STOP, USAGE], by_event=True)
    _same([*TEXTS, STOP], cut=cut)  # no role chunk, no usage
    _same([ROLE, STOP, USAGE], cut=cut)  # no text


def test_crlf_line_ends_read_the_same() -> None:
    events = [ROLE, *TEXTS, STOP, USAGE]
    body = _sse(events).replace(b"\n", b"\r\n")
    got = _same(events, body=body)
    assert [type(c) for c in got] == [RelayedRead]
    for cut in (1, 2, 5, 100):
        _same(events, body=body, cut=cut)


def test_other_lines_inside_a_read_of_known_shapes_read_the_same() -> None:
    """A read of whole ``data:`` events is split at its event boundaries first; lines inside an event
    (another field, a comment, a second data line) are still read as decoding every chunk reads them."""
    events = [ROLE, *TEXTS, STOP, USAGE]
    body = _sse(events)
    for odd in (
        body.replace(TEXTS[1] + b"\n\n", TEXTS[1] + b"\nid: 4\n\n"),
        body.replace(STOP + b"\n\n", STOP + b"\n: note\n\n"),
        body.replace(b'"completion_tokens"', b'\ndata: "completion_tokens"'),  # the usage on two data lines
    ):
        for cut in (0, 9):
            _same(events, body=odd, cut=cut)
    # A line of another field inside the usage: the event ends before it, and is no JSON either way.
    odd = body.replace(b'"completion_tokens"', b'\n"completion_tokens"')
    _same(events)  # the model's shapes known
    for relay in (False, True):
        with pytest.raises(UpstreamError, match="not JSON"):
            _relay(odd, relay=relay)


def test_chunks_of_other_shapes_among_known_ones_read_the_same() -> None:
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":'}}
    odd = [
        orjson.dumps(_chunk({"content": "caf\u00e9 \U0001f600"})),  # unicode, split anywhere by the cuts
        orjson.dumps(_chunk({"content": "x"})).replace(b'"x"', b'"\\u0078"'),  # an escape orjson would not write
        orjson.dumps(_chunk({"content": "y"})).replace(b'{"index":0,', b'{ "index":0,'),  # odd whitespace
        orjson.dumps(_chunk({"tool_calls": [call]})),
        orjson.dumps(_chunk({"tool_calls": [{"index": 0, "id": "c2", "function": {"name": "g", "arguments": "1}"}}]})),
        orjson.dumps(
            {**HEAD, "choices": [{"index": i, "delta": {"content": "m"}, "finish_reason": None} for i in (0, 1)]}
        ),
        orjson.dumps(_chunk({"content": "z"}, usage={"prompt_tokens": 1})),  # usage in a text chunk
    ]
    finishes = [
        STOP,
        orjson.dumps(_chunk({}, "length")),
        orjson.dumps({**HEAD, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": "END"}]}),
        orjson.dumps(
            {**HEAD, "choices": [{"index": 0, "delta": {}, "logprobs": {"content": []}, "finish_reason": "stop"}]}
        ),
        orjson.dumps(_chunk({"content": "last"}, "stop")),  # text in the finish chunk
    ]
    usages = [
        USAGE,
        USAGE.replace(b"}}", b'},"extra":1}'),  # a member after the usage
        USAGE.replace(b'"usage":{', b'"usage": {'),
        orjson.dumps({**HEAD, "choices": [], "usage": None}),
    ]
    for other in odd:
        for cut in (0, 1, 7, 64):
            _same([ROLE, *TEXTS, other, *TEXTS, STOP, USAGE], cut=cut)
            _same([*TEXTS, other, STOP, USAGE], cut=cut)  # no role chunk: a text chunk first
        _same([ROLE, *TEXTS, other, *TEXTS, STOP, USAGE], by_event=True)
    for finish in finishes:
        for usage in usages:
            for cut in (0, 5):
                _same([ROLE, *TEXTS, finish, usage], cut=cut)
                # The model's shapes learned from a plain stream, then this one.
                _KNOWN.clear()
                _relay(_sse([ROLE, *TEXTS, STOP, USAGE]), relay=True)
                body = _sse([ROLE, *TEXTS, finish, usage])
                plain, _, n0 = _relay(body, relay=False, cut=cut)
                fast, _, n1 = _relay(body, relay=True, cut=cut)
                assert fast == plain and _state(n1) == _state(n0)


def test_a_finish_after_tool_calls_is_read_as_the_normalizer_reads_it() -> None:
    """Calls held by the normalizer when a recognized finish chunk comes: they are flushed before it."""
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    _same([ROLE, *TEXTS, STOP, USAGE])  # the model's shapes
    events = [ROLE, orjson.dumps(_chunk({"tool_calls": [call]})), *TEXTS, STOP, USAGE]
    pieces = [_sse(events[:2])[: -len(b"data: [DONE]\n\n")], _sse(events[2:])]
    plain, _, n0 = _relay(b"", relay=False, pieces=pieces)
    fast, got, n1 = _relay(b"", relay=True, pieces=pieces)
    assert fast == plain and _state(n1) == _state(n0)
    assert n1.finish_reason == "stop" and n1.tool_calls and b'"finish_reason":"tool_calls"' in fast
    assert any(type(c) is RelayedRead for c in got)


def test_a_read_the_scan_gives_up_on_still_relays_its_text_runs() -> None:
    """A read of a known model that is not all known shapes: its text chunks are still matched one by one,
    after tool calls, and with a text shape the stream teaches itself in the middle of the read."""
    _same([ROLE, *TEXTS, STOP, USAGE])  # the model's shapes
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
    calls = [orjson.dumps(_chunk({"tool_calls": [call]}))]
    calls += [orjson.dumps(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": str(i)}}]})) for i in range(5)]
    # Another fingerprint: the first of these text chunks is decoded and teaches the rest of the read.
    other = [orjson.dumps({**orjson.loads(e), "system_fingerprint": "fp_2"}) for e in TEXTS]
    for events, relayed in (([ROLE, *calls, *TEXTS, STOP, USAGE], len(TEXTS)), ([ROLE, *other, STOP], len(TEXTS) - 1)):
        plain, _, n0 = _relay(_sse(events), relay=False)
        fast, got, n1 = _relay(_sse(events), relay=True)
        assert fast == plain and _state(n1) == _state(n0)
        assert _n(got) == relayed


def test_a_first_chunk_whose_leading_members_are_not_plain_is_decoded() -> None:
    _same([ROLE, *TEXTS, STOP, USAGE])
    odd = (
        {"id": "chatcmpl-\u00e9"},
        {"id": 'a"b'},
        {"id": "a\\b"},
        {"id": "a\x7fb"},
        {"created": -5},
        {"created": 7},
        {"model": "up\\model"},
        {"model": "up\x7fmodel"},
        {"model": "caf\u00e9"},
    )
    # Each twice: the second stream of an odd model name finds what the first taught of it.
    for other in (o for o in odd for _ in range(2)):
        events = [orjson.dumps({**orjson.loads(e), **other}) for e in (ROLE, *TEXTS, STOP, USAGE)]
        body = _sse(events)
        plain, _, n0 = _relay(body, relay=False)
        fast, _, n1 = _relay(body, relay=True)
        assert fast == plain and (n1.content_chunks, n1.text_parts, n1.usage) == (
            n0.content_chunks,
            n0.text_parts,
            n0.usage,
        )


def test_text_chunks_naming_another_model_than_the_first_chunk_keep_their_own_bytes() -> None:
    # The first stream teaches model A's shapes; the next one's first chunk names A, its text chunks B (another
    # shape). Whatever B's chunks teach, the client must get B's bytes around each text, not A's.
    events = [orjson.dumps(_chunk({"role": "assistant", "content": ""}))]
    events += [orjson.dumps(_chunk({"content": t})) for t in ["hi", "yo"]]
    _relay(_sse(events), relay=True)
    other = {**HEAD, "model": "other-model"}
    mixed = [events[0]] + [
        orjson.dumps({**_chunk({"content": t}, system_fingerprint="fp_other"), **other}) for t in ["a", "b", "c"]
    ]
    for split in ([1, 1, 2], [1, 2, 1], [2, 2]):
        pieces, at = [], 0
        for n in split:
            pieces.append(b"".join(b"data: " + e + b"\n\n" for e in mixed[at : at + n]))
            at += n
        pieces[-1] += b"data: [DONE]\n\n"
        plain, _, n0 = _relay(b"", relay=False, pieces=pieces)
        fast, _, n1 = _relay(b"", relay=True, pieces=pieces)
        assert b"fp_other" in plain
        assert fast == plain
        assert _state(n1) == _state(n0)
