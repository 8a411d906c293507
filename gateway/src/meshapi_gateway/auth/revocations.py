"""Revoked control-plane tokens, checked in memory so a JWT request never waits on the database.

A revocation names one token (its ``jti``) or every token of an owner issued before a time
(for tokens minted elsewhere, without a ``jti``). The process that takes a revocation
applies it at once; the others re-read new rows every ``key_cache_refresh_seconds``, so on
several gateway nodes a revoked token stops working everywhere within that interval. Rows
are kept until no token they match can still be valid (``jwt_max_ttl_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meshapi_gateway.ids import prefixed
from meshapi_gateway.store.data_version import DataVersion, Seen
from meshapi_gateway.store.token_tables import TokenRevocation

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.auth")


async def revoke(
    session: AsyncSession,
    *,
    max_ttl_seconds: int,
    jti: str | None = None,
    owner: str | None = None,
    issued_before: int | None = None,
    note: str = "",
) -> TokenRevocation:
    """Store a revocation (``jti``, or ``owner`` with ``issued_before`` defaulting to now)."""
    if (jti is None) == (owner is None):
        raise ValueError("name exactly one of jti and owner")
    now = int(time.time())
    if owner is not None and issued_before is None:
        issued_before = now + 1  # everything issued up to and including this second
    # A matching token was issued before now (or before ``issued_before``) and lives at most max_ttl.
    expires_at = max(now, issued_before or now) + max_ttl_seconds
    row = TokenRevocation(
        id=prefixed("rev"),
        jti=jti,
        owner=owner,
        issued_before=issued_before if owner else None,
        note=note[:200],
        revoked_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    await session.commit()
    return row


class Revocations:
    def __init__(
        self,
        sessions: async_sessionmaker,  # type: ignore[type-arg]
        refresh_seconds: float = 2.0,
        version: DataVersion | None = None,
    ) -> None:
        self._sessions = sessions
        self._refresh = refresh_seconds
        self._seen = Seen(version)  # no read while nothing was committed (store/data_version.py)
        self._jtis: dict[str, int] = {}  # jti → expires_at
        self._owners: dict[str, tuple[int, int]] = {}  # owner → (issued_before, expires_at)
        self._watermark = 0
        self._task: asyncio.Task[None] | None = None

    def is_revoked(self, claims: dict[str, Any], owner: str) -> bool:
        jti = claims.get("jti")
        if isinstance(jti, str) and jti in self._jtis:
            return True
        cutoff = self._owners.get(owner)
        if cutoff is None:
            return False
        iat = claims.get("iat")
        return not isinstance(iat, (int, float)) or iat < cutoff[0]

    def add(self, row: TokenRevocation) -> None:
        """Apply a revocation (one this process just stored, or one read from the table)."""
        if row.jti is not None:
            self._jtis[row.jti] = max(row.expires_at, self._jtis.get(row.jti, 0))
        if row.owner is not None and row.issued_before is not None:
            old = self._owners.get(row.owner)
            if old is None or row.issued_before >= old[0]:
                self._owners[row.owner] = (row.issued_before, max(row.expires_at, old[1] if old else 0))
        self._watermark = max(self._watermark, row.revoked_at)

    async def start(self) -> None:
        await self._poll(full=True)
        self._task = asyncio.create_task(self._loop(), name="token-revocations-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            if self._seen.unchanged():
                continue
            try:
                await self._poll(full=False)
                self._seen.read_done()
            except Exception:  # the database may be briefly away; revocations known so far still hold
                log.warning("token revocation refresh failed", exc_info=True)

    async def _poll(self, full: bool) -> None:
        now = int(time.time())
        stmt = select(TokenRevocation).where(TokenRevocation.expires_at > now)
        if not full:
            # A little behind the watermark: rows committed in the same second.
            stmt = stmt.where(TokenRevocation.revoked_at >= self._watermark - 1)
        async with self._sessions() as session:
            rows = list((await session.execute(stmt)).scalars())
            if full:
                await session.execute(delete(TokenRevocation).where(TokenRevocation.expires_at <= now))
                await session.commit()
        for row in rows:
            self.add(row)
        self._jtis = {j: exp for j, exp in self._jtis.items() if exp > now}
        self._owners = {o: v for o, v in self._owners.items() if v[1] > now}


async def start_token_revocations(state: "GatewayState") -> Callable[[], Awaitable[None]]:
    """Start hook: load the revocations and keep them fresh; the JWT verifier consults them."""
    revocations = Revocations(state.sessions, state.settings.key_cache_refresh_seconds, state.data_version)
    await revocations.start()
    state.jwt.revocations = revocations
    return revocations.stop
