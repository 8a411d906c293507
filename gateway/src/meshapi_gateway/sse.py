"""Server-sent events both ways: framing what we send, parsing what upstreams send.

Outgoing frames follow docs/wire.md, SSE framing: ``data: <ascii json>\\n\\n``, one whole frame per
write, optional ``event:`` line. Incoming streams are parsed on bytes (lines split on
``\\n`` only, a trailing ``\\r`` dropped), so nothing depends on how the network cut them.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from meshapi_gateway.observability.record import note_error
from meshapi_gateway.providers.chunk_batches import RelayedDelta
from meshapi_gateway.wire_json import dumps, dumps_ascii, escape_non_ascii

DONE_FRAME = b"data: [DONE]\n\n"
HEARTBEAT_FRAME = b": keep-alive\n\n"


def frame(payload: Any, event: str | None = None) -> bytes:
    data = payload if isinstance(payload, bytes) else dumps_ascii(payload)
    if event:
        return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


def frames(payloads: list[Any]) -> bytes:
    """``frame`` for each of several JSON payloads, made at once (a relay writes them together).

    A ``RelayedDelta`` is already encoded (``providers/relayed_text.py``), in ASCII: a read relayed
    whole is one, framed without a list made or a check for other characters.
    """
    if len(payloads) == 1:
        only = payloads[0]
        if type(only) is RelayedDelta:
            return b"data: " + only.encoded + b"\n\n"
    data = (
        b"data: " + b"\n\ndata: ".join([p.encoded if type(p) is RelayedDelta else dumps(p) for p in payloads]) + b"\n\n"
    )
    return data if data.isascii() else escape_non_ascii(data)


def error_frame(code: str, message: str, **extra: Any) -> bytes:
    note_error(code)
    err: dict[str, Any] = {"code": code, "message": message}
    err.update({k: v for k, v in extra.items() if v is not None})
    return frame({"error": err})


class SSEEvent:
    """One event. ``more`` is True when further events of the same network read follow at once.

    Relays use it to write everything one read brought in a single socket write, without
    ever holding an event back waiting for the network.
    """

    __slots__ = ("data", "event", "more")

    def __init__(self, event: str, data: str, more: bool = False) -> None:
        self.event = event
        self.data = data
        self.more = more


class SSEParser:
    """Events from bytes fed as they arrive: ``feed`` returns the events each piece completed.

    A relay calls it once per network read, so everything one read brought is handled (and
    written) together without a generator step per event.
    """

    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        start = 0
        ready: list[SSEEvent] = []
        data = self._data
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if line[-1:] == b"\r":
                line = line[:-1]
            if not line:
                if data:
                    ready.append(SSEEvent(self._event, data[0] if len(data) == 1 else "\n".join(data), True))
                    data = self._data = []
                self._event = ""
                continue
            if line[:1] == b":":
                continue
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value.decode("utf-8", "replace"))
            elif field == b"event":
                self._event = value.decode("utf-8", "replace")
        self._buf = buf[start:] if start else buf
        if ready:
            ready[-1].more = False
        return ready

    def close(self) -> list[SSEEvent]:
        """The last event when the stream ended without the blank line that terminates it."""
        buf, self._buf = self._buf, b""
        if buf.strip():
            line = buf.rstrip(b"\r\n")
            field, _, value = line.partition(b":")
            if field == b"data":
                self._data.append((value[1:] if value[:1] == b" " else value).decode("utf-8", "replace"))
        data, self._data = self._data, []
        return [SSEEvent(self._event, "\n".join(data))] if data else []


class SSEDataParser:
    """The ``data`` of each event, as bytes, from bytes fed as they arrive.

    For a reader that needs nothing but the data (an OpenAI-compatible chunk stream): no event
    objects and no decoding (JSON parsers take bytes), and a read's lines split in one call.
    Lines end at ``\n`` with a trailing ``\r`` dropped, as in ``SSEParser``; other fields and
    comments are skipped.
    """

    # Defaults on the class, no ``__init__`` (a Python call per stream): the shared empty list is never
    # added to (``feed`` starts a list of its own).
    _buf = b""
    _data: list[bytes] = []
    # The last read, when ``read_events`` split it at its event boundaries only (else empty): ``settle`` then
    # looks for the line breaks the events may still hold.
    loose = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        events = self.read_events(chunk)
        return self.settle(events) if self.loose else events

    def read_events(self, chunk: bytes) -> list[bytes]:
        """``feed`` but for the look for other line breaks in a read of whole one-line ``data: `` events.

        A relay that recognizes every event of such a read by its bytes (``TextShape.scan``: none holds
        a line break) need not join them back to look; for any other read it calls ``settle``.
        """
        buf = self._buf + chunk if self._buf else chunk
        if buf[:6] == b"data: " and buf[-2:] == b"\n\n" and not self._data and buf.find(b"\r") < 0:
            # The usual read: whole events of one ``data: `` line each. Split at the event
            # boundaries in C; any other newline (a comment, another field, a line of data more)
            # is left in an event, and ``settle`` then reads the lines one by one. (A search for
            # a newline is a vectorized memchr; counting them goes byte by byte. ``find`` rather
            # than ``in``: CPython 3.11 first tries a bytes needle as an integer, and makes and
            # drops a TypeError each time, ≈ 1 k instructions.)
            self._buf = b""
            self.loose = buf
            return buf[6:-2].split(b"\n\ndata: ")
        self.loose = b""  # a read recognized whole leaves its bytes here: they are not this read's
        return self._lines(buf)

    def settle(self, events: list[bytes]) -> list[bytes]:
        """What ``feed`` returns for the read ``read_events`` returned ``events`` for."""
        buf, self.loose = self.loose, b""
        if not buf or (events[0] if len(events) == 1 else b"".join(events)).find(b"\n") < 0:
            return events
        return self._lines(buf)

    def _lines(self, buf: bytes) -> list[bytes]:
        lines = buf.split(b"\n")
        self._buf = lines.pop()  # the unterminated rest (b"" when the piece ended a line)
        ready: list[bytes] = []
        data = self._data = self._data or []
        for line in lines:
            if line[-1:] == b"\r":
                line = line[:-1]
            if not line:
                if data:
                    ready.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data = self._data = []
            elif line[:5] == b"data:":
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line == b"data":
                data.append(b"")
        return ready

    def close(self) -> list[bytes]:
        """The last event when the stream ended without the blank line that terminates it."""
        self.loose = b""
        ready = self.feed(b"\n\n") if self._buf.strip() or self._data else []
        self._buf, self._data = b"", []
        return ready


async def parse_sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[SSEEvent]:
    """Yield events from a byte stream; an unterminated last event is still delivered."""
    parser = SSEParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
    for event in parser.close():
        yield event
