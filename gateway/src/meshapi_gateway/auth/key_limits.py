"""Changing an existing key: its name, limits and governance terms (``PATCH /v1/keys/{id}``, ``keys update``)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.store.tables import ApiKey

CHANGEABLE = (
    "name",
    "rpm",
    "rpd",
    "tpm",
    "suspended",
    "budget_usd",
    "budget_period",
    "models",
    "expires_at",
    "key_metadata",
    "team_id",
)


async def get_key(session: AsyncSession, key_id: str, owner: str | None = None) -> ApiKey | None:
    row = (await session.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar_one_or_none()
    if row is None or (owner is not None and row.owner != owner):
        return None
    return row


async def update_key(
    session: AsyncSession, key_id: str, changes: dict[str, Any], owner: str | None = None
) -> ApiKey | None:
    """Apply ``changes`` (column values; ``None`` removes a limit or term).

    ``None`` when there is no such key (of that owner).
    """
    row = await get_key(session, key_id, owner)
    if row is None:
        return None
    for name, value in changes.items():
        if name in CHANGEABLE:
            setattr(row, name, value if name != "name" else (value or ""))
    row.updated_at = int(time.time())
    await session.commit()
    return row
