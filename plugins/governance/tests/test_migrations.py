"""The store's Alembic migrations on real SQLite and PostgreSQL: from an empty database, from the
previous revision with data in it, down to nothing, and what the package ships."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from sluicegate_governance.model import LedgerRow, Team, VirtualKey
from sluicegate_governance.protocols import StoreUnavailable
from sluicegate_governance.sql import migrate
from sluicegate_governance.sql.engine import EngineLimits, create_engine, parse_url
from sluicegate_governance.sql.store import SqlStore
from sluicegate_governance.sql.tables import SCHEMA_REVISION, metadata

PLUGIN = Path(__file__).resolve().parent.parent
STORE_TABLES = {"sg_teams", "sg_keys", "sg_state", "sg_ledger", "sg_usage_hourly", "sg_usage_daily",
                "sg_series_hourly", "sg_series_daily"}


async def inspect_database(url: str, look):
    """``look(sync_connection)``'s answer, on a connection of its own."""
    engine = create_engine(parse_url(url), EngineLimits())
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(look)
    finally:
        await engine.dispose()


def table_names(connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def schema_differences(connection) -> list:
    context = MigrationContext.configure(connection, opts={"version_table": migrate.VERSION_TABLE})
    return compare_metadata(context, metadata)


async def test_upgrade_from_empty_builds_the_schema_the_store_queries(store_url):
    assert await migrate.current(store_url) is None
    await migrate.upgrade(store_url)
    assert await migrate.current(store_url) == migrate.head() == "0002"
    tables = await inspect_database(store_url, table_names)
    assert tables == STORE_TABLES | {migrate.VERSION_TABLE}
    # The migrations and tables.py describe the same columns, types, keys and indexes.
    assert await inspect_database(store_url, schema_differences) == []

    await migrate.upgrade(store_url)  # at head already: nothing to do, no error
    assert await migrate.current(store_url) == "0002"


async def test_upgrade_from_the_previous_revision_keeps_the_keys(store_url):
    await migrate.upgrade(store_url, "0001")
    assert await migrate.current(store_url) == "0001"
    assert "sg_ledger" not in await inspect_database(store_url, table_names)

    # Rows as a gateway at revision 0001 wrote them (plain SQL: the schema of that revision).
    engine = create_engine(parse_url(store_url), EngineLimits())
    try:
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO sg_teams (id, name, budget_amount, budget_period, metadata, created_at, updated_at) "
                "VALUES ('team_1', 'ops', 5.0, 'day', '{}', 1.0, 2.0)"))
            await connection.execute(text(
                "INSERT INTO sg_keys (id, name, digest, prefix, team_id, models, blocked_models, rpm, enabled, "
                "metadata, created_at, updated_at) VALUES ('key_1', 'ci', 'abc', 'sk-sg-abcdef', 'team_1', "
                "'[\"gpt-*\"]', '[]', 30, true, '{\"env\": \"prod\"}', 3.0, 4.0)"))
            await connection.execute(text("UPDATE sg_state SET version = 7"))
    finally:
        await engine.dispose()

    store = SqlStore(store_url)  # migrates on open
    await store.open()
    try:
        assert await migrate.current(store_url) == "0002"
        snapshot = await store.snapshot()
        assert snapshot.version == 7
        [key] = snapshot.keys
        assert (key.id, key.team_id, key.models, key.limits.rpm, key.metadata) == (
            "key_1", "team_1", ("gpt-*",), 30, {"env": "prod"})
        assert [team.name for team in snapshot.teams] == ["ops"]
        await store.record([LedgerRow(at=86400.0, request_id="r", key_id="key_1", cost=0.5)])
        assert await store.spend(since={"key:key_1": 0.0}) == {"key:key_1": 0.5}
    finally:
        await store.aclose()


