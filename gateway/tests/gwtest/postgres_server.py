"""A throwaway PostgreSQL server for tests, started from the installed binaries.

PostgreSQL refuses to run as root (CI runs as root), so under root the data folder is
handed to the unprivileged ``nobody`` user and the server runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def find_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL binaries (initdb, postgres) are not installed")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="meshapi-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: str | None = "nobody" if os.geteuid() == 0 else None
        self._counter = 0

    def _run_kwargs(self) -> dict[str, object]:
        return {"user": self._user} if self._user else {}

    def start(self, timeout: float = 60.0) -> "PostgresServer":
        self.data.mkdir()
        if self._user:
            pw = pwd.getpwnam(self._user)
            os.chown(self.data, pw.pw_uid, pw.pw_gid)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            **self._run_kwargs(),
        )  # type: ignore[call-overload]
        log = open(self.root / "postgres.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            **self._run_kwargs(),
        )  # type: ignore[call-overload]
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start: " + (self.root / "postgres.log").read_text()[-2000:])
                time.sleep(0.1)
        # Accepting TCP is not yet accepting queries: retry a trivial query.
        while True:
            try:
                self._sql("SELECT 1")
                return self
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True, connect_timeout=5
        ) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def new_database(self) -> str:
        """A fresh, empty database; returns its asyncpg SQLAlchemy URL."""
        self._counter += 1
        name = f"test_{os.getpid()}_{self._counter}"
        self._sql(f'CREATE DATABASE "{name}"')
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)
