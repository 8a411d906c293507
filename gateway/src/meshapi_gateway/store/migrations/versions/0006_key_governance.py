"""Key governance: budget with period, model allowlist, expiry, metadata and team.

Revision ID: 0006_key_governance
Revises: 0005_token_revocations
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_key_governance"
down_revision = "0005_token_revocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("budget_usd", sa.Numeric(20, 10), nullable=True))
        batch.add_column(sa.Column("budget_period", sa.String(16), nullable=True))
        batch.add_column(sa.Column("models", sa.Text, nullable=True))
        batch.add_column(sa.Column("expires_at", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("key_metadata", sa.Text, nullable=True))
        batch.add_column(sa.Column("team_id", sa.String(40), nullable=True))
    op.create_index("ix_api_keys_team_id", "api_keys", ["team_id"])
    # Budgets sum a key's spend since its period started.
    op.create_index("ix_ledger_key_created", "ledger_entries", ["key_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_ledger_key_created", table_name="ledger_entries")
    op.drop_index("ix_api_keys_team_id", table_name="api_keys")
    with op.batch_alter_table("api_keys") as batch:
        for name in ("team_id", "key_metadata", "expires_at", "models", "budget_period", "budget_usd"):
            batch.drop_column(name)