async def test_downgrade_one_revision_then_to_base(store_url):
    store = SqlStore(store_url)
    await store.open()
    await store.put_team(Team(id="team_1", name="ops"))
    await store.put_key(VirtualKey(id="key_1", name="ci", digest="abc", prefix="sk-sg-abcdef", team_id="team_1"))
    await store.record([LedgerRow(at=0.0, request_id="r")])
    await store.aclose()

    await migrate.downgrade(store_url, "0001")  # the ledger and rollups go, keys stay
    assert await migrate.current(store_url) == "0001"
    assert await inspect_database(store_url, table_names) == {
        "sg_teams", "sg_keys", "sg_state", migrate.VERSION_TABLE}
    store = SqlStore(store_url, migrate=False)
    await store.open()
    try:
        assert [key.id for key in (await store.snapshot()).keys] == ["key_1"]
    finally:
        await store.aclose()

    await migrate.downgrade(store_url, "base")
    assert await migrate.current(store_url) is None
    assert await inspect_database(store_url, table_names) <= {migrate.VERSION_TABLE}

    await migrate.upgrade(store_url)  # and up again, from nothing
    assert await migrate.current(store_url) == "0002"
    assert await inspect_database(store_url, schema_differences) == []


async def test_instances_starting_together_migrate_once(store_url):
    stores = [SqlStore(store_url) for _ in range(4)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        assert [await store.version() for store in stores] == [0, 0, 0, 0]
        assert await migrate.current(store_url) == "0002"
    finally:
        for store in stores:
            await store.aclose()


async def test_a_store_that_does_not_migrate_says_how_to(store_url):
    store = SqlStore(store_url, migrate=False)
    await store.open()
    try:
        with pytest.raises(StoreUnavailable, match="sluicegate db upgrade"):
            await store.version()
    finally:
        await store.aclose()


async def test_a_database_newer_than_this_version_is_refused_clearly(store_url):
    await migrate.upgrade(store_url)
    engine = create_engine(parse_url(store_url), EngineLimits())
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '0099'"))
    finally:
        await engine.dispose()
    store = SqlStore(store_url)
    try:
        with pytest.raises(StoreUnavailable, match="revision this version of sluicegate does not know"):
            await store.open()
    finally:
        await store.aclose()


async def test_an_unknown_revision_is_a_value_error(sqlite_url):
    with pytest.raises(ValueError, match="0099"):
        await migrate.upgrade(sqlite_url, "0099")
    with pytest.raises(ValueError, match="revision"):
        await migrate.downgrade(sqlite_url, "")


async def test_migrating_an_unreachable_database_is_unavailable():
    with pytest.raises(StoreUnavailable):
        await migrate.upgrade("postgresql+asyncpg://u:Secret-pw@127.0.0.1:1/db")


def test_the_package_data_covers_every_migration_script():
    """The scripts are data to setuptools (Alembic loads them by path): pyproject.toml's
    package-data patterns must name each, or an installed (non-editable) package lacks them."""
    setuptools = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["sluicegate_governance"]
    package = PLUGIN / "sluicegate_governance"
    scripts = [path.relative_to(package).as_posix() for path in migrate.SCRIPTS.rglob("*")
               if path.is_file() and "__pycache__" not in path.parts]
    assert {"migrations/env.py", "migrations/versions/0001_keys_and_teams.py",
            "migrations/versions/0002_ledger_and_rollups.py"} <= set(scripts)
    for script in scripts:
        assert any(fnmatch.fnmatchcase(script, pattern) and script.count("/") == pattern.count("/")
                   for pattern in patterns), script
    assert "sluicegate_governance.*" in setuptools["packages"]["find"]["include"]  # sql/


def test_the_schema_the_code_is_written_against_is_the_newest_migration():
    assert SCHEMA_REVISION == migrate.head()


OPEN_PROBE = """
import asyncio, json, sys
from sluicegate_governance.sql.store import SqlStore

async def main():
    store = SqlStore(sys.argv[1])
    await store.open()
    version = await store.version()
    await store.aclose()
    return version

version = asyncio.run(main())
print(json.dumps({"version": version, "alembic": any(name.startswith("alembic") for name in sys.modules)}))
"""


def test_a_store_whose_schema_is_current_opens_without_importing_alembic(sqlite_url):
    def opened() -> dict:
        done = subprocess.run([sys.executable, "-c", OPEN_PROBE, sqlite_url], capture_output=True, text=True,
                              timeout=120, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert opened() == {"version": 0, "alembic": True}  # an empty database: migrated, by Alembic
    assert opened() == {"version": 0, "alembic": False}  # then current: nothing of Alembic loaded
