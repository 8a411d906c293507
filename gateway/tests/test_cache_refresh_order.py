"""A cache refresh that read before a suspension, revocation or team change must not undo it.

The refresh's read is held open (on a real SQLite file) while the change is committed and
applied to the cache, then let go: the interleaving is fixed, not left to timing.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

from meshapi_gateway.auth.key_cache import KeyCache
from meshapi_gateway.auth.key_limits import get_key, update_key
from meshapi_gateway.auth.keys import create_key, revoke_key
from meshapi_gateway.governance.team_cache import TeamCache
from meshapi_gateway.governance.teams import create_team, get_team, update_team
from meshapi_gateway.store import db


class HeldReads:
    """Sessions whose next ``execute`` returns its rows only once ``release`` is called."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._gate: asyncio.Event | None = None
        self._held = asyncio.Event()
        self.read = asyncio.Event()

    def hold_next(self) -> None:
        self._gate = self._held = asyncio.Event()
        self.read.clear()

    def release(self) -> None:
        self._held.set()

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[Any]:
        async with self._real() as session:
            yield _HeldSession(session, self)

    async def _after_read(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            self.read.set()
            await gate.wait()


class _HeldSession:
    def __init__(self, session: Any, reads: HeldReads) -> None:
        self._session = session
        self._reads = reads

    async def execute(self, stmt: Any) -> Any:
        result = await self._session.execute(stmt)
        await self._reads._after_read()
        return result


def _database(tmp_path: Path) -> tuple[Any, Any]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    return engine, db.sessionmaker(engine)


async def _while_refresh_reads(reads: HeldReads, refresh: Any, change: Any) -> None:
    reads.hold_next()
    task = asyncio.create_task(refresh())
    await reads.read.wait()  # the refresh holds the rows as they were before the change
    await change()
    reads.release()
    await task


async def test_a_refresh_that_read_before_a_suspension_does_not_bring_the_key_back(tmp_path: Path) -> None:
    engine, sessions = _database(tmp_path)
    try:
        async with sessions() as session:
            created = await create_key(session, "alice")
        reads = HeldReads(sessions)
        cache = KeyCache(reads)  # type: ignore[arg-type]
        await cache.refresh()
        assert (await cache.lookup(created.key)) is not None

        async def suspend() -> None:
            async with sessions() as session:
                row = await update_key(session, created.id, {"suspended": True})
            assert row is not None
            cache.put(row)

        await _while_refresh_reads(reads, cache.refresh, suspend)
        hit = await cache.lookup(created.key)
        assert hit is not None and hit.suspended

        # The row it skipped is read again next time, so a change made elsewhere still arrives.
        async with sessions() as session:
            await revoke_key(session, created.id)
        await cache.refresh()
        hit = await cache.lookup(created.key)
        assert hit is not None and hit.revoked and hit.suspended
    finally:
        await engine.dispose()


async def test_a_refresh_that_read_before_a_revocation_does_not_bring_the_key_back(tmp_path: Path) -> None:
    engine, sessions = _database(tmp_path)
    try:
        async with sessions() as session:
            created = await create_key(session, "alice")
        reads = HeldReads(sessions)
        cache = KeyCache(reads)  # type: ignore[arg-type]
        await cache.refresh()

        async def revoke() -> None:
            async with sessions() as session:
                await revoke_key(session, created.id)
                row = await get_key(session, created.id)
            assert row is not None
            cache.put(row)

        await _while_refresh_reads(reads, cache.refresh, revoke)
        hit = await cache.lookup(created.key)
        assert hit is not None and hit.revoked
    finally:
        await engine.dispose()


async def test_a_team_refresh_does_not_undo_a_change_or_a_deletion_made_while_it_read(tmp_path: Path) -> None:
    engine, sessions = _database(tmp_path)
    try:
        async with sessions() as session:
            first = await create_team(session, {"name": "one", "rpm": 10})
            second = await create_team(session, {"name": "two"})
        reads = HeldReads(sessions)
        cache = TeamCache(reads)  # type: ignore[arg-type]
        await cache.poll(full=True)

        async def change() -> None:
            async with sessions() as session:
                row = await get_team(session, first.id)
                assert row is not None
                cache.put(await update_team(session, row, {"rpm": 1}))

        await _while_refresh_reads(reads, cache.poll, change)
        team = cache.get(first.id)
        assert team is not None and team.rpm == 1

        async def delete() -> None:
            async with sessions() as session:
                row = await get_team(session, second.id)
                await session.delete(row)
                await session.commit()
            cache.drop(second.id)

        await _while_refresh_reads(reads, lambda: cache.poll(full=True), delete)
        assert cache.get(second.id) is None
        team = cache.get(first.id)
        assert team is not None and team.rpm == 1
    finally:
        await engine.dispose()
