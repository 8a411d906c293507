"""Revoked control-plane tokens.

Revision ID: 0005_token_revocations
Revises: 0004_idempotency
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_token_revocations"
down_revision = "0004_idempotency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_revocations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("jti", sa.String(255), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("issued_before", sa.BigInteger, nullable=True),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        sa.Column("revoked_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_token_revocations_jti", "token_revocations", ["jti"])
    op.create_index("ix_token_revocations_owner", "token_revocations", ["owner"])
    op.create_index("ix_token_revocations_revoked_at", "token_revocations", ["revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_token_revocations_revoked_at", table_name="token_revocations")
    op.drop_index("ix_token_revocations_owner", table_name="token_revocations")
    op.drop_index("ix_token_revocations_jti", table_name="token_revocations")
    op.drop_table("token_revocations")
