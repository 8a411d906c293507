"""Balances, ledger and prompt templates (filled in by the accounts work).

Revision ID: 0002_accounts
Revises: 0001_keys
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0002_accounts"
down_revision = "0001_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
