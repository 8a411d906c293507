"""Data-plane key types: what ``/v1/keys`` returns (never the key itself, except once on creation)."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional

from .._models import DecimalStr, Model

__all__ = ["APIKey", "APIKeyList", "BudgetPeriod", "CreatedAPIKey"]

# Budget periods reset at UTC boundaries; ``total`` never resets.
BudgetPeriod = Literal["daily", "weekly", "monthly", "total"]


class APIKey(Model):
    id: str
    object: str = "api_key"
    owner: str = ""
    name: str = ""
    prefix: str = ""
    created_at: Optional[int] = None
    revoked_at: Optional[int] = None
    suspended: bool = False
    rpm: Optional[int] = None
    rpd: Optional[int] = None
    tpm: Optional[int] = None
    budget_usd: Optional[DecimalStr] = None
    budget_period: Optional[str] = None
    # What the key spent in its current budget period, and when that period ends (RFC 3339).
    spend_usd: Optional[DecimalStr] = None
    budget_resets_at: Optional[str] = None
    models: Optional[List[str]] = None
    expires_at: Optional[str] = None
    metadata: Optional[Dict[str, Any]] = None
    team_id: Optional[str] = None


class CreatedAPIKey(APIKey):
    """The creation answer: the only one that holds the key."""

    key: str


class APIKeyList(Model):
    object: str = "list"
    data: List[APIKey]
