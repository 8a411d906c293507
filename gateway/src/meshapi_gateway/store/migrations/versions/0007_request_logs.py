"""The request log: one row per data-plane request.

Revision ID: 0007_request_logs
Revises: 0006_key_governance
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_request_logs"
down_revision = "0006_key_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_logs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("key_id", sa.String(40), nullable=True),
        sa.Column("team_id", sa.String(40), nullable=True),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("requested_model", sa.String(200), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("deployment", sa.String(220), nullable=True),
        sa.Column("attempts", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("streamed", sa.Boolean, nullable=False),
        sa.Column("ttft_ms", sa.Float, nullable=True),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("cost", sa.Numeric(20, 10), nullable=True),
        sa.Column("idempotent_replay", sa.Boolean, nullable=False),
        sa.Column("cache_status", sa.String(16), nullable=True),
        sa.Column("client_address", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(256), nullable=True),
        sa.Column("request_body", sa.Text, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
    )
    op.create_index("ix_request_logs_request_id", "request_logs", ["request_id"])
    op.create_index("ix_request_logs_created", "request_logs", ["created_ms", "id"])
    op.create_index("ix_request_logs_owner_created", "request_logs", ["owner", "created_ms", "id"])


def downgrade() -> None:
    op.drop_table("request_logs")
