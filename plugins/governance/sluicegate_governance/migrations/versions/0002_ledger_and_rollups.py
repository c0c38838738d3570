"""The spend ledger (one row per request), its hourly and daily rollups and one-dimension series.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# A frozen copy of the schema as of this revision (see tables.py for why each index exists).
Double = sa.Double()
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DIMENSIONS = ("key_id", "team_id", "alias", "provider", "model")
LEDGER_INDEXES = {
    "ix_sg_ledger_at": ["at", "id"],
    "ix_sg_ledger_key": ["key_id", "at", "id"],
    "ix_sg_ledger_team": ["team_id", "at", "id"],
    "ix_sg_ledger_alias": ["alias", "at", "id"],
    "ix_sg_ledger_provider": ["provider", "at", "id"],
    "ix_sg_ledger_status": ["status", "at", "id"],
}
ROLLUPS = ("sg_usage_hourly", "sg_usage_daily")
SERIES = ("sg_series_hourly", "sg_series_daily")


def measures() -> list[sa.Column]:
    return [
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), nullable=False),
        sa.Column("tokens_cached", sa.BigInteger(), nullable=False),
        sa.Column("tokens_cache_written", sa.BigInteger(), nullable=False),
        sa.Column("cost", Double, nullable=False),
        sa.Column("latency_ms_sum", Double, nullable=False),
        sa.Column("latency_count", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "sg_ledger",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("at", Double, nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=True),
        sa.Column("team_id", sa.Text(), nullable=True),
        sa.Column("client", sa.Text(), nullable=True),
        sa.Column("alias", sa.Text(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error_class", sa.Text(), nullable=True),
        sa.Column("tokens_in", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), nullable=False),
        sa.Column("tokens_cached", sa.BigInteger(), nullable=False),
        sa.Column("tokens_cache_written", sa.BigInteger(), nullable=False),
        sa.Column("cost", Double, nullable=False),
        sa.Column("latency_ms", Double, nullable=True),
        sa.Column("ttft_ms", Double, nullable=True),
    )
    for name, columns in LEDGER_INDEXES.items():
        op.create_index(name, "sg_ledger", columns)
    op.create_index("ix_sg_ledger_errors", "sg_ledger", ["at", "id"],
                    postgresql_where=sa.text("status >= 400"), sqlite_where=sa.text("status >= 400"))
    for table in ROLLUPS:
        op.create_table(
            table,
            sa.Column("bucket", Double, nullable=False),
            *(sa.Column(dimension, sa.Text(), nullable=False) for dimension in DIMENSIONS),
            *measures(),
            sa.PrimaryKeyConstraint("bucket", *DIMENSIONS, name=f"pk_{table}"),
            sqlite_with_rowid=False,
        )
        op.create_index(f"ix_{table}_key", table, ["key_id", "bucket"])
        op.create_index(f"ix_{table}_team", table, ["team_id", "bucket"])
    for table in SERIES:
        op.create_table(
            table,
            sa.Column("dimension", sa.Text(), nullable=False),
            sa.Column("bucket", Double, nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            *measures(),
            sa.PrimaryKeyConstraint("dimension", "bucket", "value", name=f"pk_{table}"),
            sqlite_with_rowid=False,
        )
        op.create_index(f"ix_{table}_value", table, ["dimension", "value", "bucket"])


def downgrade() -> None:
    for table in SERIES:
        op.drop_index(f"ix_{table}_value", table_name=table)
        op.drop_table(table)
    for table in ROLLUPS:
        op.drop_index(f"ix_{table}_team", table_name=table)
        op.drop_index(f"ix_{table}_key", table_name=table)
        op.drop_table(table)
    op.drop_index("ix_sg_ledger_errors", table_name="sg_ledger")
    for name in LEDGER_INDEXES:
        op.drop_index(name, table_name="sg_ledger")
    op.drop_table("sg_ledger")
