"""Folders and files only the gateway's own user can read (0700 / 0600).

The data folder holds the SQLite database (key hashes, balances, the ledger, stored
answers), uploaded batch files and the generated JWT secret. With the usual umask they
would be created world-readable, so every local user of the machine could read them;
creating them private from the start leaves no window in which they are not.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

DIR_MODE = 0o700
FILE_MODE = 0o600
# SQLite's own side files; it creates them with the main file's permissions, but ones left
# by an older version are tightened too.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as 0700; an existing folder is left as it is."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)
        # mkdir's mode is filtered by the umask; chmod is not.
        os.chmod(folder, DIR_MODE)


def open_private(path: Path) -> BinaryIO:
    """Open ``path`` for writing (truncated), creating it 0600; an existing file is tightened to 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


def write_private(path: Path, data: bytes) -> None:
    with open_private(path) as handle:
        handle.write(data)


def private_sqlite_file(path: Path) -> None:
    """Make sure the database file (and side files) exist as 0600 before SQLite opens them.

    SQLite creates missing files with the process umask; an empty file is a valid empty
    database, so creating it first decides its permissions.
    """
    private_dir(path.parent)
    # An existing database is never opened here: closing any descriptor of a file drops every
    # POSIX lock this process holds on it, including those of SQLite connections already open.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for suffix in ("", *SQLITE_SIDE_FILES):
        target = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if target.stat().st_uid == os.getuid() and target.stat().st_mode & 0o077:
                target.chmod(FILE_MODE)
