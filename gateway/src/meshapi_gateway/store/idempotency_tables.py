"""Idempotency keys: the first answer to a POST, kept 24 h per owner and key."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meshapi_gateway.store.base import Base


class IdempotencyKey(Base):
    """The finished answer to one ``Idempotency-Key`` of one owner, written behind the request.

    Claims of running keys live in memory or Redis, never here; rows are upserted in
    batches and read back at start-up (``idempotency/store.py``). Rows with state
    "running" can only come from gateways before that change and are ignored.

    The key itself is kept only as a SHA-256 (it may be anything the client chose); the
    fingerprint is a SHA-256 of method, path and body, so a key reused for a different
    request is recognised.
    """

    __tablename__ = "idempotency_keys"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # "done" (older gateways also wrote "running")
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    headers: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list of [name, value]
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)
