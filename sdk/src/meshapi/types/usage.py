"""Spending types: ``/v1/balance``, ``GET /v1/usage`` (rows or sums per group) and ``/v1/usage/events``."""

from __future__ import annotations

from typing import List, Literal, Optional

from .._models import DecimalStr, Model

__all__ = ["Balance", "UsageEvent", "UsageEvents", "UsageGroup", "UsageGroupBy", "UsageGroups", "UsageList"]

UsageGroupBy = Literal["key", "team", "model", "day"]


class Balance(Model):
    object: str = "balance"
    owner: str = ""
    currency: str = "USD"
    available_usd: DecimalStr
    balance_usd: Optional[DecimalStr] = None
    pending_usd: Optional[DecimalStr] = None
    credited_usd: Optional[DecimalStr] = None
    spent_usd: Optional[DecimalStr] = None
    # False when the owner has no account: nothing limits its spending.
    limited: bool = False


class UsageEvent(Model):
    id: str
    object: str = "usage.event"
    request_id: Optional[str] = None
    created_at: str = ""
    model: Optional[str] = None
    provider: Optional[str] = None
    key_id: Optional[str] = None
    team_id: Optional[str] = None
    kind: Optional[str] = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    total_tokens: int = 0
    cost_usd: DecimalStr = "0"


class UsageList(Model):
    """One page of usage rows, newest first, with the totals over every matching row."""

    object: str = "list"
    data: List[UsageEvent]
    has_more: bool = False
    total_count: int = 0
    total_cost_usd: DecimalStr = "0"


class UsageGroup(Model):
    """One group's sums; the field named by ``group_by`` is set (``day`` is a UTC date)."""

    key_id: Optional[str] = None
    team_id: Optional[str] = None
    model: Optional[str] = None
    day: Optional[str] = None
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: DecimalStr = "0"


class UsageGroups(Model):
    object: str = "list"
    group_by: str
    data: List[UsageGroup]
    total_count: int = 0
    total_cost_usd: DecimalStr = "0"


class UsageEvents(Model):
    """``usage.events``: oldest first from ``since``."""

    object: str = "list"
    events: List[UsageEvent]
    has_more: bool = False
