"""``SqlStore``: the ``GovernanceStore`` in a SQL database through SQLAlchemy's async API: SQLite
(aiosqlite, the embedded default) or PostgreSQL (asyncpg).

Nothing on the request path calls it (see ``protocols``). Every write is one transaction; a key or
team write bumps the version in the same one, so a cache that read version N holds every change
up to N.

A batch of ledger rows is inserted with what it adds to the rollups (per hour and day, per key,
team, alias, provider and model) and to the one-dimension series (per hour and day, per key, or
per team, ...), in the same transaction. The batch is aggregated here first, so each of those rows
is upserted once per batch, tables and rows always in the same order: two instances writing
overlapping rows take their locks in the same order, so they cannot deadlock.

``usage`` answers a question about one dimension (or none) from its series, which holds exactly
the points asked for; several dimensions at once (one team's usage by key) from the rollups.
``spend`` reads the series too, never the ledger. Instants are wall-clock seconds as doubles
(see ``tables``); buckets are UTC hours and days.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import math
import operator
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import Table, delete, func, literal, select, tuple_, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sluicegate_governance.model import (
    MAX_TOKENS,
    TEXT_LIMIT,
    Budget,
    Granularity,
    GroupBy,
    LedgerRow,
    Limits,
    LogPage,
    Period,
    Snapshot,
    Team,
    UsagePoint,
    VirtualKey,
)
from sluicegate_governance.protocols import Conflict, StoreUnavailable
from sluicegate_governance.sql import cursor as cursors
from sluicegate_governance.sql.engine import (
    EngineLimits,
    create_engine,
    is_memory,
    parse_url,
    prepare,
    unavailable,
    writer,
)
from sluicegate_governance.sql.sqlite_ledger import SqliteLedger
from sluicegate_governance.sql.tables import (
    DIMENSIONS,
    MEASURES,
    SCHEMA_REVISION,
    SERIES,
    VERSION_TABLE,
    keys,
    ledger,
    series_daily,
    series_hourly,
    state,
    teams,
    usage_daily,
    usage_hourly,
)

HOUR = 3600.0
DAY = 86400.0
MAX_PAGE = 1000
#: Ledger rows a retention purge deletes per transaction: an old month goes in many short
#: transactions, never one that holds SQLite's write lock for minutes.
PURGE_CHUNK = 10_000
#: Owners per ``IN (...)`` list in ``spend`` (SQLite allows some thousands of parameters).
SPEND_CHUNK = 500

# The driver's errors that mean "the database did not do it": unreachable, refused, timed out,
# or failed the statement. Programming errors (TypeError, ...) are not caught.
_DRIVER_ERRORS = (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, TimeoutError)
#: The rollup sums a ``UsagePoint`` carries, in its field order.
_POINT_SUMS = ("requests", "errors", "tokens_in", "tokens_out", "tokens_cached", "tokens_cache_written",
               "cost")
_GROUP_COLUMNS = {GroupBy.KEY: "key_id", GroupBy.TEAM: "team_id", GroupBy.MODEL: "alias",
                  GroupBy.PROVIDER: "provider"}


#: Ledger rows per SQLite INSERT, largest first: a batch is cut greedily into these, so only this
#: many distinct statements are ever prepared (each is cached by the driver), and a full batch is
#: one or two. 250 x 19 parameters stays far below SQLite's limit (32,766 since 3.32).
ROWS_PER_INSERT = (250, 50, 10, 1)


def _values_insert(rows: int) -> str:
    """SQLite's INSERT of ``rows`` ledger rows, their values in ``LedgerRow``'s field order."""
    one = "(" + ", ".join("?" * len(LedgerRow._fields)) + ")"
    return f"INSERT INTO {ledger.name} ({', '.join(LedgerRow._fields)}) VALUES " + ", ".join([one] * rows)


def _json_insert(dialect: Any) -> str:
    """PostgreSQL's INSERT of a batch given as one JSON array of rows, each an array of its
    values in ``LedgerRow``'s field order (orjson writes a tuple as an array, None as null)."""
    values = ", ".join(f"(item->>{index})::{ledger.c[name].type.compile(dialect=dialect)}"
                       for index, name in enumerate(LedgerRow._fields))
    return (f"INSERT INTO {ledger.name} ({', '.join(LedgerRow._fields)}) "
            f"SELECT {values} FROM json_array_elements($1::text::json) AS item")


