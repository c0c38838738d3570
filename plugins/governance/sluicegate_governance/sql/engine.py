"""The async engine behind the SQL store: which URLs it takes, the bounds on its pool and on every
statement, SQLite's transaction and journal settings, and how driver errors become the store's
``StoreUnavailable`` without leaking the URL or its password."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import orjson
from attrs import define
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from sluicegate_governance.protocols import StoreUnavailable

#: The async driver each database is reached through (a URL without one gets it).
DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}

#: Execution option marking a connection that writes: on SQLite its transaction takes the write
#: lock at BEGIN, since a deferred transaction upgrading to it later fails at once with "database
#: is locked" when another writer holds it, whatever the busy timeout.
WRITE_OPTION = "sluicegate_write"


@define(frozen=True, kw_only=True)
class EngineLimits:
    """How many connections, and how long anything may wait (seconds)."""

    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout: float = 10.0  # waiting for a free connection
    connect_timeout: float = 10.0  # opening one (PostgreSQL)
    statement_timeout: float = 30.0  # one statement (asyncpg's command timeout)
    busy_timeout: float = 10.0  # SQLite: waiting for another writer's lock


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL of a supported database, with its async driver; ``ValueError`` (that
    never repeats the URL: it holds a password) for anything else."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("the store url is empty")
    try:
        parsed = make_url(url.strip())
    except (exc.ArgumentError, ValueError, TypeError):  # their messages quote the URL
        raise ValueError("the store url is not a database URL (dialect+driver://...)") from None
    dialect, _, driver = parsed.drivername.partition("+")
    wanted = DRIVERS.get(dialect)
    if wanted is None:
        raise ValueError(f"the store supports sqlite and postgresql databases, not {dialect!r}")
    if driver and driver != wanted:
        raise ValueError(f"the store reaches {dialect} through {wanted!r}, not {driver!r}")
    return parsed.set(drivername=f"{dialect}+{wanted}")


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_engine(url: URL, limits: EngineLimits) -> AsyncEngine:
    """An engine that opens no connection until first used."""
    common: dict[str, Any] = {
        "hide_parameters": True,  # statement parameters stay out of error messages
        "json_serializer": lambda value: orjson.dumps(value).decode(),
        "json_deserializer": orjson.loads,
    }
    if url.get_backend_name() == "sqlite":
        if is_memory(url):
            # One connection, or each would see its own empty database.
            engine = create_async_engine(url, poolclass=StaticPool, **common)
        else:
            engine = create_async_engine(
                url, pool_size=limits.pool_size, max_overflow=limits.max_overflow,
                pool_timeout=limits.pool_timeout, connect_args={"timeout": limits.busy_timeout},
                **common,
            )
        _sqlite_session(engine, limits)
        return engine
    return create_async_engine(
        url, pool_size=limits.pool_size, max_overflow=limits.max_overflow,
        pool_timeout=limits.pool_timeout, pool_pre_ping=True,  # a restarted server costs no error
        connect_args={"timeout": limits.connect_timeout, "command_timeout": limits.statement_timeout},
        **common,
    )


def _sqlite_session(engine: AsyncEngine, limits: EngineLimits) -> None:
    """Set each SQLite connection up, and make SQLAlchemy's transactions real ones: the sqlite3
    module otherwise begins only before a write, so two reads of one ``snapshot`` could see two
    versions of the database."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the "begin" hook below issues BEGIN itself
        cursor = dbapi_connection.cursor()
        try:
            # NORMAL is durable under WAL (see ``prepare``) except for the last commits on power
            # loss, which the ledger can afford.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(limits.busy_timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


async def prepare(engine: AsyncEngine, limits: EngineLimits) -> None:
    """Before the first use of a SQLite file: switch it to the WAL journal, where readers never
    block the writer nor wait for it (the mode stays in the file). The switch needs the file to
    itself, and SQLite reports "locked" at once instead of waiting, so it is retried here for
    at most the busy timeout. Nothing to do elsewhere."""
    if engine.dialect.name != "sqlite" or is_memory(engine.url):
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.busy_timeout
    delay = 0.01
    while True:
        try:
            async with engine.connect() as connection:
                # The driver's own connection: a PRAGMA inside SQLAlchemy's BEGIN would fail.
                raw = (await connection.get_raw_connection()).driver_connection
                async with raw.execute("PRAGMA journal_mode") as cursor:
                    mode = (await cursor.fetchone())[0]
                if str(mode).lower() != "wal":
                    async with raw.execute("PRAGMA journal_mode=WAL") as cursor:
                        await cursor.fetchone()
            return
        except (exc.OperationalError, sqlite3.OperationalError) as error:
            if "locked" not in str(error) or loop.time() >= deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (and pool), for transactions that write."""
    return engine.execution_options(**{WRITE_OPTION: True})


def unavailable(error: BaseException) -> StoreUnavailable:
    """A ``StoreUnavailable`` naming what failed, never the URL, password or statement values:
    the driver's own words only where they are known to hold neither (SQLite's)."""
    root = _root_cause(error)
    name = type(root).__name__
    if isinstance(root, sqlite3.Error):
        text = str(root)
        if "no such table" in text:
            return StoreUnavailable("the database has no governance tables: run `sluicegate db upgrade`")
        return StoreUnavailable(f"the database failed ({name}: {text})")
    if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
        return StoreUnavailable(f"the database refused the login ({name})")
    if name == "UndefinedTableError":
        return StoreUnavailable("the database has no governance tables: run `sluicegate db upgrade`")
    if isinstance(root, TimeoutError) or isinstance(error, exc.TimeoutError):
        return StoreUnavailable(f"the database did not answer in time ({name})")
    if isinstance(root, OSError):
        return StoreUnavailable(f"the database is unreachable ({name})")
    return StoreUnavailable(f"the database failed ({name})")


def _root_cause(error: BaseException) -> BaseException:
    """The driver's exception under SQLAlchemy's and the adapter's wrappers."""
    seen: set[int] = set()
    current: BaseException = error
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "orig", None) if isinstance(current, exc.DBAPIError) else None
        inner = inner or current.__cause__ or current.__context__
        if not isinstance(inner, BaseException):
            break
        current = inner
    return current
