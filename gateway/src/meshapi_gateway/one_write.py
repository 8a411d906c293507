"""A response with a known length leaves in one socket write: its head waits for the first body bytes.

uvicorn writes the status line and headers the moment ``http.response.start`` arrives and the
body in a second ``write`` when ``http.response.body`` follows: two system calls per answer, two
TCP segments, and two wake-ups of the client. For an answer whose ``Content-Length`` is known
(every JSON answer of the gateway) the head can wait the few microseconds until the body comes
and both go out together. Answers without a length (streams, chunked bodies) and answers to
``HEAD`` keep uvicorn's behaviour: their head is written at once, so a stream's client sees the
status before the first event.

For the usual answer (a length, no ``Connection`` or ``Transfer-Encoding`` header, a client that
is neither gone nor slow to read) the cycle builds the head itself, the bytes uvicorn would
write, and ends in the state uvicorn leaves it in: uvicorn's ``send`` searched every header
name and value with a regular expression (14 searches an answer) and went through two stand-in
transports. Here a name or value is searched once and remembered (the gateway's answers carry
the same few names, and most values repeat). Anything else goes through uvicorn's own
``send`` as before, so it reads or refuses it itself (``test_one_write_head.py`` compares the
two). ``connection_guard.py`` puts every request's cycle on this class.

A stream whose head the cycle wrote itself may have its body's chunks written by ``write_chunk``:
uvicorn's framing and completion without the message dict and the coroutines of the ``send``
chain (``RequestContext``'s, this class's and uvicorn's). ``RequestContext`` offers it to the
response under ``DIRECT_WRITE`` only when no layer must see the body.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE, RequestResponseCycle

if TYPE_CHECKING:
    from uvicorn._types import ASGISendEvent, HTTPResponseBodyEvent, HTTPResponseStartEvent


class _Capture:
    """Stands in for the transport while uvicorn writes a response head, and keeps the bytes."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: bytes | None = None

    def write(self, data: bytes) -> None:
        self.data = data


class _Prefixed:
    """Stands in for the transport while uvicorn writes the first body bytes: the held head goes first."""

    __slots__ = ("head", "transport")

    def __init__(self, transport: asyncio.Transport, head: bytes) -> None:
        self.transport = transport
        self.head = head

    def write(self, data: bytes) -> None:
        head, self.head = self.head, b""
        self.transport.write(head + data)

    def close(self) -> None:
        if self.head:  # nothing was written (an error in uvicorn's checks): the head must not be lost
            self.transport.write(self.head)
            self.head = b""
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


