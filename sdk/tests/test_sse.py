"""SSE decoder: WHATWG parsing rules and chunking independence."""

from __future__ import annotations

from typing import List

from hypothesis import given, settings
from hypothesis import strategies as st

from meshapi import ServerSentEvent, SSEDecoder
from meshapi._sse import iter_sse


def decode(*chunks: bytes) -> List[ServerSentEvent]:
    return list(iter_sse(chunks))


def test_basic_and_space_optional() -> None:
    events = decode(b"data: a\n\ndata:b\n\n")
    assert [e.data for e in events] == ["a", "b"]
    assert events[0].event == "message"


def test_only_one_leading_space_is_stripped() -> None:
    assert decode(b"data:  two\n\n")[0].data == " two"


def test_multiline_data_joined_with_lf() -> None:
    assert decode(b"data: a\ndata: b\ndata\n\n")[0].data == "a\nb\n"


def test_crlf_and_cr_line_endings() -> None:
    assert [e.data for e in decode(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n")] == ["a", "b", "c"]


def test_crlf_split_across_reads_is_one_break() -> None:
    # "\r" ends one read and "\n" starts the next: still one line break, so
    # only one event (a lone "\r" + "\n" would otherwise be a blank line).
    events = decode(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n")
    assert [e.data for e in events] == ["a\nb"]


def test_event_id_retry_fields() -> None:
    (ev,) = decode(b"event: delta\nid: 7\nretry: 1500\ndata: x\n\n")
    assert (ev.event, ev.id, ev.retry, ev.data) == ("delta", "7", 1500, "x")


def test_event_name_resets_but_last_id_persists() -> None:
    a, b = decode(b"event: e1\nid: 1\ndata: x\n\ndata: y\n\n")
    assert (a.event, a.id) == ("e1", "1")
    assert (b.event, b.id) == ("message", "1")


def test_invalid_retry_and_id_with_nul_are_ignored() -> None:
    (ev,) = decode(b"retry: 12a\nid: a\x00b\ndata: x\n\n")
    assert ev.retry is None and ev.id is None


def test_comments_and_unknown_fields_ignored() -> None:
    events = decode(b": keep-alive\n\nfoo: bar\ndata: x\n\n")
    assert [e.data for e in events] == ["x"]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode(b"event: ping\n\n") == []


def test_empty_data_line_dispatches_empty_string() -> None:
    assert [e.data for e in decode(b"data\n\n", b"data:\n\n")] == ["", ""]


def test_last_event_without_blank_line_is_flushed() -> None:
    assert [e.data for e in decode(b"data: a\n\ndata: b")] == ["a", "b"]
    assert [e.data for e in decode(b"data: a\n\ndata: b\n")] == ["a", "b"]


def test_utf8_split_across_reads() -> None:
    raw = "data: héllo — 世界 🚀\n\n".encode()
    chunks = [raw[i : i + 1] for i in range(len(raw))]
    assert decode(*chunks)[0].data == "héllo — 世界 🚀"


def test_unicode_line_separators_inside_data_do_not_split() -> None:
    raw = 'data: {"t": "a\u2028b\u2029c\x85d"}\n\n'.encode()
    assert decode(raw)[0].data == '{"t": "a\u2028b\u2029c\x85d"}'


def test_bom_is_stripped_even_when_split() -> None:
    assert decode(b"\xef", b"\xbb", b"\xbfdata: x\n\n")[0].data == "x"


def test_large_event_in_small_reads() -> None:
    payload = b"x" * (1 << 20)
    raw = b"data: " + payload + b"\n\n"
    decoder = SSEDecoder()
    events: List[ServerSentEvent] = []
    for i in range(0, len(raw), 64):
        events += decoder.feed(raw[i : i + 64])
    events += decoder.flush()
    assert len(events) == 1 and len(events[0].data) == len(payload)


_line = st.sampled_from(
    [
        b"data: hello",
        b"data:x",
        b"data",
        "data: é世🚀".encode(),
        b"event: delta",
        b"id: 42",
        b"retry: 100",
        b": comment",
        b"field: ignored",
        b"",
        b'data: {"a": [1, 2]}',
    ]
)
_eol = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def _stream_and_splits(draw: st.DrawFn) -> tuple:
    lines = draw(st.lists(st.tuples(_line, _eol), max_size=30))
    raw = b"".join(line + eol for line, eol in lines)
    if draw(st.booleans()):
        raw += draw(_line)  # unterminated last line
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=20)))
    return raw, cuts


@settings(max_examples=300, deadline=None)
@given(_stream_and_splits())
def test_any_split_yields_same_events(case: tuple) -> None:
    raw, cuts = case
    whole = decode(raw)
    chunks = []
    prev = 0
    for cut in [*cuts, len(raw)]:
        chunks.append(raw[prev:cut])
        prev = cut
    assert decode(*chunks) == whole
    # and byte by byte
    assert decode(*[raw[i : i + 1] for i in range(len(raw))]) == whole


def _reference(raw: bytes) -> List[ServerSentEvent]:
    """A direct, non-incremental reading of the WHATWG rules on the whole text."""
    import re

    text = raw.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split("\r\n|\r|\n", text)
    events: List[ServerSentEvent] = []
    data: List[str] = []
    event = ""
    last_id = None
    retry = None
    for line in [*lines, ""]:  # the trailing "" flushes a pending event at EOF
        if line == "":
            if data:
                events.append(ServerSentEvent("\n".join(data), event or "message", last_id, retry))
            data, event, retry = [], "", None
            continue
        if line.startswith(":"):
            continue
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "id" and "\0" not in value:
            last_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            retry = int(value)
    return events


@settings(max_examples=300, deadline=None)
@given(_stream_and_splits())
def test_decoder_matches_reference_reading(case: tuple) -> None:
    raw, _ = case
    assert decode(raw) == _reference(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=10))
def test_arbitrary_bytes_never_crash_and_split_invariant(raw: bytes, cuts: List[int]) -> None:
    cuts = sorted(c for c in cuts if c <= len(raw))
    chunks, prev = [], 0
    for cut in [*cuts, len(raw)]:
        chunks.append(raw[prev:cut])
        prev = cut
    assert decode(*chunks) == decode(raw)
