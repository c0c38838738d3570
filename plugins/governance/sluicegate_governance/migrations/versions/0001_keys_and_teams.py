"""Keys, teams and the version every change to them bumps.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A frozen copy of the schema as of this revision: later changes to tables.py must not rewrite it.
Double = sa.Double()


def upgrade() -> None:
    op.create_table(
        "sg_teams",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("budget_amount", Double, nullable=True),
        sa.Column("budget_period", sa.Text(), nullable=True),
        sa.Column("rpm", sa.BigInteger(), nullable=True),
        sa.Column("tpm", sa.BigInteger(), nullable=True),
        sa.Column("concurrency", sa.BigInteger(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", Double, nullable=False),
        sa.Column("updated_at", Double, nullable=False),
        sa.UniqueConstraint("name", name="uq_sg_teams_name"),
    )
    op.create_table(
        "sg_keys",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("team_id", sa.Text(), sa.ForeignKey("sg_teams.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("blocked_models", sa.JSON(), nullable=False),
        sa.Column("rpm", sa.BigInteger(), nullable=True),
        sa.Column("tpm", sa.BigInteger(), nullable=True),
        sa.Column("concurrency", sa.BigInteger(), nullable=True),
        sa.Column("budget_amount", Double, nullable=True),
        sa.Column("budget_period", sa.Text(), nullable=True),
        sa.Column("expires_at", Double, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", Double, nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", Double, nullable=False),
        sa.Column("updated_at", Double, nullable=False),
    )
    op.create_index("ix_sg_keys_digest", "sg_keys", ["digest"], unique=True)
    op.create_index("ix_sg_keys_team_id", "sg_keys", ["team_id"])
    state = op.create_table(
        "sg_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_sg_state_one_row"),
    )
    op.bulk_insert(state, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("sg_state")
    op.drop_index("ix_sg_keys_team_id", table_name="sg_keys")
    op.drop_index("ix_sg_keys_digest", table_name="sg_keys")
    op.drop_table("sg_keys")
    op.drop_table("sg_teams")
