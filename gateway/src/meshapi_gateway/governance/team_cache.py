"""An in-memory view of the teams table, so a call checks its team without a database round trip.

Like the key cache: loaded at start, rows changed since the last look re-read every
``key_cache_refresh_seconds``, and a change made through this process applied at once and
never undone by a refresh that read before it (``PutOrder``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from meshapi_gateway.auth.put_order import PutOrder
from meshapi_gateway.governance.allowlist import Allowlist
from meshapi_gateway.governance.key_terms import models_of
from meshapi_gateway.governance.teams import members_of
from meshapi_gateway.store.data_version import DataVersion, Seen
from meshapi_gateway.store.team_tables import Team

log = logging.getLogger("meshapi_gateway.governance")


@dataclass(slots=True)
class CachedTeam:
    id: str
    budget_usd: Decimal | None
    budget_period: str | None
    models: Allowlist | None
    rpm: int | None
    tpm: int | None
    members: dict[str, str]


def cached_team(row: Team) -> CachedTeam:
    models = models_of(row.models)
    return CachedTeam(
        row.id,
        Decimal(row.budget_usd) if row.budget_usd is not None else None,
        row.budget_period,
        Allowlist.of(models) if models is not None else None,
        row.rpm,
        row.tpm,
        members_of(row),
    )


class TeamCache:
    def __init__(
        self,
        sessions: async_sessionmaker,  # type: ignore[type-arg]
        refresh_seconds: float = 2.0,
        version: DataVersion | None = None,
    ) -> None:
        self._sessions = sessions
        self._refresh = refresh_seconds
        self._seen = Seen(version)  # no read while nothing was committed (store/data_version.py)
        self._teams: dict[str, CachedTeam] = {}
        # owner -> (its teams, the teams it administers); rebuilt after any change.
        self._memberships: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._watermark = 0
        self._order = PutOrder()
        self._task: asyncio.Task[None] | None = None

    def get(self, team_id: str) -> CachedTeam | None:
        return self._teams.get(team_id)

    def all(self) -> list[CachedTeam]:
        return list(self._teams.values())

    def put(self, row: Team) -> None:
        """Apply a committed change made by this process at once."""
        self._order.put(row.id)
        self._teams[row.id] = cached_team(row)
        self._memberships = {}

    def drop(self, team_id: str) -> None:
        self._order.put(team_id)
        self._teams.pop(team_id, None)
        self._memberships = {}

    def memberships(self, owner: str) -> tuple[frozenset[str], frozenset[str]]:
        """The teams ``owner`` belongs to, and those of them it administers."""
        known = self._memberships.get(owner)
        if known is None:
            teams = [t for t in self._teams.values() if owner in t.members]
            known = (frozenset(t.id for t in teams), frozenset(t.id for t in teams if t.members[owner] == "admin"))
            if len(self._memberships) > 100_000:
                self._memberships = {}
            self._memberships[owner] = known
        return known

    async def poll(self, full: bool = False) -> None:
        stmt = select(Team)
        mark = self._order.mark()
        again = self._order.reread()
        if not full:
            recent = Team.updated_at >= self._watermark - 1
            stmt = stmt.where(or_(recent, Team.id.in_(again)) if again else recent)
        async with self._sessions() as session:
            rows = list((await session.execute(stmt)).scalars())
        self._order.reread_done(again)
        if full:
            # Teams put or dropped while this read keep their state; every other one is as read.
            kept = {i: t for i, t in self._teams.items() if self._order.older(i, mark)}
            self._teams = kept
        for row in rows:
            self._watermark = max(self._watermark, row.updated_at)
            if not self._order.older(row.id, mark):
                self._teams[row.id] = cached_team(row)
        if full or rows:
            self._memberships = {}

    async def start(self) -> None:
        await self.poll(full=True)
        self._task = asyncio.create_task(self._loop(), name="team-cache-refresh")

    async def _loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(self._refresh)
            ticks += 1
            # A deleted team leaves no row to see: a full read now and then drops it.
            full = ticks % 30 == 0
            if self._seen.unchanged() and not full and not self._order.reread():
                continue
            try:
                await self.poll(full=full)
                self._seen.read_done()
            except Exception:  # the database may be briefly away; keep serving from memory
                log.warning("team cache refresh failed", exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
