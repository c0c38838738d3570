"""The store's schema as SQLAlchemy Core tables: what the queries are written against. The
migrations (``sluicegate_governance/migrations``) create the same schema step by step, and a test
checks that the two agree.

Every instant is wall-clock seconds as a double (what the model holds, so values round-trip
exactly and a cursor can name a row's ``at`` exactly). Table names start with ``sg_`` so the
store can share a database with other applications.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

#: The migration that brings a database to this schema (``migrations/versions``; a test checks
#: it is the newest): a store whose database is at it starts without importing Alembic.
SCHEMA_REVISION = "0002"
#: Alembic's bookkeeping table, named so it never meets an application's own ``alembic_version``.
VERSION_TABLE = "sluicegate_alembic_version"

#: A 64-bit surrogate key; on SQLite an INTEGER PRIMARY KEY, the rowid itself.
RowId = BigInteger().with_variant(Integer(), "sqlite")

teams = Table(
    "sg_teams",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("budget_amount", Double, nullable=True),
    Column("budget_period", Text, nullable=True),
    Column("rpm", BigInteger, nullable=True),
    Column("tpm", BigInteger, nullable=True),
    Column("concurrency", BigInteger, nullable=True),
    Column("metadata", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    UniqueConstraint("name", name="uq_sg_teams_name"),
)

keys = Table(
    "sg_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("digest", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    # RESTRICT: a team with keys cannot go (the store says so first, with a clearer message).
    Column("team_id", Text, ForeignKey("sg_teams.id", ondelete="RESTRICT"), nullable=True),
    Column("models", JSON, nullable=False),
    Column("blocked_models", JSON, nullable=False),
    Column("rpm", BigInteger, nullable=True),
    Column("tpm", BigInteger, nullable=True),
    Column("concurrency", BigInteger, nullable=True),
    Column("budget_amount", Double, nullable=True),
    Column("budget_period", Text, nullable=True),
    Column("expires_at", Double, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("revoked_at", Double, nullable=True),
    Column("metadata", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Index("ix_sg_keys_digest", "digest", unique=True),
    Index("ix_sg_keys_team_id", "team_id"),  # the team delete check, and its foreign key's
)

#: One row: the version every put or delete of a key or team bumps in its own transaction.
state = Table(
    "sg_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="ck_sg_state_one_row"),
)

# The ledger's indexes each serve the request log newest first, keyset-paginated on (at, id):
# with the filter column first, an equality filter leaves rows already in (at, id) order, so a
# page is one backward index range scan that stops after `limit` rows, however large the table.
# Only one filter column can lead an index; combined filters use one (PostgreSQL may AND two)
# and check the rest on the rows it yields, so a combination that matches nothing reads every
# row of the filter the planner chose. The errors index is partial (status >= 400): "every
# error" is a range over status, which an index led by status could not serve in (at, id) order.
ledger = Table(
    "sg_ledger",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("request_id", Text, nullable=False),
    Column("key_id", Text, nullable=True),  # no foreign key: the record outlives deleted keys
    Column("team_id", Text, nullable=True),
    Column("client", Text, nullable=True),
    Column("alias", Text, nullable=True),
    Column("provider", Text, nullable=True),
    Column("model", Text, nullable=True),
    Column("endpoint", Text, nullable=False),
    Column("stream", Boolean, nullable=False),
    Column("status", Integer, nullable=False),
    Column("error_class", Text, nullable=True),
    Column("tokens_in", BigInteger, nullable=False),
    Column("tokens_out", BigInteger, nullable=False),
    Column("tokens_cached", BigInteger, nullable=False),
    Column("tokens_cache_written", BigInteger, nullable=False),
    Column("cost", Double, nullable=False),
    Column("latency_ms", Double, nullable=True),
    Column("ttft_ms", Double, nullable=True),
    Index("ix_sg_ledger_at", "at", "id"),  # unfiltered pages, time ranges, retention
    Index("ix_sg_ledger_key", "key_id", "at", "id"),
    Index("ix_sg_ledger_team", "team_id", "at", "id"),
    Index("ix_sg_ledger_alias", "alias", "at", "id"),
    Index("ix_sg_ledger_provider", "provider", "at", "id"),
    Index("ix_sg_ledger_status", "status", "at", "id"),
    Index("ix_sg_ledger_errors", "at", "id",
          postgresql_where=text("status >= 400"), sqlite_where=text("status >= 400")),
)

#: The rollups' dimensions, their unique key; '' stands for none (a NULL would never conflict).
DIMENSIONS = ("key_id", "team_id", "alias", "provider", "model")
#: What a rollup row sums.
MEASURES = ("requests", "errors", "tokens_in", "tokens_out", "tokens_cached", "tokens_cache_written",
            "cost", "latency_ms_sum", "latency_count")
#: The one-dimension series kept beside the rollups ("all": every request, value '').
SERIES = ("all", "key_id", "team_id", "alias", "provider")


def _measures() -> list[Column]:
    return [
        Column("requests", BigInteger, nullable=False),
        Column("errors", BigInteger, nullable=False),
        Column("tokens_in", BigInteger, nullable=False),
        Column("tokens_out", BigInteger, nullable=False),
        Column("tokens_cached", BigInteger, nullable=False),
        Column("tokens_cache_written", BigInteger, nullable=False),
        Column("cost", Double, nullable=False),
        Column("latency_ms_sum", Double, nullable=False),
        Column("latency_count", BigInteger, nullable=False),  # requests with a latency
    ]


def _rollup(name: str) -> Table:
    """Totals per bucket (UTC hour or day start) and every dimension: what usage filtered on
    several dimensions at once reads. Keyed by the bucket first, so a time range is one range of
    the primary key (clustered on SQLite: WITHOUT ROWID); the key and team indexes serve one
    owner's usage."""
    return Table(
        name,
        metadata,
        Column("bucket", Double, nullable=False),
        *(Column(dimension, Text, nullable=False) for dimension in DIMENSIONS),
        *_measures(),
        PrimaryKeyConstraint("bucket", *DIMENSIONS, name=f"pk_{name}"),
        Index(f"ix_{name}_key", "key_id", "bucket"),
        Index(f"ix_{name}_team", "team_id", "bucket"),
        sqlite_with_rowid=False,
    )


def _series(name: str) -> Table:
    """Totals per bucket for one dimension at a time (``dimension``: a ``SERIES`` name, ``value``:
    the key id, alias, ...). The rollups hold one row per combination of key, alias and
    provider, several times the rows of any one dimension's series; "usage by team over a
    month" reads exactly the rows it answers with from here, in order, with no grouping.
    The second index serves one value's series (one key, one provider) and ``spend``."""
    return Table(
        name,
        metadata,
        Column("dimension", Text, nullable=False),
        Column("bucket", Double, nullable=False),
        Column("value", Text, nullable=False),
        *_measures(),
        PrimaryKeyConstraint("dimension", "bucket", "value", name=f"pk_{name}"),
        Index(f"ix_{name}_value", "dimension", "value", "bucket"),
        sqlite_with_rowid=False,
    )


usage_hourly = _rollup("sg_usage_hourly")
usage_daily = _rollup("sg_usage_daily")
series_hourly = _series("sg_series_hourly")
series_daily = _series("sg_series_daily")
