"""Team types: what ``/v1/teams`` returns."""

from __future__ import annotations

from typing import Dict, List, Literal, Optional

from .._models import DecimalStr, Model

__all__ = ["Team", "TeamList", "TeamRole"]

TeamRole = Literal["admin", "member"]


class Team(Model):
    id: str
    object: str = "team"
    name: Optional[str] = None
    # Owner name → "admin" or "member".
    members: Dict[str, str] = {}
    budget_usd: Optional[DecimalStr] = None
    budget_period: Optional[str] = None
    spend_usd: Optional[DecimalStr] = None
    budget_resets_at: Optional[str] = None
    models: Optional[List[str]] = None
    rpm: Optional[int] = None
    tpm: Optional[int] = None
    created_at: Optional[int] = None
    updated_at: Optional[int] = None


class TeamList(Model):
    object: str = "list"
    data: List[Team]
