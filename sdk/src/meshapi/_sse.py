"""Incremental Server-Sent Events decoder working on bytes.

Exists because the 0.1.0 SDK decoded every network read on its own (breaking
multi-byte characters), split frames only on a literal ``"\\n\\n"`` and dropped
anything it did not expect. This decoder follows the WHATWG event-stream
parsing rules, splits on bytes (CR and LF never occur inside a UTF-8
multi-byte sequence, so no character can be cut) and keeps only the
unterminated tail of the input, which makes it linear in the input size no
matter how the bytes are chunked.

One deliberate deviation from the WHATWG text: an event that is still pending
when the stream ends (no blank line after it) is dispatched by :meth:`flush`
instead of being discarded, because gateways do end streams that way and
losing the last event silently was one of the 0.1.0 bugs.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, List, Optional

__all__ = ["SSEDecoder", "ServerSentEvent", "iter_sse"]

_BOM = b"\xef\xbb\xbf"
# Only used when a chunk contains CR: LF-only streams take the faster
# ``bytearray.split`` path.
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class ServerSentEvent:
    """One dispatched event: ``event`` defaults to ``"message"`` as in browsers."""

    __slots__ = ("data", "event", "id", "retry")

    def __init__(
        self,
        data: str = "",
        event: str = "message",
        id: Optional[str] = None,
        retry: Optional[int] = None,
    ) -> None:
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (self.event, self.data, self.id, self.retry) == (
            other.event,
            other.data,
            other.id,
            other.retry,
        )

    def __hash__(self) -> int:
        return hash((self.event, self.data, self.id, self.retry))

    def __repr__(self) -> str:
        return f"ServerSentEvent(event={self.event!r}, data={self.data!r}, id={self.id!r}, retry={self.retry!r})"


class SSEDecoder:
    """Feed raw bytes with :meth:`feed`, call :meth:`flush` at end of stream."""

    __slots__ = ("_bom_checked", "_buf", "_data", "_event", "_last_id", "_plain", "_retry", "_skip_lf")

    def __init__(self) -> None:
        self._buf = bytearray()
        # The previous chunk ended in CR: a LF at the start of the next chunk
        # belongs to the same CRLF line break.
        self._skip_lf = False
        self._bom_checked = False
        # True when a chunk without CR/LF can simply be appended (BOM already
        # handled and no pending CR whose LF may start the next chunk).
        self._plain = False
        self._data: List[bytes] = []
        self._event: Optional[str] = None
        self._last_id: Optional[str] = None
        self._retry: Optional[int] = None

    @property
    def last_event_id(self) -> Optional[str]:
        return self._last_id

    def feed(self, chunk: bytes) -> List[ServerSentEvent]:
        """Consume one read; return the events it completed (often none)."""
        if self._plain and b"\n" not in chunk and b"\r" not in chunk:
            # Hot path for large events delivered in small reads: the buffer
            # never holds a line break, so appending is all there is to do.
            self._buf += chunk
            return []
        return self._feed(chunk)

    def _feed(self, chunk: bytes) -> List[ServerSentEvent]:
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 10:
                chunk = chunk[1:]
                if not chunk:
                    self._plain = self._bom_checked
                    return []
        buf = self._buf
        buf += chunk
        if not self._bom_checked:
            if len(buf) < 3 and _BOM.startswith(buf):
                return []
            self._bom_checked = True
            if buf.startswith(_BOM):
                del buf[:3]
        lines: List[Any]
        if b"\r" in buf:
            lines = _LINE_BREAK.split(buf)
            self._skip_lf = buf.endswith(b"\r")
        else:
            lines = buf.split(b"\n")
        self._plain = not self._skip_lf
        self._buf = bytearray(lines.pop())
        if not lines:
            return []
        events: List[ServerSentEvent] = []
        for line in lines:
            self._line(line, events)
        return events

    def flush(self) -> List[ServerSentEvent]:
        """End of stream: process an unterminated last line and pending event."""
        events: List[ServerSentEvent] = []
        if self._buf:
            line = bytes(self._buf)
            self._buf = bytearray()
            if not self._bom_checked and line.startswith(_BOM):
                line = line[3:]
            self._line(line, events)
        self._bom_checked = True
        self._skip_lf = False
        self._plain = True
        self._line(b"", events)
        return events

    def _line(self, line: Any, events: List[ServerSentEvent]) -> None:
        if not line:
            if self._data:
                events.append(
                    ServerSentEvent(
                        b"\n".join(self._data).decode("utf-8", "replace"),
                        self._event or "message",
                        self._last_id,
                        self._retry,
                    )
                )
                self._data = []
            self._event = None
            self._retry = None
            return
        if line[0] == 58:  # ":" starts a comment (used for heartbeats)
            return
        colon = line.find(b":")
        if colon < 0:
            field = bytes(line)
            value = b""
        else:
            field = bytes(line[:colon])
            value = bytes(line[colon + 1 :])
            if value[:1] == b" ":
                value = value[1:]
        if field == b"data":
            self._data.append(value)
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")
        elif field == b"id":
            if b"\x00" not in value:
                self._last_id = value.decode("utf-8", "replace")
        elif field == b"retry":
            if value and value.isdigit():
                self._retry = int(value)
        # Unknown fields are ignored, as the standard requires.


def iter_sse(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """Decode an iterable of byte chunks into events (convenience wrapper)."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.flush()
