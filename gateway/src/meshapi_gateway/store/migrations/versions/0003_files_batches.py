"""Files and batches: file metadata, file bytes kept in the database, batches and their items.

Revision ID: 0003_files_batches
Revises: 0002_accounts
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_files_batches"
down_revision = "0002_accounts"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 10)


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False, server_default=""),
        sa.Column("bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("lines", sa.Integer, nullable=False, server_default="0"),
        sa.Column("storage", sa.String(20), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_files_owner_created", "files", ["owner", "created_at"])
    op.create_table(
        "file_chunks",
        sa.Column("file_id", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=True),
        sa.Column("endpoint", sa.String(60), nullable=False),
        sa.Column("input_file_id", sa.String(40), nullable=False),
        sa.Column("output_file_id", sa.String(40), nullable=True),
        sa.Column("error_file_id", sa.String(40), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("completion_window", sa.String(20), nullable=False),
        sa.Column("metadata_json", sa.Text, nullable=True),
        sa.Column("errors_json", sa.Text, nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("multiplier", sa.String(20), nullable=False, server_default="1"),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("in_progress_at", sa.BigInteger, nullable=True),
        sa.Column("finalizing_at", sa.BigInteger, nullable=True),
        sa.Column("completed_at", sa.BigInteger, nullable=True),
        sa.Column("failed_at", sa.BigInteger, nullable=True),
        sa.Column("expired_at", sa.BigInteger, nullable=True),
        sa.Column("cancelling_at", sa.BigInteger, nullable=True),
        sa.Column("cancelled_at", sa.BigInteger, nullable=True),
        sa.Column("claimed_by", sa.String(60), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
    )
    op.create_index("ix_batches_owner_created", "batches", ["owner", "created_at"])
    op.create_index("ix_batches_status", "batches", ["status"])
    op.create_table(
        "batch_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.String(40), sa.ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("custom_id", sa.String(200), nullable=False),
        sa.Column("url", sa.String(60), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(60), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("request_id", sa.String(260), nullable=True),
        sa.Column("result_json", sa.Text, nullable=True),
        sa.Column("error_json", sa.Text, nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost", MONEY, nullable=False, server_default="0"),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("batch_id", "custom_id", name="uq_batch_items_custom_id"),
    )
    op.create_index("ix_batch_items_batch_status", "batch_items", ["batch_id", "status"])
    op.create_index("ix_batch_items_batch_line", "batch_items", ["batch_id", "line"])


def downgrade() -> None:
    op.drop_index("ix_batch_items_batch_line", table_name="batch_items")
    op.drop_index("ix_batch_items_batch_status", table_name="batch_items")
    op.drop_table("batch_items")
    op.drop_index("ix_batches_status", table_name="batches")
    op.drop_index("ix_batches_owner_created", table_name="batches")
    op.drop_table("batches")
    op.drop_table("file_chunks")
    op.drop_index("ix_files_owner_created", table_name="files")
    op.drop_table("files")
