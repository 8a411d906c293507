"""Files and batches (filled in by the batches work).

Revision ID: 0003_files_batches
Revises: 0002_accounts
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0003_files_batches"
down_revision = "0002_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
