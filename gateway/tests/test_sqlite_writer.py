"""The writers' SQLite connection runs on the event loop: it must never hold the loop while it waits.

A file locked by another connection (another process, the engine) is waited for with
``asyncio.sleep``, the loop serving meanwhile; writers sharing the connection take turns at its
transaction, each batch whole; a checkpoint runs off the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from meshapi_gateway.store import sqlite_writer
from meshapi_gateway.store.sqlite_writer import SQLiteWriter


def _make(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (writer TEXT, n INTEGER)")
    conn.close()


def _rows(path: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(path)
    try:
        return [(w, n) for w, n in conn.execute("SELECT writer, n FROM t ORDER BY rowid")]
    finally:
        conn.close()


def test_a_locked_file_is_waited_for_without_holding_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _make(path)

    async def run() -> int:
        writer = SQLiteWriter(str(path))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the write lock, held elsewhere
        turns = 0
        try:
            write = asyncio.ensure_future(writer.run(lambda c: c.execute("INSERT INTO t VALUES ('w', 1)")))
            for _ in range(20):
                await asyncio.sleep(0.005)
                turns += 1
            assert not write.done()  # still waiting for the lock, and the loop kept turning
            other.execute("COMMIT")
            await asyncio.wait_for(write, 5)
        finally:
            other.close()
            await writer.aclose()
        return turns

    assert asyncio.run(run()) == 20
    assert _rows(path) == [("w", 1)]


def test_a_lock_held_past_the_timeout_fails_the_write(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _make(path)

    async def run() -> None:
        writer = SQLiteWriter(str(path), timeout=0.05)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(sqlite3.OperationalError):
                await writer.run(lambda c: c.execute("INSERT INTO t VALUES ('w', 1)"))
        finally:
            other.execute("ROLLBACK")
            other.close()
            await writer.aclose()

    asyncio.run(run())
    assert _rows(path) == []


def test_writers_sharing_the_connection_take_turns_a_whole_batch_each(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _make(path)

    async def run() -> None:
        first = SQLiteWriter(str(path))
        second = first.share()

        async def prepare() -> list[int]:
            await asyncio.sleep(0)
            return list(range(5))

        def batch(name: str):  # type: ignore[no-untyped-def]
            async def work(conn: sqlite3.Connection, ns: list[int]) -> None:
                for n in ns:  # a turn for the loop between statements, the transaction open
                    conn.execute("INSERT INTO t VALUES (?, ?)", (name, n))
                    await asyncio.sleep(0)

            return work

        await asyncio.gather(
            first.run_prepared(prepare, batch("a")),
            second.run_prepared(prepare, batch("b")),
            first.run_prepared(prepare, batch("c")),
        )
        await first.aclose()
        assert first._conn is not None  # the other share still holds it
        await second.aclose()
        assert first._conn is None

    asyncio.run(run())
    rows = _rows(path)
    assert len(rows) == 15
    writers = [w for w, _ in rows]
    assert sorted(writers) == sorted("aaaaabbbbbccccc")
    assert all(len(set(writers[i : i + 5])) == 1 for i in range(0, 15, 5))  # no batch interleaved


def test_a_failed_batch_leaves_nothing_and_the_next_one_writes(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _make(path)

    async def run() -> None:
        writer = SQLiteWriter(str(path))

        def fail(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES ('x', 1)")
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await writer.run(fail)
        await writer.run(lambda c: c.execute("INSERT INTO t VALUES ('y', 2)"))
        await writer.aclose()

    asyncio.run(run())
    assert _rows(path) == [("y", 2)]


def test_checkpoints_run_on_a_thread_not_on_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.db"
    _make(path)
    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_SECONDS", 0.0)

    async def run() -> tuple[int, int]:
        writer = SQLiteWriter(str(path))
        autocheckpoint = await writer.run(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        await writer.run(lambda c: c.executemany("INSERT INTO t VALUES ('w', ?)", [(n,) for n in range(500)]))
        done = writer._checkpointing
        assert done is not None
        await asyncio.wrap_future(done)
        reader = sqlite3.connect(path)
        _busy, log, moved = reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        reader.close()
        await writer.aclose()
        return autocheckpoint, log - moved

    autocheckpoint, left = asyncio.run(run())
    assert autocheckpoint == 0
    assert left == 0  # the thread's checkpoint had copied every frame back
    assert len(_rows(path)) == 500