#: Each size of ``ROWS_PER_INSERT`` with its statement.
_VALUES_INSERTS = tuple((size, _values_insert(size)) for size in ROWS_PER_INSERT)


#: Ledger rows prepared between two returns to the event loop (a multiple of the largest
#: ``ROWS_PER_INSERT``, so a batch is cut into the same statements as a whole).
PREPARE_CHUNK = ROWS_PER_INSERT[0]
_FIELDS = len(LedgerRow._fields)
_NULLABLE = tuple(index for index, name in enumerate(LedgerRow._fields) if ledger.c[name].nullable)
_STREAM = LedgerRow._fields.index("stream")


def _values_parts(rows: Sequence[LedgerRow]) -> Iterable[tuple[str, list[Any]]]:
    """``rows`` as (statement, flat parameters) pairs, the sizes of ``ROWS_PER_INSERT``."""
    start = 0
    for size, statement in _VALUES_INSERTS:
        while len(rows) - start >= size:
            yield statement, _sqlite_values(rows[start:start + size])
            start += size


def _sqlite_values(rows: Sequence[LedgerRow]) -> list[Any]:
    """The rows' values in a row, as SQLite's driver binds them fastest. It binds None and bools
    through its adapter lookup, which makes and drops an AttributeError each (three times an
    int's cost); SQLite stores a NaN double as NULL, and a Boolean column holds 0 or 1."""
    values = list(itertools.chain.from_iterable(rows))
    for index in _NULLABLE:
        column = values[index::_FIELDS]
        if None in column:
            values[index::_FIELDS] = [math.nan if value is None else value for value in column]
    values[_STREAM::_FIELDS] = map(int, values[_STREAM::_FIELDS])
    return values


class _Insert(enum.Enum):
    """How a batch of ledger rows reaches the driver."""

    VALUES = "many rows per INSERT ... VALUES"  # SQLite in memory (a file: SqliteLedger)
    JSON = "the batch as one JSON array, unpacked by the server"  # PostgreSQL through asyncpg


