"""Tables of accounts: balances, credits, the usage ledger and prompt templates.

Money is NUMERIC(20, 10) (never float); ledger and template times are Unix
milliseconds, so "newest first" and "since" are exact within a second.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from meshapi_gateway.store.base import MONEY, Base


class Balance(Base):
    """An owner's account. It exists once the owner was credited (or when billing is enforced for everyone)."""

    __tablename__ = "balances"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    balance_usd: Mapped[Decimal] = mapped_column(MONEY)
    credited_usd: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Unix seconds; replicas re-read rows changed since their last look.
    updated_at: Mapped[int] = mapped_column(BigInteger, index=True)


class Credit(Base):
    """One credit (or debit, when negative) made by an admin: the audit trail of balance changes not in the ledger."""

    __tablename__ = "credits"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    amount_usd: Mapped[Decimal] = mapped_column(MONEY)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)


class LedgerEntry(Base):
    """One billed request. ``id`` is minted when the usage is recorded, so a retried batch write is a no-op."""

    __tablename__ = "ledger_entries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(300), index=True)
    owner: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The key's team when the call was made: spend rolls up key -> team.
    team_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    model: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cached_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_ledger_owner_created", "owner", "created_at"),
        Index("ix_ledger_key_created", "key_id", "created_at"),
        # Only rows with a team (most have none): every query by team compares it with a value (migration 0011).
        Index(
            "ix_ledger_team_created",
            "team_id",
            "created_at",
            sqlite_where=text("team_id IS NOT NULL"),
            postgresql_where=text("team_id IS NOT NULL"),
        ),
    )


class PromptTemplate(Base):
    """A prompt template; ``owner`` is empty for global templates (readable by every owner)."""

    __tablename__ = "prompt_templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    system: Mapped[str | None] = mapped_column(Text, nullable=True)
    # JSON text: lists/objects as the client sent them.
    messages: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    params: Mapped[str | None] = mapped_column(Text, nullable=True)
    variables: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    global_: Mapped[bool] = mapped_column("is_global", Boolean, default=False)
    # The active version (its fields are the ones above) and the newest one.
    version: Mapped[int] = mapped_column(Integer, default=1)
    latest_version: Mapped[int] = mapped_column(Integer, default=1)
    # Shared with the members of this team (only the owner and the team's admins change it).
    team_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)

    __table_args__ = (UniqueConstraint("owner", "name", name="uq_template_owner_name"),)


class PromptTemplateVersion(Base):
    """Every version a template had: each update makes one; any can be made active again."""

    __tablename__ = "prompt_template_versions"

    template_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    system: Mapped[str | None] = mapped_column(Text, nullable=True)
    messages: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    params: Mapped[str | None] = mapped_column(Text, nullable=True)
    variables: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Who made it (an owner, or the admin's reserved name).
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
