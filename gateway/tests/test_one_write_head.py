"""``OneWriteCycle`` writes the bytes uvicorn's own cycle writes, and ends in the same state, for any answer.

Both cycles get the same messages over a recording transport; the one-write cycle builds the
usual answer's head itself (``one_write.py``), so every kind of head is compared with uvicorn's.
A stream's body pieces handed to ``write_chunk`` (the SSE response's direct write, falling back
to ``send`` when it declines) are compared with uvicorn's ``send`` the same way.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from meshapi_gateway.one_write import OneWriteCycle

DATE = [(b"date", b"Mon, 07 Dec 2026 00:00:00 GMT")]


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _run(
    cls: type[RequestResponseCycle], messages: list[Any], method: str, keep_alive: bool, direct: bool = False
) -> dict[str, Any]:
    transport = Transport()
    done: list[bool] = []
    cycle = cls(
        scope={"method": method},  # type: ignore[arg-type, typeddict-item]
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=list(DATE),
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: done.append(True),
    )
    error = None
    try:
        for message in messages:
            if direct and message["type"] == "http.response.body":
                assert isinstance(cycle, OneWriteCycle)
                if cycle.write_chunk(message.get("body", b""), message.get("more_body", False)):
                    continue
            await cycle.send(message)
    except Exception as exc:  # compared, not expected
        error = (type(exc), str(exc))
    return {
        "bytes": b"".join(transport.writes),
        "writes": len(transport.writes),
        "closed": transport.closed,
        "error": error,
        "done": done,
        "event": cycle.message_event.is_set(),
        "state": (
            cycle.response_started,
            cycle.response_complete,
            cycle.chunked_encoding,
            cycle.expected_content_length,
            cycle.keep_alive,
            cycle.waiting_for_100_continue,
        ),
    }


def _start(headers: list[tuple[bytes, bytes]], status: int = 200) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers}


def _body(body: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": body, "more_body": more}


JSON = (b"content-type", b"application/json")
CASES = {
    "usual answer": ([_start([JSON, (b"content-length", b"5"), (b"x-a", b"b")]), _body(b"hello")], "POST", True),
    "client asked to close": ([_start([JSON, (b"content-length", b"5")]), _body(b"hello")], "POST", False),
    "two length headers": (
        [_start([(b"Content-Length", b"5"), (b"content-length", b"7")]), _body(b"hello")],
        "POST",
        True,
    ),
    "connection close header": (
        [_start([(b"content-length", b"2"), (b"connection", b"close")]), _body(b"hi")],
        "POST",
        True,
    ),
    "chunked": ([_start([(b"transfer-encoding", b"chunked")]), _body(b"hi", True), _body(b"")], "POST", True),
    "no length": ([_start([JSON]), _body(b"hi")], "POST", True),
    "a stream": (
        [_start([(b"content-type", b"text/event-stream")]), _body(b"data: 1\n\n", True), _body(b"", False)],
        "POST",
        True,
    ),
    "a stream, client asked to close": (
        [_start([(b"content-type", b"text/event-stream")]), _body(b"data: 1\n\n", True), _body(b"x")],
        "POST",
        False,
    ),
    "204 without a length": ([_start([JSON], 204), _body(b"")], "POST", True),
    "304 without a length": ([_start([], 304), _body(b"")], "POST", True),
    "zero length": ([_start([(b"content-length", b"0")]), _body(b"")], "POST", True),
    "HEAD": ([_start([(b"content-length", b"5")]), _body(b"")], "HEAD", True),
    "204": ([_start([(b"content-length", b"3")], 204), _body(b"abc")], "POST", True),
    "body in pieces": ([_start([(b"content-length", b"4")]), _body(b"ab", True), _body(b"cd")], "POST", True),
    "body too short": ([_start([(b"content-length", b"4")]), _body(b"ab")], "POST", True),
    "body too long": ([_start([(b"content-length", b"1")]), _body(b"ab")], "POST", True),
    "odd length value": ([_start([(b"content-length", b" 2")]), _body(b"hi")], "POST", True),
    "bad value": ([_start([(b"content-length", b"2"), (b"x-a", b"a\nb")]), _body(b"hi")], "POST", True),
    "tab and high bytes in a value": (
        [_start([(b"content-length", b"2"), (b"x-a", b"a\tb\xff")]), _body(b"hi")],
        "POST",
        True,
    ),
    "bad name": ([_start([(b"content-length", b"2"), (b"x a", b"b")]), _body(b"hi")], "POST", True),
    "bytearray name and value": (
        [_start([(b"content-length", b"2"), (bytearray(b"x-a"), bytearray(b"b"))]), _body(b"hi")],
        "POST",
        True,
    ),
    "long value": ([_start([(b"content-length", b"2"), (b"x-a", b"v" * 5000)]), _body(b"hi")], "POST", True),
    "a stream in pieces": (
        [_start([(b"content-type", b"text/event-stream")]), _body(b"a", True), _body(b"", True), _body(b"bc")],
        "POST",
        True,
    ),
    "a stream, one last piece": ([_start([(b"content-type", b"text/event-stream")]), _body(b"x" * 300)], "POST", True),
    "a stream, empty end": ([_start([(b"content-type", b"text/event-stream")]), _body(b"")], "POST", False),
    "a stream, a piece after the end": (
        [_start([(b"content-type", b"text/event-stream")]), _body(b"a"), _body(b"b")],
        "POST",
        True,
    ),
    "a stream to HEAD": ([_start([(b"content-type", b"text/event-stream")]), _body(b"a")], "HEAD", True),
    "pairs as lists": ([_start([[b"content-length", b"2"], [b"x-a", b"b"]]), _body(b"hi")], "POST", True),
    "upper-case names": (
        [_start([(b"Content-Type", b"text/plain"), (b"X-A", b"b"), (b"Content-Length", b"2")]), _body(b"hi")],
        "POST",
        True,
    ),
    "a connection header after known ones": (
        [_start([JSON, (b"x-a", b"b"), (b"Connection", b"close"), (b"content-length", b"2")]), _body(b"hi")],
        "POST",
        True,
    ),
    "unknown status": ([_start([(b"content-length", b"2")], 999), _body(b"hi")], "POST", True),
    "body first": ([_body(b"hi")], "POST", True),
    "start twice": ([_start([(b"content-length", b"2")]), _start([(b"content-length", b"2")])], "POST", True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_bytes_and_state_as_uvicorn(case: str) -> None:
    messages, method, keep_alive = CASES[case]
    ours = asyncio.run(_run(OneWriteCycle, messages, method, keep_alive))
    theirs = asyncio.run(_run(RequestResponseCycle, messages, method, keep_alive))
    writes = ours.pop("writes"), theirs.pop("writes")
    assert ours == theirs
    if case in ("usual answer", "client asked to close", "two length headers"):
        assert writes == (1, 2)  # head and body together
    if case.startswith("a stream"):
        assert writes[0] == writes[1]  # the head at once, each piece as it comes


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_head_seen_before_is_written_the_same(case: str) -> None:
    # Header lines are kept once checked (one_write.py): the second answer with them reads them back.
    messages, method, keep_alive = CASES[case]
    first = asyncio.run(_run(OneWriteCycle, messages, method, keep_alive))
    again = asyncio.run(_run(OneWriteCycle, messages, method, keep_alive))
    theirs = asyncio.run(_run(RequestResponseCycle, messages, method, keep_alive))
    first.pop("writes"), again.pop("writes"), theirs.pop("writes")
    assert first == again == theirs


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_direct_write_gives_uvicorns_bytes_and_state(case: str) -> None:
    messages, method, keep_alive = CASES[case]
    ours = asyncio.run(_run(OneWriteCycle, messages, method, keep_alive, direct=True))
    theirs = asyncio.run(_run(RequestResponseCycle, messages, method, keep_alive))
    writes = ours.pop("writes"), theirs.pop("writes")
    assert ours == theirs
    if case.startswith("a stream") and case != "a stream, a piece after the end":
        assert writes[0] == writes[1]


def test_a_direct_write_declines_a_paused_or_gone_client() -> None:
    async def run() -> None:
        transport = Transport()
        cycle = OneWriteCycle(
            scope={"method": "POST"},  # type: ignore[arg-type, typeddict-item]
            transport=transport,  # type: ignore[arg-type]
            flow=FlowControl(transport),  # type: ignore[arg-type]
            logger=logging.getLogger("test"),
            access_logger=logging.getLogger("test.access"),
            access_log=False,
            default_headers=list(DATE),
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=True,
            on_response=lambda: None,
        )
        await cycle.send(_start([(b"content-type", b"text/event-stream")]))
        head = len(transport.writes)
        cycle.flow.pause_writing()
        assert not cycle.write_chunk(b"a", True)  # uvicorn's send waits for the client to read
        cycle.flow.resume_writing()
        assert cycle.write_chunk(b"a", True)
        cycle.disconnected = True
        assert not cycle.write_chunk(b"b", False)  # uvicorn's send drops it
        assert transport.writes[head:] == [b"1\r\na\r\n"]
        assert not cycle.response_complete

    asyncio.run(run())
