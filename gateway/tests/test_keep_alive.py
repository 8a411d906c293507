"""A kept-alive connection stays open while it is used and closes once idle for the keep-alive timeout.

The guarded protocol (``connection_guard.py``) times keep-alive with one timer per connection
rather than uvicorn's timer per answer; a connection used more often than the timeout, for longer
than the timeout in all, must still be open, and an idle one must still be closed.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from gwtest.server_thread import ServerThread

from meshapi_gateway.connection_guard import guarded_protocol

KEEP_ALIVE = 2.0
WAIT = 60.0  # the most a test waits for the server to act


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _ask(sock: socket.socket) -> bytes:
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while not data.endswith(b"\r\n\r\nok"):
        chunk = sock.recv(4096)
        assert chunk, "the server closed a connection in use"
        data += chunk
    return data


def test_a_used_connection_stays_open_and_an_idle_one_closes() -> None:
    server = ServerThread(_app, http=guarded_protocol(10.0, 100), timeout_keep_alive=KEEP_ALIVE).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
            for _ in range(7):  # 3 s of use in all, with gaps well under the timeout
                assert _ask(sock).startswith(b"HTTP/1.1 200 ")
                time.sleep(KEEP_ALIVE / 4)
            assert _ask(sock).startswith(b"HTTP/1.1 200 ")
            assert sock.recv(4096) == b""  # idle from here: closed by the server (within WAIT)
    finally:
        server.stop()
