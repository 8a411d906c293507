"""Table definitions. Each feature area keeps its tables here so migrations see one metadata.

Times are stored as integer Unix seconds (what the wire uses); money as NUMERIC(20, 10)
so no float ever touches a balance.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

# Each feature area's tables, imported so that Base.metadata holds them all.
from meshapi_gateway.store import accounts_tables as _accounts_tables  # noqa: F401  (accounts)
from meshapi_gateway.store import audit_tables as _audit_tables  # noqa: F401  (audit log)
from meshapi_gateway.store import batches_tables as _batches_tables  # noqa: F401  (files and batches)
from meshapi_gateway.store import idempotency_tables as _idempotency_tables  # noqa: F401  (idempotency)
from meshapi_gateway.store import request_log_tables as _request_log_tables  # noqa: F401  (request log)
from meshapi_gateway.store import team_tables as _team_tables  # noqa: F401  (teams)
from meshapi_gateway.store import token_tables as _token_tables  # noqa: F401  (token revocations)
from meshapi_gateway.store.base import MONEY, Base


class ApiKey(Base):
    """A data-plane key. Only its SHA-256 is stored; the key itself is shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # First characters of the key, for people to recognise it in listings.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger, index=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    rpm: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rpd: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tpm: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Governance (docs/accounts.md): a spend budget per period, a model allowlist, an expiry.
    budget_usd: Mapped[Decimal | None] = mapped_column(MONEY, nullable=True)
    budget_period: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # JSON text: the allowed model ids and ``vendor/*`` patterns; NULL allows every model.
    models: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # JSON text: the caller's own object, returned as given.
    key_metadata: Mapped[str | None] = mapped_column(Text, nullable=True)
    team_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)


__all__ = ["MONEY", "ApiKey", "Base", "Decimal", "Index", "Text"]
