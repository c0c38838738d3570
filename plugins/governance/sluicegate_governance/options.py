"""``[store]``: the governance store (virtual keys, teams, budgets, the spend ledger)."""

from __future__ import annotations

import os

from attrs import define, field

from sluicegate.config.checks import optional_at_least_one, positive
from sluicegate.plugin_options import FeatureOptions
from sluicegate.secrets import Secret

#: The database when ``[store]`` names none: a SQLite file beside the config.
DEFAULT_FILE = "sluicegate.db"


def _days(_: object, attribute: object, value: int) -> None:
    if type(value) is not int or value < 1:
        raise ValueError("must be a whole number of days, 1 or more")


@define(kw_only=True)
class StoreOptions(FeatureOptions):
    """The ``[store]`` table: present, the gateway issues keys and keeps a spend ledger."""

    # Which store keeps keys, teams and the ledger (register_stores): "sql" is SQLite or
    # PostgreSQL through SQLAlchemy; a plugin may add another. Its own keys sit in this table.
    backend: str = "sql"
    # Days the ledger keeps one row per request; the hourly and daily totals are kept 400 days.
    retention_days: int = field(default=90, validator=_days)
    # Redis shared by every instance: budget counters and key revocations (else per instance).
    redis_url: Secret | None = None
    # Seconds between two checks for changed keys and teams (a revocation elsewhere).
    refresh_interval: float = field(default=0.5, validator=positive)
    # Ledger rows written per batch (one transaction).
    batch_size: int = field(default=2000, validator=positive)
    # Seconds a ledger row waits at most for its batch to fill (LiteLLM's proxy_batch_write_at).
    flush_interval: float = field(default=1.0, validator=positive)
    # Ledger rows held at most while the database is unreachable; past it the oldest are dropped
    # (counted, and a warning says how many).
    buffer_limit: int = field(default=100_000, validator=positive)
    # Completion tokens a budget reserves for a request that sets no max_tokens.
    default_max_tokens: int = field(default=4096, validator=positive)
    # The most completion tokens a budget reserves for one request, whatever its max_tokens
    # (unset: all of them). Agents ask for tens of thousands; a cap lets a budget's last part be
    # used, and lets spend pass the budget by what in-flight requests generate beyond it.
    reserve_max_tokens: int | None = field(default=None, validator=optional_at_least_one)


@define(kw_only=True)
class SqlStoreOptions(StoreOptions):
    """``[store]`` with ``backend = "sql"`` (the default): the keys of the SQL store."""

    # Where the database is (a secret: shown masked): "sqlite+aiosqlite:///path/to.db" or
    # "postgresql+asyncpg://user:password@host/db"; unset: sluicegate.db beside gateway.toml.
    url: Secret | None = None
    # Bring the schema to the newest revision at start ("sluicegate db upgrade" does it by hand).
    migrate: bool = True


def store_url(options: SqlStoreOptions, config_source: str) -> str:
    """The database URL: the configured one, else ``sluicegate.db`` beside the config file."""
    if options.url:
        return options.url.reveal()
    folder = os.path.dirname(os.path.abspath(config_source)) if config_source else os.getcwd()
    return f"sqlite+aiosqlite:///{os.path.join(folder, DEFAULT_FILE)}"