class SqlStore:
    """Keys, teams and the spend ledger in the database at ``url``; ``migrate``: bring the schema
    to the newest revision on ``open()``."""

    def __init__(self, url: str, *, migrate: bool = True, limits: EngineLimits | None = None) -> None:
        self._url = parse_url(url)  # a bad URL fails here, in the config check, not at start
        self._migrate = migrate
        self._limits = limits or EngineLimits()
        self._engine: AsyncEngine | None = None
        self._prepared = self._migrated = False
        # The ledger's INSERT for the driver and how a batch goes (None: not looked at yet).
        self._ledger_sql: tuple[str, _Insert] | None = None
        # The rollups' upserts, built once per table (SQLAlchemy caches their compiled form).
        self._accumulating: dict[str, Any] = {}
        # The same upserts compiled for the driver (SQLite): their SQL and parameter names.
        self._driver_upserts: dict[str, tuple[str, tuple[str, ...]]] = {}
        # A SQLite file's ledger batches: one hand-off each to a thread of their own (not for an
        # in-memory database, which only the engine's one connection sees).
        self._sqlite_ledger: SqliteLedger | None = None

    @property
    def dialect(self) -> str:
        return self._url.get_backend_name()

    # -- life -------------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._engine is None:
            self._engine = create_engine(self._url, self._limits)
            url = self._url
            if url.get_backend_name() == "sqlite" and not is_memory(url) and not url.query:
                self._sqlite_ledger = SqliteLedger(url.database, busy_timeout=self._limits.busy_timeout)
        if not self._prepared:
            try:
                await prepare(self._engine, self._limits)
            except _DRIVER_ERRORS as error:
                raise unavailable(error) from None
            self._prepared = True
        if self._migrate and not self._migrated:
            if await self._schema_revision() != SCHEMA_REVISION:
                await self._upgrade()
            self._migrated = True

    async def _schema_revision(self) -> str | None:
        """The revision the database's schema is at, read without Alembic; None when unknown
        (never migrated, or the read failed: the migration then says why)."""
        try:
            async with self._engine.connect() as connection:
                rows = (await connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}")).all()
        except _DRIVER_ERRORS:
            return None
        return rows[0][0] if len(rows) == 1 else None

    async def _upgrade(self) -> None:
        # Alembic is imported only here, when there is something to migrate: it costs every
        # process that loads it ~7 MB resident, and most starts find the schema current.
        from alembic.util.exc import CommandError

        from sluicegate_governance.sql.migrate import upgrade_engine

        try:
            await upgrade_engine(self._engine, "head")
        except CommandError:
            # Most likely a newer sluicegate migrated this database further than this one knows.
            raise StoreUnavailable(
                "the database's schema is at a revision this version of sluicegate does not know"
            ) from None
        except _DRIVER_ERRORS as error:
            raise unavailable(error) from None

    async def aclose(self) -> None:
        engine, self._engine = self._engine, None
        ledger_thread, self._sqlite_ledger = self._sqlite_ledger, None
        if ledger_thread is not None:
            await ledger_thread.aclose()
        if engine is not None:
            await engine.dispose()

    # -- keys and teams ---------------------------------------------------------------------------

    async def version(self) -> int:
        async with self._reading() as conn:
            return int(await conn.scalar(select(state.c.version).where(state.c.id == 1)) or 0)

    async def snapshot(self) -> Snapshot:
        async with self._reading(consistent=True) as conn:
            version = await conn.scalar(select(state.c.version).where(state.c.id == 1))
            team_rows = (await conn.execute(select(teams).order_by(teams.c.id))).all()
            key_rows = (await conn.execute(select(keys).order_by(keys.c.id))).all()
        return Snapshot(version=int(version or 0), teams=[_team(row) for row in team_rows],
                        keys=[_key(row) for row in key_rows])

    async def put_team(self, team: Team) -> None:
        values = _team_values(team)
        async with self._writing() as conn:
            taken = await conn.scalar(
                select(teams.c.id).where(teams.c.name == team.name, teams.c.id != team.id))
            if taken is not None:
                raise Conflict(f"a team named {team.name!r} exists already")
            await conn.execute(self._upsert(teams, values, ("id",)))
            await _bump(conn)

    async def delete_team(self, team_id: str) -> bool:
        async with self._writing() as conn:
            members = await conn.scalar(
                select(func.count()).select_from(keys).where(keys.c.team_id == team_id))
            if members:
                raise Conflict(f"team {team_id!r} still has {members} key(s)")
            deleted = (await conn.execute(delete(teams).where(teams.c.id == team_id))).rowcount
            if deleted:
                await _bump(conn)
        return bool(deleted)

    async def put_key(self, key: VirtualKey) -> None:
        values = _key_values(key)
        async with self._writing() as conn:
            other = await conn.scalar(
                select(keys.c.id).where(keys.c.digest == key.digest, keys.c.id != key.id))
            if other is not None:
                raise Conflict("another key has the same digest")
            if key.team_id is not None:
                known = await conn.scalar(select(teams.c.id).where(teams.c.id == key.team_id))
                if known is None:
                    raise Conflict(f"no team {key.team_id!r}")
            await conn.execute(self._upsert(keys, values, ("id",)))
            await _bump(conn)

    async def delete_key(self, key_id: str) -> bool:
        async with self._writing() as conn:
            deleted = (await conn.execute(delete(keys).where(keys.c.id == key_id))).rowcount
            if deleted:
                await _bump(conn)
        return bool(deleted)

    # -- the ledger -------------------------------------------------------------------------------

    async def record(self, rows: Sequence[LedgerRow]) -> None:
        if not rows:
            return
        try:
            await self._record(rows)
        except (StoreUnavailable, TypeError, ValueError, OverflowError):
            # Values no database could take (NaN, a NUL, a count past BIGINT, a wrong type) are
            # tamed rather than refused, or the batch would be retried, and refused, for ever.
            # Only a batch that failed is looked at: the gateway's own rows (``hub``) are plain.
            tamed = [_tamed(row) for row in rows]
            if tamed == list(rows):
                raise  # nothing to tame: the database itself failed
            await self._record(tamed)

    async def _record(self, rows: Sequence[LedgerRow]) -> None:
        # Prepared a chunk at a time, back to the event loop between chunks: a whole batch's values
        # and rollups take the loop ~1.2 ms, which a request arriving meanwhile would wait for.
        groups: Groups = {}
        parts: list[tuple[str, list[Any]]] | None = [] if self._sqlite_ledger is not None else None
        for start in range(0, len(rows), PREPARE_CHUNK):
            if start:
                await asyncio.sleep(0)
            chunk = rows[start:start + PREPARE_CHUNK]
            _group(chunk, groups)
            if parts is not None:
                parts.extend(_values_parts(chunk))
        increments = _increments_of(groups)
        if self._sqlite_ledger is not None:
            # A SQLite file: the whole transaction in one hand-off (sql.sqlite_ledger says why).
            await self._sqlite_ledger.write(parts, self._driver_upserts_of(increments))
            return
        async with self._writing(conflicts=False) as conn:
            sql, how = self._ledger_sql or self._compile_ledger_insert(conn)
            if how is _Insert.VALUES:
                # An in-memory SQLite database (a file goes to _sqlite_ledger): many rows per
                # statement, straight to the driver (aiosqlite) inside this transaction. An
                # executemany steps once per row, and the driver's thread takes the GIL back after
                # every step: against a busy event loop a wait of up to the switch interval each.
                # SQLAlchemy's execution around a statement of thousands of parameters cost more
                # than SQLite's insert.
                driver = (await conn.get_raw_connection()).driver_connection
                for statement, parameters in _values_parts(rows):
                    await (await driver.execute(statement, parameters)).close()
                for statement, values in self._driver_upserts_of(increments):
                    await driver.executemany(statement, values)
                return
            # PostgreSQL: the batch as one JSON text (orjson, in C), its rows unpacked and cast by
            # the server. The driver then encodes one parameter a batch, not 19 a row: an
            # executemany (or a binary COPY) encoded each row's values in the event loop's thread,
            # ~3 µs a row, where the server's share of the work is on its own cores.
            # ``default``: a ``LedgerRow`` (a named tuple, which orjson leaves alone) as a tuple.
            await conn.exec_driver_sql(sql, (orjson.dumps(rows, default=tuple).decode(),))
            for statement, values in self._driver_upserts_of(increments):  # in order: see the module docstring
                await conn.exec_driver_sql(statement, values)

    async def spend(self, *, since: Mapping[str, float]) -> dict[str, float]:
        # Owners grouped by start, so one query serves every key (or team) of one period.
        wanted: dict[tuple[str, float], list[str]] = {}
        for name, start in since.items():
            kind, _, owner = name.partition(":")
            if kind not in ("key", "team") or not owner:
                raise ValueError(f"spend is asked per 'key:<id>' or 'team:<id>', not {name!r}")
            wanted.setdefault((kind, _check_time(start, f"the start of {name!r}")), []).append(owner)
        found = dict.fromkeys(since, 0.0)
        async with self._reading() as conn:
            for (kind, start), owners in wanted.items():
                for part in _chunks(owners, SPEND_CHUNK):
                    for owner, cost in await _spend_since(conn, kind, start, part):
                        found[f"{kind}:{owner}"] += float(cost or 0.0)
        return found

    async def usage(
        self,
        *,
        start: float,
        end: float,
        granularity: Granularity,
        group_by: GroupBy | None = None,
        key_id: str | None = None,
        team_id: str | None = None,
        alias: str | None = None,
        provider: str | None = None,
    ) -> list[UsagePoint]:
        _check_time(start, "start")
        _check_time(end, "end")
        daily = Granularity(granularity) is Granularity.DAY
        filters = {name: value for name, value in
                   (("key_id", key_id), ("team_id", team_id), ("alias", alias), ("provider", provider))
                   if value is not None}
        group = _GROUP_COLUMNS[GroupBy(group_by)] if group_by is not None else None
        dimensions = set(filters) | ({group} if group is not None else set())
        if len(dimensions) <= 1:
            # One dimension (or none): its series holds exactly the points asked for, in order.
            table = series_daily if daily else series_hourly
            dimension = next(iter(dimensions), "all")
            conditions = [table.c.dimension == dimension, table.c.bucket >= start, table.c.bucket < end]
            if dimension in filters:
                conditions.append(table.c.value == filters[dimension])
            query = (select(table.c.bucket, table.c.value, *(table.c[name] for name in _POINT_SUMS))
                     .where(*conditions).order_by(table.c.bucket, table.c.value))
        else:
            table = usage_daily if daily else usage_hourly
            by = table.c[group] if group is not None else literal("")
            query = (
                select(table.c.bucket, by, *(func.sum(table.c[name]) for name in _POINT_SUMS))
                .where(table.c.bucket >= start, table.c.bucket < end,
                       *(table.c[name] == value for name, value in filters.items()))
                .group_by(table.c.bucket, *([by] if group is not None else []))
                .order_by(table.c.bucket, *([by] if group is not None else []))
            )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        grouped = group is not None
        return [
            UsagePoint(start=float(bucket), group=(value or None) if grouped else None,
                       requests=int(requests), errors=int(errors), tokens_in=int(tokens_in),
                       tokens_out=int(tokens_out), tokens_cached=int(tokens_cached),
                       tokens_cache_written=int(tokens_cache_written), cost=float(cost))
            for (bucket, value, requests, errors, tokens_in, tokens_out, tokens_cached,
                 tokens_cache_written, cost) in rows
        ]

    async def logs(
        self,
        *,
        start: float | None = None,
        end: float | None = None,
        key_id: str | None = None,
        team_id: str | None = None,
        alias: str | None = None,
        provider: str | None = None,
        status: int | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> LogPage:
        if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit is a whole number from 1 to {MAX_PAGE}")
        conditions = list(_equal(ledger, key_id=key_id, team_id=team_id, alias=alias, provider=provider))
        if start is not None:
            conditions.append(ledger.c.at >= _check_time(start, "start"))
        if end is not None:
            conditions.append(ledger.c.at < _check_time(end, "end"))
        if status is not None:
            if type(status) is not int or not 100 <= status <= 599:
                raise ValueError("status is an HTTP status (400: every error)")
            conditions.append(ledger.c.status >= 400 if status == 400 else ledger.c.status == status)
        if cursor is not None:
            after = cursors.decode(cursor)
            # The plain "at <=" bound lets a planner that cannot use a row comparison in an index
            # still start the scan at the cursor.
            conditions += [ledger.c.at <= after.at, tuple_(ledger.c.at, ledger.c.id) < (after.at, after.id)]
        query = (select(ledger).where(*conditions)
                 .order_by(ledger.c.at.desc(), ledger.c.id.desc()).limit(limit + 1))
        async with self._reading() as conn:
            found = (await conn.execute(query)).all()
        page = found[:limit]
        next_cursor = None
        if len(found) > limit:
            last = page[-1]
            next_cursor = cursors.encode(cursors.Position(at=last.at, id=last.id))
        return LogPage(rows=[_ledger_row(row) for row in page], next_cursor=next_cursor)

    async def purge(self, *, ledger_before: float, rollups_before: float) -> int:
        _check_time(ledger_before, "ledger_before")
        _check_time(rollups_before, "rollups_before")
        total = 0
        while True:  # ends: every pass deletes rows, or stops
            old = select(ledger.c.id).where(ledger.c.at < ledger_before).limit(PURGE_CHUNK)
            async with self._writing(conflicts=False) as conn:
                deleted = (await conn.execute(delete(ledger).where(ledger.c.id.in_(old)))).rowcount
            total += deleted
            if deleted < PURGE_CHUNK:
                break
        async with self._writing(conflicts=False) as conn:
            # The daily series stays: it is what total budgets are seeded from (one row per
            # owner and day, small), and a total budget must not forget spend older than this.
            for table in (usage_hourly, usage_daily, series_hourly):
                await conn.execute(delete(table).where(table.c.bucket < rollups_before))
        return total

    # -- transactions ------------------------------------------------------------------------------

    @asynccontextmanager
    async def _reading(self, *, consistent: bool = False) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction; ``consistent``: every statement sees the same state (one
        SQLite transaction does anyway; PostgreSQL needs REPEATABLE READ)."""
        engine = self._opened()
        if consistent and self.dialect == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        try:
            async with engine.begin() as conn:
                yield conn
        except _DRIVER_ERRORS as error:
            raise unavailable(error) from None

    @asynccontextmanager
    async def _writing(self, *, conflicts: bool = True) -> AsyncIterator[AsyncConnection]:
        """A write transaction. ``conflicts``: a broken constraint is the caller's ``Conflict``
        (keys and teams); else (the ledger, whose writer retries only ``StoreUnavailable``) it
        is the database failing like any other error."""
        try:
            async with writer(self._opened()).begin() as conn:
                yield conn
        except sa_exc.IntegrityError as error:
            if not conflicts:
                raise unavailable(error) from None
            # A rule the checks before the write did not see: a concurrent write broke it.
            raise Conflict("the change conflicts with another stored record") from None
        except _DRIVER_ERRORS as error:
            raise unavailable(error) from None

    def _opened(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the store is not open: await store.open() first")
        return self._engine

    # -- statements -------------------------------------------------------------------------------

    def _compile_ledger_insert(self, conn: AsyncConnection) -> tuple[str, _Insert]:
        """The ledger's INSERT for the driver, and how it takes a batch (``engine.DRIVERS``: the
        store reaches SQLite through aiosqlite and PostgreSQL through asyncpg, nothing else)."""
        if self.dialect == "sqlite":
            self._ledger_sql = ("", _Insert.VALUES)  # the statements of _VALUES_INSERTS
        else:
            self._ledger_sql = (_json_insert(conn.dialect), _Insert.JSON)
        return self._ledger_sql

    def _insert(self, table: Table) -> Any:
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table)

    def _upsert(self, table: Table, values: dict[str, Any], key: tuple[str, ...]) -> Any:
        statement = self._insert(table).values(values)
        return statement.on_conflict_do_update(
            index_elements=list(key), set_={name: value for name, value in values.items() if name not in key})

    def _driver_upserts_of(self, increments: list[tuple[Table, list[dict[str, Any]]]]) -> list[tuple[str, list[tuple]]]:
        """Each table's upsert for the driver with its rows' parameters, tables in the order given
        (always the same: see the module docstring)."""
        upserts = []
        for table, values in increments:
            statement, names = self._driver_upsert(table)
            upserts.append((statement, [tuple(map(value.__getitem__, names)) for value in values]))
        return upserts

    def _driver_upsert(self, table: Table) -> tuple[str, tuple[str, ...]]:
        """``_accumulate(table)`` compiled for the driver: its SQL and its parameters' names in order."""
        compiled = self._driver_upserts.get(table.name)
        if compiled is None:
            statement = self._accumulate(table).compile(dialect=self._opened().dialect,
                                                        column_keys=[column.name for column in table.columns])
            compiled = self._driver_upserts[table.name] = (str(statement), tuple(statement.positiontup or ()))
        return compiled

    def _accumulate(self, table: Table) -> Any:
        """INSERT a rollup or series row, or add to the one already there."""
        upsert = self._accumulating.get(table.name)
        if upsert is None:
            statement = self._insert(table)
            upsert = self._accumulating[table.name] = statement.on_conflict_do_update(
                index_elements=[column.name for column in table.primary_key.columns],
                set_={name: table.c[name] + statement.excluded[name] for name in MEASURES})
        return upsert


