"""Revoked control-plane tokens: one token by its ``jti``, or every token of an owner issued before a time."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from meshapi_gateway.store.base import Base


class TokenRevocation(Base):
    """A revocation; once ``expires_at`` has passed no token it matches can still be valid."""

    __tablename__ = "token_revocations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    jti: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    # With ``owner``: tokens whose ``iat`` is before this Unix second (or that have no ``iat``).
    issued_before: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    revoked_at: Mapped[int] = mapped_column(BigInteger, index=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)
