"""The pollers' change check: a read is skipped only while no connection has committed since the last one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from meshapi_gateway.store.data_version import DataVersion, Seen


def _writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
    return conn


def test_a_commit_anywhere_makes_every_poller_read_again(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    writer = _writer(path)
    version = DataVersion(str(path))
    keys, teams = Seen(version), Seen(version)
    assert not keys.unchanged()  # never read: read
    keys.read_done()
    assert keys.unchanged() and keys.unchanged()  # nothing committed since
    writer.execute("INSERT INTO t VALUES (1)")
    other = sqlite3.connect(path, isolation_level=None)  # another process's connection alike
    assert not keys.unchanged()
    keys.read_done()
    assert keys.unchanged()
    other.execute("INSERT INTO t VALUES (2)")
    assert not keys.unchanged()
    # Each poller keeps its own last read.
    assert not teams.unchanged()
    teams.read_done()
    assert teams.unchanged()
    # A read that failed (no read_done) leaves the next check saying "read".
    writer.execute("INSERT INTO t VALUES (3)")
    assert not teams.unchanged()
    assert not teams.unchanged()
    version.close()
    other.close()
    writer.close()


def test_without_a_sqlite_file_every_poll_reads(tmp_path: Path) -> None:
    assert DataVersion(None).read() is None
    seen = Seen(DataVersion(None))
    seen.read_done()
    assert not seen.unchanged()
    assert not Seen(None).unchanged()
    # A file that cannot be opened reads as "changed", never as "unchanged".
    broken = Seen(DataVersion(str(tmp_path / "missing" / "g.db")))
    broken.read_done()
    assert not broken.unchanged()