# -- rows and values -------------------------------------------------------------------------------


async def _bump(conn: AsyncConnection) -> None:
    await conn.execute(update(state).where(state.c.id == 1).values(version=state.c.version + 1))


def _team_values(team: Team) -> dict[str, Any]:
    return {
        "id": team.id, "name": team.name, **_budget_values(team.budget), **_limit_values(team.limits),
        "metadata": _json(team.metadata, "metadata"),
        "created_at": team.created_at, "updated_at": team.updated_at,
    }


def _key_values(key: VirtualKey) -> dict[str, Any]:
    return {
        "id": key.id, "name": key.name, "digest": key.digest, "prefix": key.prefix,
        "team_id": key.team_id, "models": _json(list(key.models), "models"),
        "blocked_models": _json(list(key.blocked_models), "blocked_models"),
        **_limit_values(key.limits), **_budget_values(key.budget),
        "expires_at": key.expires_at, "enabled": key.enabled, "revoked_at": key.revoked_at,
        "metadata": _json(key.metadata, "metadata"),
        "created_at": key.created_at, "updated_at": key.updated_at,
    }


def _json(value: Any, what: str) -> Any:
    """``value`` when it can be stored as JSON; a ``ValueError`` naming it otherwise (not a
    driver error deep in the write)."""
    try:
        orjson.dumps(value)
    except TypeError as error:
        raise ValueError(f"{what} must be JSON (strings as keys): {error}") from None
    return value


