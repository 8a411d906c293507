"""The ledger's team index holds only the rows that have a team.

Most keys have no team, and every ledger row still wrote an entry of ``(NULL, created_at)``
into this index that no query reads: every query by team compares ``team_id`` with a value
(``=`` or ``IN``), which both SQLite and PostgreSQL answer from a partial index on
``team_id IS NOT NULL``. One b-tree insert a row less for most rows.

Revision ID: 0011_ledger_team_partial
Revises: 0010_audit
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_ledger_team_partial"
down_revision = "0010_audit"
branch_labels = None
depends_on = None

_HAS_TEAM = sa.text("team_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_ledger_team_created", table_name="ledger_entries")
    op.create_index(
        "ix_ledger_team_created",
        "ledger_entries",
        ["team_id", "created_at"],
        sqlite_where=_HAS_TEAM,
        postgresql_where=_HAS_TEAM,
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_team_created", table_name="ledger_entries")
    op.create_index("ix_ledger_team_created", "ledger_entries", ["team_id", "created_at"])
