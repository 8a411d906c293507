"""A graceful stop does not drop a request a proxy sends on a kept-alive connection.

A proxy in front keeps connections to the gateway open and may write a request on one just as
the gateway begins to stop. Once the stopping gateway refuses new connections, a request on an
idle kept-alive connection must still be answered (with ``Connection: close``), not met with a
closed socket that the proxy would turn into a 502.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

from gwtest.gateway_process import GatewayProcess
from gwtest.harness import FakeUpstream


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_an_idle_kept_alive_connection_is_answered_while_the_gateway_stops(
    tmp_path: Path, fake_openai: FakeUpstream
) -> None:
    gp = GatewayProcess(tmp_path, fake_openai.url, shutdown_grace_seconds=10).start()
    assert gp.proc is not None
    try:
        conn = socket.create_connection(("127.0.0.1", gp.port), timeout=10)
        request = f"GET /health HTTP/1.1\r\nhost: 127.0.0.1:{gp.port}\r\n\r\n".encode()
        conn.sendall(request)
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += conn.recv(65536)
        assert first.startswith(b"HTTP/1.1 200") and b"connection: close" not in first.lower()

        gp.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not _refuses(gp.port) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _refuses(gp.port)  # the stop has begun: the listener is closed

        conn.sendall(request)  # as a proxy reusing its cached connection would
        answer = b""
        while chunk := conn.recv(65536):  # to the end: the gateway closes the connection after answering
            answer += chunk
        conn.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert b"connection: close" in answer.lower()
        assert answer.endswith(b'{"status":"ok"}')
        assert gp.proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it stopped on
    finally:
        gp.stop()
