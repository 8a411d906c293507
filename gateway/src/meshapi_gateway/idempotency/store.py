"""The database side of idempotency keys: claim, complete, release, purge.

A claim is an INSERT on the (owner, key) primary key, so two replicas racing on one key
cannot both win; everything else is a read or a conditional UPDATE/DELETE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from meshapi_gateway.store.idempotency_tables import IdempotencyKey

ClaimOutcome = Literal["claimed", "done", "running", "mismatch"]


@dataclass(slots=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(slots=True)
class Claim:
    outcome: ClaimOutcome
    response: StoredResponse | None = None


class IdempotencyStore:
    def __init__(self, sessions: async_sessionmaker, ttl_seconds: int, stale_after: int) -> None:  # type: ignore[type-arg]
        self.sessions = sessions
        self.ttl = ttl_seconds
        # A "running" claim older than this is taken over (its process died without releasing it).
        self.stale_after = stale_after

    async def claim(self, owner: str, key_hash: str, fingerprint: str, now: int) -> Claim:
        async with self.sessions() as session:
            for _ in range(3):
                session.add(IdempotencyKey(owner=owner, key_hash=key_hash, fingerprint=fingerprint, state="running",
                                           created_at=now, expires_at=now + self.ttl))
                try:
                    await session.commit()
                    return Claim("claimed")
                except IntegrityError:
                    await session.rollback()
                row = await session.get(IdempotencyKey, (owner, key_hash), populate_existing=True)
                if row is None:
                    continue  # released or purged in between: claim again
                expired = row.expires_at <= now
                stale = row.state == "running" and row.created_at <= now - self.stale_after
                if expired or stale:
                    taken = await session.execute(
                        update(IdempotencyKey)
                        .where(IdempotencyKey.owner == owner, IdempotencyKey.key_hash == key_hash,
                               IdempotencyKey.created_at == row.created_at, IdempotencyKey.state == row.state)
                        .values(fingerprint=fingerprint, state="running", status=None, headers=None, body=None,
                                created_at=now, expires_at=now + self.ttl))
                    await session.commit()
                    if taken.rowcount == 1:
                        return Claim("claimed")
                    continue
                if row.fingerprint != fingerprint:
                    return Claim("mismatch")
                if row.state == "done" and row.status is not None:
                    headers = [(str(k), str(v)) for k, v in orjson.loads(row.headers or "[]")]
                    return Claim("done", StoredResponse(row.status, headers, row.body or b""))
                return Claim("running")
        return Claim("running")

    async def complete(self, owner: str, key_hash: str, response: StoredResponse) -> None:
        async with self.sessions() as session:
            await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.owner == owner, IdempotencyKey.key_hash == key_hash,
                       IdempotencyKey.state == "running")
                .values(state="done", status=response.status, headers=orjson.dumps(response.headers).decode(),
                        body=response.body))
            await session.commit()

    async def release(self, owner: str, key_hash: str) -> None:
        async with self.sessions() as session:
            await session.execute(delete(IdempotencyKey).where(
                IdempotencyKey.owner == owner, IdempotencyKey.key_hash == key_hash,
                IdempotencyKey.state == "running"))
            await session.commit()

    async def purge(self, now: int) -> int:
        async with self.sessions() as session:
            result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
            await session.commit()
            return int(result.rowcount or 0)

    async def count(self) -> int:
        async with self.sessions() as session:
            return len((await session.execute(select(IdempotencyKey.key_hash))).all())
