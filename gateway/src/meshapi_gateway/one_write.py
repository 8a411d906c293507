"""A response with a known length leaves in one socket write: its head waits for the first body bytes.

uvicorn writes the status line and headers the moment ``http.response.start`` arrives and the
body in a second ``write`` when ``http.response.body`` follows: two system calls per answer, two
TCP segments, and two wake-ups of the client. For an answer whose ``Content-Length`` is known
(every JSON answer of the gateway) the head can wait the few microseconds until the body comes
and both go out together. Answers without a length (streams, chunked bodies) and answers to
``HEAD`` keep uvicorn's behaviour: their head is written at once, so a stream's client sees the
status before the first event.

The head is still built by uvicorn (its header checks, keep-alive and length bookkeeping run as
always); only the bytes it writes are held. ``connection_guard.py`` puts every request's cycle
on this class.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

if TYPE_CHECKING:
    from uvicorn._types import ASGISendEvent


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


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, writing a known-length answer's head together with its body."""

    held_head: bytes | None = None

    async def send(self, message: ASGISendEvent) -> None:
        head = self.held_head
        if head is not None:
            self.held_head = None
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
