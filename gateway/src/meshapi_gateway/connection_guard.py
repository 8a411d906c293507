"""Bounds on the connections a gateway process holds, for clients that never finish a request.

uvicorn waits for a request's headers for as long as the client likes and accepts as many
sockets as the process has file descriptors, so a few thousand idle sockets (no
authentication needed) can keep every other client out. This protocol adds:

* a header timeout: from the moment a connection opens, or the first byte of a next
  request on a kept-alive one, the headers must be complete within ``header_timeout``
  seconds, or the connection is closed (408 if a request had begun);
* a connection cap: past ``max_connections`` open sockets, the one that has waited longest
  for its headers is closed to make room; if none is waiting, the newcomer is closed.

A request whose headers arrive in one read (nearly all of them) starts no timer. Each request's
cycle writes a known-length answer in one write (``one_write.py``).
Keep-alive idleness is uvicorn's own ``timeout_keep_alive``, timed by one timer per connection:
uvicorn arms a timer after every answer and cancels it at the next request's first bytes
(≈ 2 µs a request with uvloop); here the answer notes the time, and the connection's one timer,
when it fires, closes the connection if it has been idle that long or waits for the rest.

It also drains kept-alive connections at a graceful stop. uvicorn closes an idle one at once,
but a proxy in front (nginx keeps connections to its backends open) may be writing a request on
it at that very moment: the request is lost and, being a POST, the proxy may not send it
elsewhere, so the client gets a 502 from a node that was stopping politely. Here an idle
connection stays open for ``DRAIN_SECONDS`` after the stop began: a request arriving on it is
answered with ``Connection: close``, and the connection is closed when idle at the end.
(Connections the listener had queued but not yet accepted are graceful_stop's part.)
"""

from __future__ import annotations

import asyncio
import functools
import logging
import resource
import types
from typing import Any

from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from meshapi_gateway.one_write import OneWriteCycle

log = logging.getLogger("meshapi_gateway.connections")
_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
DRAIN_SECONDS = 1.0


class ConnectionGuard:
    """The limits of one server, and its connections still waiting for headers (oldest first)."""

    def __init__(self, header_timeout: float, max_connections: int) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.waiting: dict[GuardedHttpToolsProtocol, None] = {}
        # Set when the server begins to stop (graceful_stop): every answer then closes its connection.
        self.stopping = False

    def __getstate__(self) -> dict[str, Any]:  # handed to worker processes before any connection
        return {"header_timeout": self.header_timeout, "max_connections": self.max_connections}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["header_timeout"], state["max_connections"])  # type: ignore[misc]


# uvicorn's own ``on_headers_complete`` (its code object, not a copy of its source) with its module's names,
# but ``RequestResponseCycle`` resolving to ``OneWriteCycle``: each request's cycle is made of that class.
# Setting ``__class__`` afterwards, as this module did, costs ≈ 0.2 µs and leaves the object's attributes in
# a dictionary of their own in CPython 3.11 (every later read of them about twice as slow).
_uvicorn_headers_complete = HttpToolsProtocol.on_headers_complete
_on_headers_complete = types.FunctionType(
    _uvicorn_headers_complete.__code__,
    {**vars(httptools_impl), "RequestResponseCycle": OneWriteCycle},
    _uvicorn_headers_complete.__name__,
    _uvicorn_headers_complete.__defaults__,
    _uvicorn_headers_complete.__closure__,
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout and a share of a connection cap."""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard
        self._header_timer: asyncio.TimerHandle | None = None
        self._in_headers = False
        self._draining = False
        # Keep-alive: when the last answer ended (None while a request is on), and the connection's one timer.
        self._idle_since: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        guard = self._guard
        if len(self.connections) > guard.max_connections:
            if not guard.waiting:
                transport.close()
                return
            oldest = next(iter(guard.waiting))
            oldest._disarm()
            oldest.transport.close()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        super().connection_lost(exc)

    def _unset_keepalive_if_required(self) -> None:
        self._idle_since = None  # bytes came (or the connection went): the timer, when it fires, lets it be

    def on_response_complete(self) -> None:
        """uvicorn's, but the keep-alive wait is noted for the connection's one timer instead of a timer of its own."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_later(self.timeout_keep_alive, self._idle_check)

    def _idle_check(self) -> None:
        self._idle_timer = None
        since = self._idle_since
        if since is None or self.transport.is_closing():
            return  # a request is on: its answer arms the timer again
        left = since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self._idle_timer = self.loop.call_later(left, self._idle_check)
        else:
            self.timeout_keep_alive_handler()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_headers and self._header_timer is None and not self.transport.is_closing():
            self._arm()  # a request began in this read and its headers are still incomplete

    def on_message_begin(self) -> None:
        self._in_headers = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._disarm()
        _on_headers_complete(self)  # the cycle made is a ``OneWriteCycle`` (one_write.py)
        cycle = self.cycle
        if (self._draining or self._guard.stopping) and cycle is not None:
            cycle.keep_alive = False  # answered with Connection: close, then closed

    def shutdown(self) -> None:
        """The server is stopping: an idle connection drains instead of closing under a proxy's request."""
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self._draining = True
            self.loop.call_later(DRAIN_SECONDS, super().shutdown)
            return
        super().shutdown()

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self._guard.header_timeout, self._headers_too_slow)
        self._guard.waiting[self] = None

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._guard.waiting.pop(self, None)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self._guard.waiting.pop(self, None)
        if not self.transport.is_closing():
            if self._in_headers:
                self.transport.write(_TIMEOUT_ANSWER)
            self.transport.close()


def guarded_protocol(header_timeout: float, max_connections: int) -> Any:
    """What to pass as ``uvicorn.Config(http=...)``; picklable, so it reaches worker processes."""
    return functools.partial(GuardedHttpToolsProtocol, guard=ConnectionGuard(header_timeout, max_connections))


# Descriptors kept aside for the process's own use: database, log and stored files, listening sockets.
RESERVED_FDS = 256


def fit_to_open_file_limit(max_connections: int) -> int:
    """Raise the open-file limit for the cap, and return the cap the limit can actually hold.

    Each client connection may hold an upstream connection too, so the process wants two
    descriptors per connection plus ``RESERVED_FDS``. The soft limit is raised as far as the
    hard limit allows (worker processes inherit it); if that is still too little, the cap is
    lowered so that the process never runs out of descriptors, where it could no longer accept
    the connection that would make room.
    """
    wanted = 2 * max_connections + RESERVED_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_connections
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    fitted = max(1, min(max_connections, (soft - RESERVED_FDS) // 2))
    if fitted < max_connections:
        log.warning(
            "max_connections lowered from %d to %d: the open-file limit is %d (raise the hard limit, "
            "e.g. LimitNOFILE or ulimit -Hn, to allow more)",
            max_connections,
            fitted,
            soft,
        )
    return fitted