def _budget_values(budget: Budget | None) -> dict[str, Any]:
    if budget is None:
        return {"budget_amount": None, "budget_period": None}
    return {"budget_amount": budget.amount, "budget_period": Period(budget.period).value}


def _limit_values(limits: Limits) -> dict[str, Any]:
    return {"rpm": limits.rpm, "tpm": limits.tpm, "concurrency": limits.concurrency}


def _budget(row: Row[Any]) -> Budget | None:
    if row.budget_amount is None:
        return None
    return Budget(amount=float(row.budget_amount), period=Period(row.budget_period))


def _limits(row: Row[Any]) -> Limits:
    return Limits(rpm=row.rpm, tpm=row.tpm, concurrency=row.concurrency)


def _team(row: Row[Any]) -> Team:
    return Team(id=row.id, name=row.name, budget=_budget(row), limits=_limits(row),
                metadata=row.metadata, created_at=row.created_at, updated_at=row.updated_at)


def _key(row: Row[Any]) -> VirtualKey:
    return VirtualKey(
        id=row.id, name=row.name, digest=row.digest, prefix=row.prefix, team_id=row.team_id,
        models=row.models, blocked_models=row.blocked_models, limits=_limits(row), budget=_budget(row),
        expires_at=row.expires_at, enabled=bool(row.enabled), revoked_at=row.revoked_at,
        metadata=row.metadata, created_at=row.created_at, updated_at=row.updated_at,
    )


