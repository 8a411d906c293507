"""Which process of a gateway holds a connection, read from the kernel (``/proc``), as a load
balancer in front would see it."""

from __future__ import annotations

import os
from pathlib import Path


def children(parent: int, marker: bytes) -> list[int]:
    """Pids of ``parent``'s children whose command line contains ``marker``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and marker in cmdline:
            out.append(int(stat.parent.name))
    return out


def descendants(parent: int, marker: bytes) -> list[int]:
    """Pids of every process under ``parent`` (children, theirs, ...) whose command line contains ``marker``."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue

    def under(pid: int) -> bool:
        while pid in parents and pid > 1:
            pid = parents[pid]
            if pid == parent:
                return True
        return False

    return sorted(p for p in processes_with(marker) if under(p))


def processes_with(marker: bytes) -> list[int]:
    """Every process whose command line contains ``marker``."""
    out = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmd.read_bytes():
                out.append(int(cmd.parent.name))
        except OSError:
            continue
    return out


def server_side_holder(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """The pid among ``pids`` holding the server end of the connection from ``client_port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if local_port == server_port and remote_port == client_port and fields[3] == "01":
                inodes.add(fields[9])
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return None
