"""Clients that never finish their headers are disconnected, and cannot hold a process's every socket.

Run against ``meshapi-gateway serve`` in its own process, single and multi-worker, as deployed.
Nothing here measures time: each test waits (with a generous bound) for the server to close
sockets and counts them.
"""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from gwtest.gateway_process import GatewayProcess
from gwtest.harness import FakeUpstream

PARTIAL = b"GET /health HTTP/1.1\r\nHost: gateway\r\nX-Slow: "  # headers never finished
WAIT = 60.0  # the most a test waits for the server to act; never an assertion on duration


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; fails the test if it keeps the socket open."""
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed this socket (no waiting: readable with nothing to read)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(4096, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def slow_header_gateway(tmp_path: Path, fake_openai: FakeUpstream) -> Iterator[GatewayProcess]:
    gp = GatewayProcess(tmp_path, fake_openai.url, header_timeout_seconds=1).start()
    yield gp
    gp.stop()


def test_a_client_that_never_finishes_its_headers_is_disconnected(slow_header_gateway: GatewayProcess) -> None:
    port = slow_header_gateway.port
    with _connect(port) as silent, _connect(port) as slow:
        slow.sendall(PARTIAL)
        assert b" 408 " in _read_until_closed(slow)
        assert _read_until_closed(silent) == b""  # connected and said nothing: closed without an answer


def test_the_header_timeout_applies_to_each_request_on_a_kept_alive_connection(
    slow_header_gateway: GatewayProcess,
) -> None:
    with _connect(slow_header_gateway.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first or not first.rstrip().endswith(b"}"):
            first += sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(PARTIAL)  # the next request on the same connection stalls in its headers
        assert b" 408 " in _read_until_closed(sock)


def test_requests_that_finish_their_headers_are_served(slow_header_gateway: GatewayProcess) -> None:
    with httpx.Client(base_url=slow_header_gateway.url) as c:
        for _ in range(3):
            assert c.get("/health").status_code == 200


def test_health_is_served_while_the_connection_cap_is_full_of_slow_sockets(
    tmp_path: Path, fake_openai: FakeUpstream
) -> None:
    cap, opened = 40, 120
    gp = GatewayProcess(tmp_path, fake_openai.url, max_connections=cap, header_timeout_seconds=600).start()
    sockets: list[socket.socket] = []
    try:
        for _ in range(opened):
            sock = _connect(gp.port)
            sock.sendall(PARTIAL)
            sockets.append(sock)
        with httpx.Client(base_url=gp.url) as c:
            for _ in range(3):  # each new client makes room by closing the longest-waiting slow socket
                assert c.get("/health").status_code == 200
        deadline = time.monotonic() + WAIT
        while sum(map(_closed, sockets)) < opened - cap and time.monotonic() < deadline:
            time.sleep(0.05)
        closed = [_closed(s) for s in sockets]
        assert sum(closed) >= opened - cap, f"{opened - sum(closed)} slow sockets still open, cap {cap}"
        assert all(closed[: opened - cap])  # the oldest went first
    finally:
        for sock in sockets:
            sock.close()
        gp.stop()


def test_multi_worker_mode_applies_the_header_timeout(
    tmp_path: Path, fake_openai: FakeUpstream, redis_url: str
) -> None:
    gp = GatewayProcess(tmp_path, fake_openai.url, workers=2, redis_url=redis_url, header_timeout_seconds=1).start()
    try:
        slow = [_connect(gp.port) for _ in range(6)]  # spread over both workers' sockets
        for sock in slow:
            sock.sendall(PARTIAL)
        for sock in slow:
            assert b" 408 " in _read_until_closed(sock)
            sock.close()
    finally:
        gp.stop()


def test_the_cap_is_fitted_to_the_open_file_limit(tmp_path: Path, fake_openai: FakeUpstream) -> None:
    """A cap above what the descriptors allow is lowered, so a flood cannot make the process unable to accept."""
    import resource

    fds, opened = 600, 700
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < opened + 200:
        if hard != resource.RLIM_INFINITY and hard < opened + 200:
            pytest.skip(f"this test needs {opened + 200} open files (hard limit {hard})")
        resource.setrlimit(resource.RLIMIT_NOFILE, (opened + 200, hard))
    gp = GatewayProcess(tmp_path, fake_openai.url, header_timeout_seconds=600)  # max_connections: 10,000
    gp.open_file_limit = fds
    gp.start()
    sockets: list[socket.socket] = []
    try:
        for _ in range(opened):  # more slow sockets than the process has descriptors
            sock = _connect(gp.port)
            sock.sendall(PARTIAL)
            sockets.append(sock)
        with httpx.Client(base_url=gp.url, timeout=WAIT) as c:
            assert c.get("/health").status_code == 200
        assert "max_connections lowered from 10000" in gp.log.read_text()
    finally:
        for sock in sockets:
            sock.close()
        gp.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
