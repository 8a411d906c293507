"""Template versions, and templates shared with a team.

Revision ID: 0009_template_versions
Revises: 0008_teams
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_template_versions"
down_revision = "0008_teams"
branch_labels = None
depends_on = None

COPIED = "name, description, system, messages, model, params, variables"


def upgrade() -> None:
    with op.batch_alter_table("prompt_templates") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("latest_version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("team_id", sa.String(40), nullable=True))
    op.create_index("ix_prompt_templates_team_id", "prompt_templates", ["team_id"])
    op.create_table(
        "prompt_template_versions",
        sa.Column("template_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("system", sa.Text, nullable=True),
        sa.Column("messages", sa.Text, nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("params", sa.Text, nullable=True),
        sa.Column("variables", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    # Every existing template is its own version 1.
    op.execute(
        f"INSERT INTO prompt_template_versions (template_id, version, {COPIED}, created_by, created_at) "
        f"SELECT id, 1, {COPIED}, owner, updated_at FROM prompt_templates"
    )


def downgrade() -> None:
    op.drop_table("prompt_template_versions")
    op.drop_index("ix_prompt_templates_team_id", table_name="prompt_templates")
    with op.batch_alter_table("prompt_templates") as batch:
        for name in ("team_id", "latest_version", "version"):
            batch.drop_column(name)
