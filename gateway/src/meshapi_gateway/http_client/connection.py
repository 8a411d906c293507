"""One keep-alive HTTP/1.1 connection to an upstream, parsed by httptools (llhttp).

The protocol object keeps the state of the exchange in flight: the response head, body
pieces not yet taken, completion, and a single waiter that the reader parks on. Parsing
happens in ``data_received`` as bytes arrive, so a reader wakes once per network read,
not once per parser callback.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

import httptools

from meshapi_gateway.http_client.errors import TransportError, UpstreamTimeout

# Body bytes held unread before the socket stops being read (a slow consumer of a fast stream).
HIGH_WATER = 256 * 1024

Origin = tuple[bool, str, int]  # (tls, host, port)


class Connection(asyncio.Protocol):
    __slots__ = (
        "_due",
        "_limit",
        "_phase",
        "_seconds",
        "_timer",
        "active",
        "body",
        "buffered",
        "closed",
        "complete",
        "encoding",
        "error",
        "framed",
        "head_done",
        "idle_since",
        "keep_alive",
        "loop",
        "origin",
        "parser",
        "paused",
        "raw_headers",
        "status",
        "transport",
        "waiter",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.active = False
        self.waiter: asyncio.Future[None] | None = None
        # One timer per connection, re-armed lazily (as ``reliability/watchdog.py`` does): a wait
        # writes its limit, and the timer, when it fires, fails the wait or sleeps until the
        # current limit. Arming and cancelling a timer per wait cost as much as the rest of a read.
        self._timer: asyncio.TimerHandle | None = None
        self._due = math.inf  # when the timer fires
        self._limit = math.inf  # the current wait's limit
        self._phase = "read"
        self._seconds = 0.0
        self.begin()
        self.active = False

    def begin(self) -> None:
        """Reset for the next exchange on this connection."""
        self.active = True
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.body: deque[bytes] = deque()
        self.buffered = 0
        self.error: Exception | None = None
        self.paused = False
        self.framed = False
        self.encoding: bytes | None = None  # Content-Encoding, as sent

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        self.closed = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.close()

    def take_body(self) -> bytes:
        """Every body byte received so far (and the socket read again if it was paused)."""
        body = self.body
        data = body.popleft() if len(body) == 1 else b"".join(body)
        body.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    async def wait(self, read_timeout: float, deadline: float | None) -> None:
        """Park until the parser makes progress, the connection fails, or a timeout passes."""
        if self.error is not None:
            raise self.error
        loop = self.loop
        now = loop.time()
        limit = now + read_timeout
        if deadline is not None and deadline < limit:
            left = deadline - now
            if left <= 0:
                raise UpstreamTimeout("total", 0)
            self._phase, self._seconds, limit = "total", left, deadline
        else:
            self._phase, self._seconds = "read", read_timeout
        waiter = loop.create_future()
        self.waiter = waiter
        self._limit = limit
        if limit < self._due:
            if self._timer is not None:
                self._timer.cancel()
            self._due = limit
            self._timer = loop.call_at(limit, self._fire)
        try:
            await waiter
        finally:
            self.waiter = None
            self._limit = math.inf
        if self.error is not None:
            raise self.error

    def _fire(self) -> None:
        self._timer = None
        self._due = math.inf
        waiter = self.waiter
        if waiter is None or waiter.done() or self._limit == math.inf:
            return  # nobody waits: the next wait arms the timer again
        if self.loop.time() >= self._limit:
            waiter.set_exception(UpstreamTimeout(self._phase, self._seconds))
            return
        self._due = self._limit
        self._timer = self.loop.call_at(self._limit, self._fire)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = math.inf

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    # -- asyncio.Protocol --------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.active:
            # Bytes on an idle connection (say a 408 before the server hangs up): unusable.
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"the upstream sent malformed HTTP: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_timer()
        if not self.active:
            return
        if self.head_done and not self.complete and not self.framed and self.error is None:
            # Neither Content-Length nor chunked: the body ends where the connection does.
            self.complete = True
            self.keep_alive = False
            self._wake()
        elif not self.complete:
            reason = f": {exc}" if exc is not None else ""
            self._fail(TransportError(f"the upstream closed the connection{reason}"))

    # -- httptools callbacks -----------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        self.status = status
        if 100 <= status < 200:
            return  # an interim answer (100 Continue): the real one follows
        for name, value in self.raw_headers:
            lower = name.lower()
            # ``find``, not ``in``: CPython 3.11 first tries a bytes needle as an integer for ``in`` and
            # makes and drops a TypeError (about 1k instructions) on every streamed (chunked) answer.
            if lower == b"content-length" or (lower == b"transfer-encoding" and value.lower().find(b"chunked") >= 0):
                self.framed = True
            elif lower == b"content-encoding":  # repeated: joined, as ``Headers`` joins them
                self.encoding = value if self.encoding is None else self.encoding + b", " + value
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:
            self.raw_headers = []
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()
