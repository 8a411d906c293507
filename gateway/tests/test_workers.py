"""``serve --workers 2``: connections spread over both workers, a dead worker is replaced, SIGTERM stops all.

Which worker holds a connection is read from the kernel (``/proc/net/tcp*`` and each
worker's open sockets), so the test sees what a load balancer in front would see.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from gwtest.gateway_process import GatewayProcess

CONNECTIONS = 40


def _workers(parent: int) -> list[int]:
    """The parent's children that serve (multiprocessing's resource tracker listens on nothing)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            out.append(int(stat.parent.name))
    return out


def _server_side_owners(port: int, pids: list[int]) -> Counter[int]:
    """How many established connections to ``port`` each pid holds (server side)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                inodes.add(fields[9])
    owners: Counter[int] = Counter()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                owners[pid] += 1
    return owners


async def _open_many(host: str, port: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    async def one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /health HTTP/1.1\r\nhost: {host}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        return reader, writer

    return list(await asyncio.gather(*(one() for _ in range(CONNECTIONS))))  # a burst, as a load balancer opens them


def test_two_workers_share_connections_and_survive_a_crash(tmp_path: Any, redis_url: str, fake_openai: Any) -> None:
    gp = GatewayProcess(tmp_path, fake_openai.url, workers=2, redis_url=redis_url).start()
    assert gp.proc is not None
    try:
        deadline = time.monotonic() + 30
        while len(_workers(gp.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = _workers(gp.proc.pid)
        assert len(workers) == 2
        host, port = "127.0.0.1", int(gp.url.rsplit(":", 1)[1])

        async def spread() -> Counter[int]:
            conns = await _open_many(host, port)
            try:
                return _server_side_owners(port, workers)
            finally:
                for _, writer in conns:
                    writer.close()

        owners = asyncio.run(spread())
        assert sum(owners.values()) == CONNECTIONS
        # Each worker has a listening socket of its own, so both get a fair share (not 38 to 12).
        assert min(owners[w] for w in workers) >= CONNECTIONS // 5, owners

        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = _workers(gp.proc.pid)
            if len(now) == 2 and workers[0] not in now and httpx.get(gp.url + "/health").status_code == 200:
                break
            time.sleep(0.3)
        else:
            raise AssertionError(f"the killed worker was not replaced: {_workers(gp.proc.pid)}")
        replaced = _workers(gp.proc.pid)
    finally:
        code = gp.stop()
    assert code == 0
    for pid in replaced:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_a_port_already_listened_on_is_refused_not_shared() -> None:
    from meshapi_gateway.workers import supervise

    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # even a group it could join
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert supervise({"app": "nowhere:app"}, "127.0.0.1", port, 2, 1.0) == 1
