"""The audit log: who created, changed, suspended or revoked keys, teams, templates and credits."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meshapi_gateway.store.base import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Unix milliseconds.
    at: Mapped[int] = mapped_column(BigInteger)
    # Who acted: an owner, ``@admin`` (the admin token) or ``@cli`` (the command line).
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))  # "key.create", "team.update", "credit", …
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[str] = mapped_column(String(200))
    # The owner the target belongs to (for a credit: the owner credited).
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # JSON text: what changed (field names and new values; never a key or a secret).
    details: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_audit_at", "at"), Index("ix_audit_target", "target_id", "at"))