# The scope's entry for a stream's direct body write: ``(send, write_chunk)``, good only for a response
# handed that very ``send`` (a layer that wraps ``send`` to see the body hands on another one).
DIRECT_WRITE = "meshapi.write_chunk"


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, writing a known-length answer's head together with its body."""

    held_head: bytes | None = None
    # True once ``_hold_head`` wrote a stream's head (chunked, not ``HEAD``): ``write_chunk`` may frame its body.
    streaming = False

    def write_chunk(self, body: bytes, more: bool) -> bool:
        """uvicorn's ``http.response.body`` for a stream's piece, the same bytes in one write and the same
        end, without the message or the ``send`` chain. False (nothing done) when anything else holds (a
        head not written here, a paused or gone client, an ended response, an empty piece that is not the
        last): the caller then sends the message, and uvicorn waits, drops or refuses as it always did.
        """
        if not self.streaming or self.flow.write_paused or self.disconnected or self.response_complete:
            return False
        if more:
            if not body:
                return False
            self.transport.write(b"%x\r\n%b\r\n" % (len(body), body))
            return True
        self.transport.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n")
        return self._completed()

    async def send(self, message: ASGISendEvent) -> None:
        head = self.held_head
        if head is not None:
            self.held_head = None
            if message["type"] == "http.response.body" and self._last_write(head, message):
                return
            transport = self.transport
            prefixed = _Prefixed(transport, head)
            self.transport = prefixed  # type: ignore[assignment]
            try:
                await super().send(message)
            finally:
                self.transport = transport
                if prefixed.head and not self.disconnected:  # not written (an unexpected message)
                    transport.write(prefixed.head)
            return
        if message["type"] != "http.response.start" or self.response_started:
            await super().send(message)
            return
        if self._hold_head(message):
            return
        transport = self.transport
        capture = _Capture()
        self.transport = capture  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = transport
        data = capture.data
        if data is None:
            return  # the client had gone: uvicorn wrote nothing
        if self.chunked_encoding is False and self.expected_content_length > 0 and self.scope["method"] != "HEAD":
            self.held_head = data
        else:
            transport.write(data)

    def _hold_head(self, message: ASGISendEvent) -> bool:
        """uvicorn's ``http.response.start`` for the usual answer, done here: held for the body if
        it has a length, written at once if not (a stream, sent chunked as uvicorn sends it).

        The head is the bytes uvicorn would write, and the cycle ends in the state uvicorn leaves
        it in; a header name or value is searched with uvicorn's regular expressions the first
        time it is seen, not on every answer, and a whole header seen before is one line looked
        up. Anything else (a ``Connection`` or ``Transfer-Encoding`` header, an odd length, no
        length on a 204 or 304, ``HEAD``, a paused or gone client, uvicorn's access log, a header
        to refuse, a pair that is not a tuple) is left untouched to uvicorn, which then reads or
        refuses it as it always did.
        """
        if (
            self.flow.write_paused
            or self.disconnected
            or self.access_log
            or self.chunked_encoding is not None
            or self.scope["method"] == "HEAD"
        ):
            return False
        start = cast("HTTPResponseStartEvent", message)
        line = STATUS_LINE.get(start["status"])
        if line is None:
            return False
        content = [line]
        length: int | None = None
        lines = _LINES
        try:
            for headers in (self.default_headers, start.get("headers", ())):
                for pair in headers:
                    known = lines.get(pair)  # a list as a pair is unhashable: TypeError, left to uvicorn
                    if known is not None:
                        content.append(known)
                        continue
                    name, value = pair
                    if type(name) is not bytes or type(value) is not bytes:
                        return False
                    if name not in _CHECKED_NAMES:
                        if HEADER_RE.search(name):
                            return False
                        if len(_CHECKED_NAMES) < _MAX_CHECKED_NAMES and len(name) <= _MAX_KEPT_LENGTH:
                            _CHECKED_NAMES.add(name)
                    if value not in _CHECKED_VALUES:
                        if HEADER_VALUE_RE.search(value):
                            return False
                        if len(value) <= _MAX_KEPT_LENGTH:  # a long value (a file name) is searched each time
                            if len(_CHECKED_VALUES) >= _MAX_CHECKED_VALUES:
                                _CHECKED_VALUES.clear()  # request ids fill it; the values that repeat come back
                            _CHECKED_VALUES.add(value)
                    lowered = name.lower()
                    encoded = b"%b: %b\r\n" % (lowered, value)
                    content.append(encoded)
                    if lowered == b"content-length":
                        if length is None:
                            if not value.isdigit():
                                return False
                            length = int(value)
                        continue  # its value varies: never kept
                    if lowered == b"transfer-encoding" or lowered == b"connection":
                        return False
                    if len(value) <= _MAX_KEPT_LENGTH:
                        if len(lines) >= _MAX_LINES:
                            lines.clear()  # request ids fill it; the lines that repeat come back at once
                        lines[pair] = encoded
        except TypeError:
            return False
        status = start["status"]
        if length is None and status in (204, 304):
            return False
        if not self.keep_alive:
            content.append(b"connection: close\r\n")
        if length is None:
            content.append(b"transfer-encoding: chunked\r\n")  # a stream: its head goes out at once
        content.append(b"\r\n")
        head = b"".join(content)
        self.response_started = True
        self.waiting_for_100_continue = False
        if length is None:
            self.chunked_encoding = True
            self.streaming = True
            self.transport.write(head)
            return True
        self.expected_content_length = length
        self.chunked_encoding = False
        if length:
            self.held_head = head
        else:
            self.transport.write(head)
        return True

    def _last_write(self, head: bytes, message: ASGISendEvent) -> bool:
        """uvicorn's ``http.response.body`` for a whole body of the announced length, the head in front.

        False (nothing changed) for anything else: uvicorn handles it, behind a ``_Prefixed`` transport.
        """
        body_event = cast("HTTPResponseBodyEvent", message)
        if self.flow.write_paused or self.disconnected or self.response_complete or body_event.get("more_body", False):
            return False
        body = body_event.get("body", b"")
        if len(body) != self.expected_content_length:
            return False
        self.expected_content_length = 0
        self.transport.write(head + body)
        return self._completed()

    def _completed(self) -> bool:
        """The end of a response written here, as uvicorn's ``send`` ends one: the cycle done, the
        connection closed unless kept alive, the protocol told (True, for the callers' answer)."""
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()
        return True


# Header names and values that passed uvicorn's checks: the gateway's answers carry the same few
# names, and most values repeat (content type, length, model, date within its second).
_CHECKED_NAMES: set[bytes] = set()
_MAX_CHECKED_NAMES = 1_000
_CHECKED_VALUES: set[bytes] = set()
_MAX_CHECKED_VALUES = 4_096
_MAX_KEPT_LENGTH = 128  # bytes: what is remembered stays under a megabyte
# Whole header lines as the head writes them (name lowered), by the (name, value) pair given: a pair
# seen before passed the checks, and is no length, ``Connection`` or ``Transfer-Encoding`` header.
_LINES: dict[tuple[bytes, bytes], bytes] = {}
_MAX_LINES = 4_096
