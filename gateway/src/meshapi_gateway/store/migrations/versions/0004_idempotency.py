"""Idempotency keys (filled in by the reliability work).

Revision ID: 0004_idempotency
Revises: 0003_files_batches
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004_idempotency"
down_revision = "0003_files_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
