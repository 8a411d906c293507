"""Whether a SQLite database changed since a poller last read it, for a few microseconds.

The key, team, revocation and balance caches re-read their tables every couple of seconds,
and the batch runner looks for active batches every second: ORM queries through the async
engine, each a session, a compiled statement and a round trip to the driver's thread, several
times a second, nearly always while nothing has changed. ``PRAGMA data_version`` on a
connection that never writes changes whenever any other connection, in this process or
another, commits to the database (a checkpoint also moves it, which only costs a read). So a
poller notes the value before it reads, and skips its next read while the value is the same:
no change it could have missed was committed in between.

The pragma is a read of the WAL index in shared memory (about 3 µs): it runs on the event
loop itself. The connection never waits for a lock (timeout 0); any error reads as "changed".
Only for a database in a file (``sqlite_thread.sqlite_file``); elsewhere every poll reads.
"""

from __future__ import annotations

import sqlite3


class DataVersion:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def read(self) -> int | None:
        """The database's change counter as this connection sees it; None: unknown (read anyway)."""
        if self.path is None:
            return None
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
            row = self._conn.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            self.close()
            return None
        return int(row[0]) if row else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Seen:
    """One poller's last read: ask ``unchanged()`` before a read, call ``read_done()`` once it succeeded."""

    def __init__(self, version: DataVersion | None) -> None:
        self._version = version
        self._seen: int | None = None
        self._reading: int | None = None

    def unchanged(self) -> bool:
        """Nothing was committed since the last completed read (so the read may be skipped)."""
        if self._version is None:
            return False
        now = self._version.read()
        self._reading = now
        return now is not None and now == self._seen

    def read_done(self) -> None:
        """The read that followed ``unchanged()`` succeeded: it saw everything up to that version."""
        self._seen = self._reading
