"""Data-plane keys: ``rsk_<ULID><random>``, kept only as SHA-256 hashes.

A SHA-256 (not a slow password hash) is right here: the key carries 200+ random bits,
so there is nothing to brute-force, and the hash is computed on every request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.auth.principal import owner_name_problem
from meshapi_gateway.governance.key_terms import metadata_of, models_of
from meshapi_gateway.governance.periods import iso_seconds, period_bounds
from meshapi_gateway.ids import ulid
from meshapi_gateway.money import money
from meshapi_gateway.store.tables import ApiKey

KEY_PREFIX = "rsk_"


def new_key() -> str:
    return KEY_PREFIX + ulid() + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(slots=True)
class CreatedKey:
    id: str
    key: str
    owner: str
    name: str
    created_at: int
    rpm: int | None
    rpd: int | None
    tpm: int | None


async def create_key(
    session: AsyncSession,
    owner: str,
    name: str = "",
    *,
    rpm: int | None = None,
    rpd: int | None = None,
    tpm: int | None = None,
    terms: dict[str, Any] | None = None,
) -> CreatedKey:
    """A new key; ``terms`` are governance column values (``governance.key_terms.term_columns``)."""
    problem = owner_name_problem(owner)
    if problem is not None:
        raise ValueError(f"owner {owner!r}: {problem}")
    key = new_key()
    now = int(time.time())
    row = ApiKey(
        id="key_" + ulid(),
        owner=owner,
        name=name,
        key_hash=hash_key(key),
        prefix=key[:12],
        created_at=now,
        updated_at=now,
        revoked_at=None,
        suspended=False,
        rpm=rpm,
        rpd=rpd,
        tpm=tpm,
        **(terms or {}),
    )
    session.add(row)
    await session.commit()
    return CreatedKey(row.id, key, owner, name, now, rpm, rpd, tpm)


async def list_keys(session: AsyncSession, owner: str | None = None) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    if owner is not None:
        stmt = stmt.where(ApiKey.owner == owner)
    return list((await session.execute(stmt)).scalars())


async def revoke_key(session: AsyncSession, key_id: str, owner: str | None = None) -> bool:
    stmt = update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    if owner is not None:
        stmt = stmt.where(ApiKey.owner == owner)
    now = int(time.time())
    result = await session.execute(stmt.values(revoked_at=now, updated_at=now))
    await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def key_view(row: ApiKey, spend: Decimal | None = None, now: float | None = None) -> dict[str, object]:
    """A key as listings show it: never the key itself.

    ``spend`` is what the key spent in its current budget period (``None`` when not known).
    """
    period = row.budget_period or ("total" if row.budget_usd is not None else None)
    resets_at = period_bounds(period, now if now is not None else time.time())[1] if period else None
    return {
        "id": row.id,
        "object": "api_key",
        "owner": row.owner,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
        "suspended": row.suspended,
        "rpm": row.rpm,
        "rpd": row.rpd,
        "tpm": row.tpm,
        "budget_usd": money(Decimal(row.budget_usd)) if row.budget_usd is not None else None,
        "budget_period": period,
        "spend_usd": money(spend) if spend is not None else None,
        "budget_resets_at": iso_seconds(resets_at),
        "models": models_of(row.models),
        "expires_at": iso_seconds(row.expires_at),
        "metadata": metadata_of(row.key_metadata),
        "team_id": row.team_id,
    }
