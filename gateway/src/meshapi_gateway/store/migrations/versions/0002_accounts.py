"""Balances, credits, the usage ledger and prompt templates.

Revision ID: 0002_accounts
Revises: 0001_keys
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_accounts"
down_revision = "0001_keys"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 10)


def upgrade() -> None:
    op.create_table(
        "balances",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("balance_usd", MONEY, nullable=False),
        sa.Column("credited_usd", MONEY, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False, index=True),
    )
    op.create_table(
        "credits",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False, index=True),
        sa.Column("amount_usd", MONEY, nullable=False),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("request_id", sa.String(300), nullable=False, index=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", MONEY, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ledger_owner_created", "ledger_entries", ["owner", "created_at"])
    op.create_table(
        "prompt_templates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("system", sa.Text, nullable=True),
        sa.Column("messages", sa.Text, nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("params", sa.Text, nullable=True),
        sa.Column("variables", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("is_global", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("owner", "name", name="uq_template_owner_name"),
    )


def downgrade() -> None:
    op.drop_table("prompt_templates")
    op.drop_index("ix_ledger_owner_created", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("credits")
    op.drop_table("balances")
