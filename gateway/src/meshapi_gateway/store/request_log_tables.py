"""The request log: one row per data-plane request, written behind the requests (docs/observability.md)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meshapi_gateway.store.base import MONEY, Base


class RequestLog(Base):
    """What one request did. Bodies are stored only when turned on, capped and redacted first.

    ``id`` is the gateway's own (``log_…``, a ULID): ``request_id`` may come from the client
    and need not be unique. Rows are listed newest first by (``created_ms``, ``id``).
    """

    __tablename__ = "request_logs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)  # Unix milliseconds
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    team_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    requested_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    deployment: Mapped[str | None] = mapped_column(String(220), nullable=True)
    attempts: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of {model, deployment, outcome, duration_ms}
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    streamed: Mapped[bool] = mapped_column(Boolean, default=False)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal | None] = mapped_column(MONEY, nullable=True)
    idempotent_replay: Mapped[bool] = mapped_column(Boolean, default=False)
    cache_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(256), nullable=True)
    request_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_request_logs_created", "created_ms", "id"),
        Index("ix_request_logs_owner_created", "owner", "created_ms", "id"),
    )