def _text(value: str | None) -> str | None:
    """Text as a ledger row can keep it whatever the client sent: PostgreSQL refuses NUL
    characters, and an index entry has a size limit."""
    if value is None:
        return None
    return value.replace("\x00", "")[:TEXT_LIMIT]


def _tokens(value: int) -> int:
    return min(max(int(value), 0), MAX_TOKENS)


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _tamed(row: LedgerRow) -> LedgerRow:
    """``row`` with what no database could take tamed: text without NUL characters (PostgreSQL
    refuses them) and within an index entry's size, counts and times finite and in range."""
    return LedgerRow(
        _finite(row.at) or 0.0, _text(row.request_id) or "", _text(row.key_id), _text(row.team_id),
        _text(row.client), _text(row.alias), _text(row.provider), _text(row.model), _text(row.endpoint) or "",
        bool(row.stream), min(max(int(row.status), 0), 999), _text(row.error_class),
        _tokens(row.tokens_in), _tokens(row.tokens_out), _tokens(row.tokens_cached),
        _tokens(row.tokens_cache_written), _finite(row.cost) or 0.0, _finite(row.latency_ms), _finite(row.ttft_ms),
    )


def _ledger_row(row: Row[Any]) -> LedgerRow:
    return LedgerRow(
        at=row.at, request_id=row.request_id, key_id=row.key_id, team_id=row.team_id,
        client=row.client, alias=row.alias, provider=row.provider, model=row.model,
        endpoint=row.endpoint, stream=bool(row.stream), status=row.status,
        error_class=row.error_class, tokens_in=row.tokens_in, tokens_out=row.tokens_out,
        tokens_cached=row.tokens_cached, tokens_cache_written=row.tokens_cache_written,
        cost=row.cost, latency_ms=row.latency_ms, ttft_ms=row.ttft_ms,
    )


