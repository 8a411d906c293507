"""A key's governance terms as the control plane takes them, and as the ``api_keys`` row stores them.

Bodies are strict: every field is checked here, and unknown fields are refused by the
request models (``extra="forbid"``), so nothing a client sends is silently dropped.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Optional, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from meshapi_gateway.governance.allowlist import entry_problem
from meshapi_gateway.governance.periods import PERIODS

# Budgets are stored as NUMERIC(20, 10): ten digits before the point.
MAX_BUDGET = Decimal("1e9")
MAX_METADATA_BYTES = 16 * 1024
MAX_MODELS = 500
# Last second of year 9999.
MAX_TIME_SECONDS = 253402300799
TERM_FIELDS = ("budget_usd", "budget_period", "models", "expires_at", "metadata", "team_id")


def parse_budget(value: Any) -> Decimal:
    """A budget in USD from a decimal string (or a JSON number): positive, at most ten-digit dollars."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError('expected a decimal string such as "25" or "2.50"')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError('expected a decimal string such as "25" or "2.50"') from None
    if not amount.is_finite() or amount <= 0 or amount >= MAX_BUDGET:
        raise ValueError(f"must be more than 0 and less than {MAX_BUDGET:f} USD")
    if amount != amount.quantize(Decimal("1e-10")):
        raise ValueError("has more than 10 decimal places")
    return amount


def parse_expiry(value: Any) -> int:
    """Unix seconds from an RFC 3339 time (with its offset, ``Z`` allowed) or from Unix seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError('expected an RFC 3339 time such as "2027-01-31T00:00:00Z"') from None
        if moment.tzinfo is None:
            raise ValueError('the time needs an offset ("Z" for UTC), as RFC 3339 requires')
        seconds = int(moment.timestamp())
    else:
        raise ValueError('expected an RFC 3339 time such as "2027-01-31T00:00:00Z"')
    if not 0 <= seconds <= MAX_TIME_SECONDS:
        raise ValueError("out of range")
    return seconds


class KeyTerms(BaseModel):
    """The governance fields shared by key creation and key changes (``null`` removes a term)."""

    model_config = ConfigDict(extra="forbid")

    budget_usd: Optional[Union[str, int, float]] = None
    budget_period: Optional[str] = None
    models: Optional[list[str]] = Field(None, max_length=MAX_MODELS)
    expires_at: Optional[Union[str, int]] = None
    metadata: Optional[dict[str, Any]] = None
    team_id: Optional[str] = Field(None, min_length=1, max_length=40)

    @field_validator("budget_usd", mode="before")
    @classmethod
    def _budget(cls, v: Any) -> Any:
        return None if v is None else str(parse_budget(v))

    @field_validator("budget_period")
    @classmethod
    def _period(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and v not in PERIODS:
            raise ValueError(f"must be one of {', '.join(PERIODS)}")
        return v

    @field_validator("models")
    @classmethod
    def _models(cls, v: Optional[list[str]]) -> Optional[list[str]]:
        if v is None:
            return None
        if not v:
            raise ValueError("an empty list would allow no model; send null to allow every model")
        for entry in v:
            problem = entry_problem(entry)
            if problem is not None:
                raise ValueError(f"{entry[:100]!r}: {problem}")
        return list(dict.fromkeys(v))

    @field_validator("expires_at", mode="before")
    @classmethod
    def _expires(cls, v: Any) -> Any:
        return None if v is None else parse_expiry(v)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        if v is not None and len(orjson.dumps(v)) > MAX_METADATA_BYTES:
            raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
        return v


def term_columns(terms: dict[str, Any]) -> dict[str, Any]:
    """Validated term values (as ``KeyTerms`` left them) → ``api_keys`` column values."""
    out: dict[str, Any] = {}
    for name, value in terms.items():
        if name == "budget_usd":
            out[name] = None if value is None else Decimal(value)
        elif name == "models":
            out[name] = None if value is None else orjson.dumps(value).decode()
        elif name == "metadata":
            out["key_metadata"] = None if value is None else orjson.dumps(value).decode()
        elif name in TERM_FIELDS:
            out[name] = value
    return out


def models_of(column: str | None) -> list[str] | None:
    if column is None:
        return None
    value = orjson.loads(column)
    return [str(m) for m in value] if isinstance(value, list) else None


def metadata_of(column: str | None) -> dict[str, Any] | None:
    if column is None:
        return None
    value = orjson.loads(column)
    return value if isinstance(value, dict) else None
