"""Data-plane API keys.

Revision ID: 0001_keys
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_keys"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False, index=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Column("suspended", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("rpm", sa.Integer, nullable=True),
        sa.Column("rpd", sa.Integer, nullable=True),
        sa.Column("tpm", sa.Integer, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
