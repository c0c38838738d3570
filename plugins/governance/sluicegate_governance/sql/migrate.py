"""Alembic, run from code: the store upgrades its schema on ``open()``, and ``sluicegate db
upgrade|downgrade|current`` call the functions here. The scripts ship inside the package
(``sluicegate_governance/migrations``); users need no ``alembic.ini``.

A migration runs in one transaction on the caller's async connection (``run_sync``). On
PostgreSQL it first takes a transaction-scoped advisory lock, so instances starting together
migrate one after the other (the second finds the work done); on SQLite the write transaction's
lock does the same.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from sluicegate_governance.sql.engine import (
    EngineLimits,
    create_engine,
    parse_url,
    prepare,
    unavailable,
    writer,
)
from sluicegate_governance.sql.tables import VERSION_TABLE

SCRIPTS = Path(__file__).resolve().parent.parent / "migrations"
#: pg_advisory_xact_lock's key: any constant the store alone uses ("sluicegt" in ASCII).
_LOCK_KEY = 0x736C_7569_6365_6774 & 0x7FFF_FFFF_FFFF_FFFF


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS).replace("%", "%%"))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = VERSION_TABLE
    return config


def head() -> str:
    """The newest revision the package ships."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migration scripts in {SCRIPTS}")
    return revision


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")


def _upgrade(connection: Connection, revision: str) -> None:
    _lock(connection)
    command.upgrade(_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    _lock(connection)
    command.downgrade(_config(connection), revision)


def _current(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` over ``engine``; errors are the caller's to map."""
    async with writer(engine).begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def upgrade(url: str, revision: str = "head", *, limits: EngineLimits | None = None) -> None:
    """``sluicegate db upgrade``: bring the database at ``url`` up to ``revision``.
    ``ValueError`` for a bad URL or an unknown revision; ``StoreUnavailable`` when it fails."""
    await _run(url, limits, _upgrade, revision)


async def downgrade(url: str, revision: str, *, limits: EngineLimits | None = None) -> None:
    """``sluicegate db downgrade``: take the schema down to ``revision`` ("base": nothing left;
    the ledger and keys go with their tables)."""
    await _run(url, limits, _downgrade, revision)


async def current(url: str, *, limits: EngineLimits | None = None) -> str | None:
    """The revision the database is at (None: never migrated)."""
    engine = create_engine(parse_url(url), limits or EngineLimits())
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    except (exc.DBAPIError, exc.TimeoutError, OSError, TimeoutError) as error:
        raise unavailable(error) from None
    finally:
        await engine.dispose()


async def _run(url: str, limits: EngineLimits | None, step, revision: str) -> None:
    if not isinstance(revision, str) or not revision:
        raise ValueError("a revision is needed (\"head\", \"base\" or a revision id)")
    limits = limits or EngineLimits()
    engine = create_engine(parse_url(url), limits)
    try:
        await prepare(engine, limits)
        async with writer(engine).begin() as connection:
            await connection.run_sync(step, revision)
    except CommandError as error:
        raise ValueError(f"cannot migrate to {revision!r}: {error}") from None
    except (exc.DBAPIError, exc.TimeoutError, OSError, TimeoutError) as error:
        raise unavailable(error) from None
    finally:
        await engine.dispose()
