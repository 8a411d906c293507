"""A throwaway Redis server for tests, started from the installed ``redis-server`` binary."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="meshapi-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self._db = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> "RedisServer":
        log = open(self.root / "redis.log", "ab")  # lives as long as the server
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--databases",
                "64",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not _ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not start: " + (self.root / "redis.log").read_text()[-2000:])
            time.sleep(0.05)
        return self

    def new_database(self) -> str:
        """A URL of a Redis logical database no other test has used (tests stay independent)."""
        self._db += 1
        if self._db >= 64:
            raise RuntimeError("out of Redis databases for this session")
        return f"redis://127.0.0.1:{self.port}/{self._db}"

    def halt(self) -> None:
        """Stop the server but keep its port and folder, so that ``start()`` brings it back in place
        (empty: it saves nothing), as an operator's restart would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)
