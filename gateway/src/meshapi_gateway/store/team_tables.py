"""Teams: a group of owners sharing a budget, a model allowlist and rate limits (docs/accounts.md, Teams)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meshapi_gateway.store.base import MONEY, Base


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    budget_usd: Mapped[Decimal | None] = mapped_column(MONEY, nullable=True)
    budget_period: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # JSON text: allowed model ids and ``vendor/*`` patterns; NULL allows every model.
    models: Mapped[str | None] = mapped_column(Text, nullable=True)
    rpm: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tpm: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # JSON text: ``{owner: role}``, role ``admin`` or ``member``.
    members: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Unix seconds; replicas re-read rows changed since their last look.
    updated_at: Mapped[int] = mapped_column(BigInteger, index=True)
