"""Teams as the control plane takes and shows them, and their rows.

A team groups owners (``members``: owner -> ``admin`` or ``member``) under a budget with a
period, a model allowlist and RPM/TPM limits. A key may belong to a team whose member its
owner is; its calls then pass the key's checks and the team's, and its spend counts toward both.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Literal, Optional

import orjson
from pydantic import ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.auth.principal import owner_name_problem
from meshapi_gateway.governance.key_terms import KeyTerms, models_of
from meshapi_gateway.governance.periods import iso_seconds, period_bounds
from meshapi_gateway.ids import ulid
from meshapi_gateway.money import money
from meshapi_gateway.store.team_tables import Team

MAX_LIMIT = 2**31 - 1
# Key terms a team does not take.
NOT_FOR_TEAMS = ("metadata", "expires_at", "team_id")
MAX_MEMBERS = 1000
Role = Literal["admin", "member"]


class TeamBody(KeyTerms):
    """The fields of a team; on a change only the fields sent change (``null`` removes a term)."""

    model_config = ConfigDict(extra="forbid")

    name: Optional[str] = Field(None, max_length=200)
    rpm: Optional[int] = Field(None, ge=1, le=MAX_LIMIT)
    tpm: Optional[int] = Field(None, ge=1, le=MAX_LIMIT)
    members: Optional[dict[str, Role]] = Field(None, max_length=MAX_MEMBERS)

    @field_validator("members")
    @classmethod
    def _members(cls, v: Optional[dict[str, str]]) -> Optional[dict[str, str]]:
        for owner in v or {}:
            problem = owner_name_problem(owner)
            if problem is not None:
                raise ValueError(f"owner {owner[:100]!r}: {problem}")
        return v


def team_columns(given: dict[str, Any]) -> dict[str, Any]:
    """Validated team fields (as ``TeamBody`` left them) → ``teams`` column values."""
    out: dict[str, Any] = {}
    for name, value in given.items():
        if name in NOT_FOR_TEAMS:
            continue  # key terms that a team does not have (refused before this)
        if name == "budget_usd":
            out[name] = None if value is None else Decimal(value)
        elif name == "models":
            out[name] = None if value is None else orjson.dumps(value).decode()
        elif name == "members":
            out[name] = orjson.dumps(value or {}).decode()
        elif name == "name":
            out[name] = value or ""
        else:
            out[name] = value
    return out


def members_of(row: Team) -> dict[str, str]:
    value = orjson.loads(row.members or "{}")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


async def create_team(session: AsyncSession, columns: dict[str, Any]) -> Team:
    now = int(time.time())
    row = Team(id="team_" + ulid(), created_at=now, updated_at=now, **{"members": "{}", "name": "", **columns})
    session.add(row)
    await session.commit()
    return row


async def get_team(session: AsyncSession, team_id: str) -> Team | None:
    return (await session.execute(select(Team).where(Team.id == team_id))).scalar_one_or_none()


async def list_teams(session: AsyncSession) -> list[Team]:
    return list((await session.execute(select(Team).order_by(Team.created_at.desc(), Team.id.desc()))).scalars())


async def update_team(session: AsyncSession, row: Team, columns: dict[str, Any]) -> Team:
    for name, value in columns.items():
        setattr(row, name, value)
    row.updated_at = int(time.time())
    await session.commit()
    return row


def team_view(row: Team, spend: Decimal | None, now: float | None = None) -> dict[str, Any]:
    period = row.budget_period or ("total" if row.budget_usd is not None else None)
    resets_at = period_bounds(period, now if now is not None else time.time())[1] if period else None
    return {
        "id": row.id,
        "object": "team",
        "name": row.name,
        "members": members_of(row),
        "budget_usd": money(Decimal(row.budget_usd)) if row.budget_usd is not None else None,
        "budget_period": period,
        "spend_usd": money(spend) if spend is not None else None,
        "budget_resets_at": iso_seconds(resets_at),
        "models": models_of(row.models),
        "rpm": row.rpm,
        "tpm": row.tpm,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
