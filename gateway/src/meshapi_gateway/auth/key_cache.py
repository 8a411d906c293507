"""An in-memory view of the api_keys table, so checking a key costs a dict lookup.

A background task re-reads rows changed since the last poll (every couple of seconds),
so a key revoked anywhere — another replica, the CLI — stops working within seconds.
A change made through this process is applied at once (``put``) and a refresh that read
before it never puts the older row back (``PutOrder``). An unknown key is looked up once
in the database (it may have just been created elsewhere) and then remembered as unknown
for a while, so bad keys cannot turn into a database round trip per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from hashlib import sha256
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from meshapi_gateway.auth.put_order import PutOrder
from meshapi_gateway.governance.allowlist import Allowlist
from meshapi_gateway.governance.key_terms import models_of
from meshapi_gateway.store.data_version import DataVersion, Seen
from meshapi_gateway.store.tables import ApiKey

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.governance.admission import KeyPlan
    from meshapi_gateway.governance.budgets import Budget

log = logging.getLogger("meshapi_gateway.auth")

NEGATIVE_TTL = 5.0
# Keys whose digest ``hit`` remembers; past this the memo starts again (a full clear costs one hash a key).
MAX_DIGESTS = 10_000


@dataclass(slots=True)
class CachedKey:
    id: str
    owner: str
    revoked: bool
    suspended: bool
    rpm: int | None
    rpd: int | None
    tpm: int | None
    expires_at: int | None = None
    # Governance terms, parsed once here so that a request only reads them.
    budget_usd: Decimal | None = None
    budget_period: str | None = None
    models: Allowlist | None = None
    team_id: str | None = None
    # The budget in its current period, made by the admission check on first use; a change of terms
    # makes a new entry, so only the period's end is checked per call.
    budget: Budget | None = None
    # The key's caller, made by ``authenticate`` on first use (immutable, and a changed row is a new entry).
    principal: Principal | None = None
    # What admission made for its last call that named a model and no fallbacks (``governance/admission.py``).
    plan: KeyPlan | None = None


def _cached(row: ApiKey) -> CachedKey:
    models = models_of(row.models)
    return CachedKey(
        row.id,
        row.owner,
        row.revoked_at is not None,
        bool(row.suspended),
        row.rpm,
        row.rpd,
        row.tpm,
        row.expires_at,
        Decimal(row.budget_usd) if row.budget_usd is not None else None,
        row.budget_period,
        Allowlist.of(models) if models is not None else None,
        row.team_id,
    )


class KeyCache:
    def __init__(
        self,
        sessions: async_sessionmaker,  # type: ignore[type-arg]
        refresh_seconds: float = 2.0,
        version: DataVersion | None = None,
    ) -> None:
        self._sessions = sessions
        self._refresh = refresh_seconds
        self._seen = Seen(version)  # no read while nothing was committed (store/data_version.py)
        self._by_hash: dict[str, CachedKey] = {}
        self._by_id: dict[str, CachedKey] = {}
        self._unknown: dict[str, float] = {}
        # SHA-256 through OpenSSL costs about 2 µs for a key (its per-call set-up, not the 48 bytes),
        # ten times the dict lookup that follows, on every request. The digest of a key never
        # changes, so that of each key that matched a row is kept: only keys a caller already
        # holds (made-up keys are never kept, so a flood of them cannot fill this), and only the
        # way to their entry, which ``_by_hash`` still decides (revocations apply as before).
        self._digests: dict[str, str] = {}
        self._watermark = 0
        self._order = PutOrder()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._poll(full=True)
        self._task = asyncio.create_task(self._loop(), name="key-cache-refresh")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            if self._seen.unchanged() and not self._order.reread():
                continue
            try:
                await self.refresh()
                self._seen.read_done()
            except Exception:  # the database may be briefly away; keep serving from memory
                log.warning("key cache refresh failed", exc_info=True)

    async def refresh(self) -> None:
        """Re-read the rows changed since the last read (what the background task does)."""
        await self._poll(full=False)

    async def _poll(self, full: bool) -> None:
        stmt = select(ApiKey)
        mark = self._order.mark()
        again = self._order.reread()
        if not full:
            # Re-read a little behind the watermark: rows committed in the same second.
            recent = ApiKey.updated_at >= self._watermark - 1
            stmt = stmt.where(or_(recent, ApiKey.id.in_(again)) if again else recent)
        async with self._sessions() as session:
            rows = list((await session.execute(stmt)).scalars())
        self._order.reread_done(again)
        for row in rows:
            if row.updated_at > self._watermark:
                self._watermark = row.updated_at
            if not self._order.older(row.id, mark):
                self._apply(row)

    def _apply(self, row: ApiKey) -> None:
        self._by_hash[row.key_hash] = self._by_id[row.id] = _cached(row)
        self._unknown.pop(row.key_hash, None)

    def put(self, row: ApiKey) -> None:
        """Make a change made by this process visible at once; ``row`` must be committed."""
        self._order.put(row.id)
        self._apply(row)

    def by_id(self, key_id: str) -> CachedKey | None:
        """A key known to this cache, by its id (work done later on a key's behalf: batch items)."""
        return self._by_id.get(key_id)

    def budgeted(self) -> list[CachedKey]:
        """The live keys that have a budget (the budget refresher seeds their spend from the ledger)."""
        return [k for k in self._by_hash.values() if k.budget_usd is not None and not k.revoked]

    def hit(self, key: str) -> CachedKey | None:
        """The cached entry of ``key`` if there is one: what nearly every request finds, without a coroutine."""
        digest = self._digests.get(key)
        if digest is not None:
            return self._by_hash.get(digest)
        digest = sha256(key.encode()).hexdigest()  # ``hash_key``, spelled out
        found = self._by_hash.get(digest)
        if found is not None:
            if len(self._digests) >= MAX_DIGESTS:
                self._digests.clear()
            self._digests[key] = digest
        return found

    async def lookup(self, key: str) -> CachedKey | None:
        digest = sha256(key.encode()).hexdigest()  # ``hash_key``, spelled out: this runs for every request
        hit = self._by_hash.get(digest)
        if hit is not None:
            return hit
        now = time.monotonic()
        until = self._unknown.get(digest)
        if until is not None and until > now:
            return None
        mark = self._order.mark()
        async with self._sessions() as session:
            row = (await session.execute(select(ApiKey).where(ApiKey.key_hash == digest))).scalar_one_or_none()
        if row is None:
            if len(self._unknown) > 100_000:
                self._unknown.clear()
            self._unknown[digest] = now + NEGATIVE_TTL
            return None
        if not self._order.older(row.id, mark):
            self._apply(row)
        return self._by_hash.get(digest)
