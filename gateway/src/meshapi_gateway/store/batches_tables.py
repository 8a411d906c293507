"""Tables of files and batches.

A batch's requests are copied into ``batch_items`` when the batch is created, one row
per ``custom_id``; each row carries its own status, result and lease, so every finished
request is committed on its own and a crashed runner's work is picked up again by the
next one. Output files are built from these rows, so a ``custom_id`` appears once.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meshapi_gateway.store.base import MONEY, Base


class StoredFile(Base):
    """A file's metadata; its bytes live in the configured storage (a folder or ``file_chunks``)."""

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(300), default="")
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    lines: Mapped[int] = mapped_column(Integer, default=0)
    # Where the bytes are: "local" or "database" (a file stays readable if the setting changes later).
    storage: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_files_owner_created", "owner", "created_at"),)


class FileChunk(Base):
    """Bytes of a file kept in the database, in order, for deployments without a shared disk."""

    __tablename__ = "file_chunks"

    file_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    endpoint: Mapped[str] = mapped_column(String(60))
    input_file_id: Mapped[str] = mapped_column(String(40))
    output_file_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error_file_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    completion_window: Mapped[str] = mapped_column(String(20))
    metadata_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    errors_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Price multiplier fixed when the batch was created (the batch discount), as a decimal string.
    multiplier: Mapped[str] = mapped_column(String(20), default="1")
    total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    in_progress_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finalizing_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    completed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    expired_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cancelling_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cancelled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Lease of the runner that is finalizing the batch (another runner takes over once it lapses).
    claimed_by: Mapped[str | None] = mapped_column(String(60), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_batches_owner_created", "owner", "created_at"), Index("ix_batches_status", "status"))


class BatchItem(Base):
    """One request of a batch. ``status``: pending → running → succeeded | failed | cancelled | expired."""

    __tablename__ = "batch_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(String(40), ForeignKey("batches.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    custom_id: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(60))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(60), nullable=True)
    # For a running item: when its lease lapses; for a pending one: not to be tried before this time.
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(260), nullable=True)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        UniqueConstraint("batch_id", "custom_id", name="uq_batch_items_custom_id"),
        Index("ix_batch_items_batch_status", "batch_id", "status"),
        # Output files are written in input order, a page at a time.
        Index("ix_batch_items_batch_line", "batch_id", "line"),
    )


__all__ = ["Batch", "BatchItem", "FileChunk", "StoredFile"]
