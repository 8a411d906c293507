"""Teams, and the team of each ledger row.

Revision ID: 0008_teams
Revises: 0007_request_logs
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_teams"
down_revision = "0007_request_logs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("budget_usd", sa.Numeric(20, 10), nullable=True),
        sa.Column("budget_period", sa.String(16), nullable=True),
        sa.Column("models", sa.Text, nullable=True),
        sa.Column("rpm", sa.Integer, nullable=True),
        sa.Column("tpm", sa.Integer, nullable=True),
        sa.Column("members", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_teams_updated_at", "teams", ["updated_at"])
    with op.batch_alter_table("ledger_entries") as batch:
        batch.add_column(sa.Column("team_id", sa.String(40), nullable=True))
    op.create_index("ix_ledger_team_created", "ledger_entries", ["team_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_ledger_team_created", table_name="ledger_entries")
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("team_id")
    op.drop_index("ix_teams_updated_at", table_name="teams")
    op.drop_table("teams")