Totals = list[float]  # the MEASURES, in order
#: Ledger rows by (hour, dimension values).
Groups = dict[tuple[Any, ...], list[LedgerRow]]


def _add(totals: dict[tuple[Any, ...], Totals], key: tuple[Any, ...], increment: Totals) -> None:
    total = totals.get(key)
    if total is None:
        totals[key] = list(increment)
    else:
        for index, value in enumerate(increment):
            total[index] += value


_FIELD = {name: index for index, name in enumerate(LedgerRow._fields)}
_DIMENSION_VALUES = operator.itemgetter(*(_FIELD[name] for name in DIMENSIONS))
_AT, _STATUS, _LATENCY = _FIELD["at"], _FIELD["status"], _FIELD["latency_ms"]
# The MEASURES summed straight from a row's fields, in order after requests and errors.
_SUMMED = tuple(operator.itemgetter(_FIELD[name])
                for name in ("tokens_in", "tokens_out", "tokens_cached", "tokens_cache_written", "cost"))


def _group(rows: Iterable[LedgerRow], groups: Groups) -> None:
    """Add ``rows`` to ``groups``, by hour and dimensions (a batch holds few groups)."""
    for row in rows:
        key = (row[_AT] // HOUR * HOUR, _DIMENSION_VALUES(row))
        group = groups.get(key)
        if group is None:
            groups[key] = [row]
        else:
            group.append(row)


def _increments_of(groups: Groups) -> list[tuple[Table, list[dict[str, Any]]]]:
    """What a batch (its rows by ``_group``) adds to each rollup and series table, one row per
    unique key, sorted: each group summed column by column; the rest derive from those (fewer)
    hourly totals."""
    hourly: dict[tuple[Any, ...], Totals] = {}
    for (bucket, dimensions), group in groups.items():
        latencies = [latency for row in group if (latency := row[_LATENCY]) is not None]
        _add(hourly, (bucket, *(value or "" for value in dimensions)), [
            len(group), sum(row[_STATUS] >= 400 for row in group), *(sum(map(field, group)) for field in _SUMMED),
            sum(latencies), len(latencies)])
    daily: dict[tuple[Any, ...], Totals] = {}
    for key, total in hourly.items():
        _add(daily, (key[0] // DAY * DAY, *key[1:]), total)
    return [(usage_hourly, _rollup_rows(hourly)), (usage_daily, _rollup_rows(daily)),
            (series_hourly, _series_rows(hourly)), (series_daily, _series_rows(daily))]


def _rollup_rows(totals: dict[tuple[Any, ...], Totals]) -> list[dict[str, Any]]:
    return [{"bucket": float(key[0]), **dict(zip(DIMENSIONS, key[1:], strict=True)),
             **dict(zip(MEASURES, total, strict=True))} for key, total in sorted(totals.items())]


def _series_rows(rollup: dict[tuple[Any, ...], Totals]) -> list[dict[str, Any]]:
    series: dict[tuple[Any, ...], Totals] = {}
    for key, total in rollup.items():
        values = dict(zip(DIMENSIONS, key[1:], strict=True))
        for dimension in SERIES:
            _add(series, (dimension, key[0], values.get(dimension, "")), total)
    return [{"dimension": key[0], "bucket": float(key[1]), "value": key[2],
             **dict(zip(MEASURES, total, strict=True))} for key, total in sorted(series.items())]


def _equal(table: Table, **filters: str | None) -> list[Any]:
    """Equality filters on dimension columns, for those given."""
    return [table.c[name] == value for name, value in filters.items() if value is not None]


def _check_time(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} is not a time (wall-clock seconds)")
    return float(value)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for offset in range(0, len(items), size):
        yield items[offset:offset + size]


async def _spend_since(conn: AsyncConnection, kind: str, start: float, owners: list[str]) -> list[Row[Any]]:
    """Cost per owner from ``start`` (an hour boundary) on, from the owner's series: hourly up to
    the next day boundary, daily from there, so even a total budget reads one row per day."""
    dimension = "key_id" if kind == "key" else "team_id"
    day = math.ceil(start / DAY) * DAY
    hours = (select(series_hourly.c.value.label("owner"), series_hourly.c.cost)
             .where(series_hourly.c.dimension == dimension, series_hourly.c.value.in_(owners),
                    series_hourly.c.bucket >= start, series_hourly.c.bucket < day))
    days = (select(series_daily.c.value.label("owner"), series_daily.c.cost)
            .where(series_daily.c.dimension == dimension, series_daily.c.value.in_(owners),
                   series_daily.c.bucket >= day))
    both = hours.union_all(days).subquery()
    query = select(both.c.owner, func.sum(both.c.cost)).group_by(both.c.owner)
    return list((await conn.execute(query)).all())
