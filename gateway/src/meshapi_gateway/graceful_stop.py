"""A graceful stop that refuses new connections instead of resetting those it had already let in.

The kernel completes TCP handshakes on a listening socket by itself and queues the connections
until the server accepts them; a client (a load balancer) writes its request as soon as its
connect() returns. Closing the listener resets every connection still in that queue, with the
request written on it: nginx then answers 502 and, the request being a POST that reached a node,
does not pass it to another node. uvicorn closes its listeners first thing on SIGTERM, so a node
under load from a proxy cost a few clients a 502 at every graceful stop.

Linux has no call that stops a listener from completing handshakes without dropping its queue.
What the kernel's own notes on the problem describe (and what ``tcp_migrate_req`` later did
within one ``SO_REUSEPORT`` group) is a two-step close, done here:

1. a socket filter on the listener drops every new SYN (a packet with SYN and without ACK), so
   no new handshake begins; a client's SYN is retransmitted after about a second, meets a closed
   port and is refused, which nginx (``proxy_next_upstream error``) passes to the next node;
2. handshakes already under way complete (one round trip), the server accepts what is queued as
   usual, and only once the queue is empty is the listener closed.

From the signal on, every response carries ``Connection: close`` (``ConnectionGuard.stopping``),
so a proxy stops reusing this node's connections; then uvicorn's own stop runs: in-flight
requests finish, idle kept-alive connections drain (``connection_guard``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import select
import socket
import struct
import sys
import time

import uvicorn

from meshapi_gateway.connection_guard import ConnectionGuard

log = logging.getLogger("meshapi_gateway.graceful_stop")

# How long handshakes begun before the filter have to complete; a round trip on any network a
# load balancer shares with its nodes is far shorter.
HANDSHAKE_SECONDS = 0.1
# The most the stop waits for the server to take what is queued, should the event loop be busy.
QUEUE_DRAIN_SECONDS = 2.0

# A classic BPF program, run on each packet to the listener (the data starts at the TCP header):
# drop it (return 0) when the flags byte has SYN and not ACK, otherwise keep all of it.
_TCP_FLAGS_OFFSET, _SYN, _ACK = 13, 0x02, 0x10
_BPF_LDB_ABS, _BPF_AND_K, _BPF_JEQ_K, _BPF_RET_K = 0x30, 0x54, 0x15, 0x06
_DROP_NEW_SYNS = [
    (_BPF_LDB_ABS, 0, 0, _TCP_FLAGS_OFFSET),
    (_BPF_AND_K, 0, 0, _SYN | _ACK),
    (_BPF_JEQ_K, 0, 1, _SYN),  # a bare SYN: to the next instruction (drop), else skip it (keep)
    (_BPF_RET_K, 0, 0, 0),
    (_BPF_RET_K, 0, 0, 0xFFFFFFFF),
]
_SO_ATTACH_FILTER = 26  # Linux's value; Python's socket module does not name it


def refuse_new_handshakes(sock: socket.socket) -> bool:
    """Attach the SYN-dropping filter to a listening socket; False where the system has none."""
    if not sys.platform.startswith("linux"):
        return False  # elsewhere the listener is closed as uvicorn does, queue and all
    program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in _DROP_NEW_SYNS))
    fprog = struct.pack("HP", len(_DROP_NEW_SYNS), ctypes.addressof(program))  # struct sock_fprog
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError as exc:
        log.warning("cannot filter new connections on the listener (%s): its queue may be reset at stop", exc)
        return False
    return True


def _queued(listeners: list[socket.socket]) -> bool:
    """Whether a listener still holds connections the server has not accepted (it is readable)."""
    poller = select.poll()
    for listener in listeners:
        poller.register(listener, select.POLLIN)
    return bool(poller.poll(0))


def _listeners(server: uvicorn.Server, sockets: list[socket.socket] | None) -> list[socket.socket]:
    """Duplicates of the server's listening sockets: the same sockets, on descriptors of our own."""
    fds = {s.fileno() for srv in getattr(server, "servers", []) for s in (srv.sockets or [])}
    fds.update(s.fileno() for s in sockets or [])
    out = []
    for fd in sorted(fd for fd in fds if fd >= 0):
        with contextlib.suppress(OSError):
            out.append(socket.socket(fileno=os.dup(fd)))
    return out


def guard_of(config: uvicorn.Config) -> ConnectionGuard | None:
    """The connection guard of the server's protocol (``connection_guard.guarded_protocol``)."""
    guard = getattr(config.http, "keywords", {}).get("guard")
    return guard if isinstance(guard, ConnectionGuard) else None


class GracefulServer(uvicorn.Server):
    """uvicorn's server, with a stop that takes what its listeners have queued before closing them."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        guard = guard_of(self.config)
        if guard is not None:
            guard.stopping = True
        listeners = _listeners(self, sockets)
        try:
            if listeners and all(refuse_new_handshakes(s) for s in listeners):
                await asyncio.sleep(HANDSHAKE_SECONDS)
                deadline = time.monotonic() + QUEUE_DRAIN_SECONDS
                while _queued(listeners) and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)  # the event loop accepts them meanwhile
            for server in self.servers:
                server.close()
            for listener in listeners:
                # The socket may be open in another process too (the supervisor of --workers hands
                # each worker its own): shutting it down stops it listening for all of them.
                with contextlib.suppress(OSError):
                    listener.shutdown(socket.SHUT_RD)
        finally:
            for listener in listeners:
                listener.close()
        await super().shutdown(sockets)


def serve(config: uvicorn.Config, sockets: list[socket.socket] | None = None) -> bool:
    """Run ``config`` until stopped, as ``uvicorn.run`` does for one process; whether it had started."""
    server = GracefulServer(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)
    return server.started
