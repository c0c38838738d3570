"""The governance commands of ``sluicegate``: ``keys create|list|revoke|rotate``, ``teams
create|list``, ``usage`` and ``db upgrade|downgrade|current``.

Each reads ``--config`` (``gateway.toml``) for its ``[store]`` table and works on that database
directly; running gateways see key and team changes within their store poll
(``[store] refresh_interval``). A key's secret is printed once, by the command that made it, and
never otherwise; the database URL (a secret) is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import orjson
from attrs import define, field

from sluicegate.config.loader import load_config
from sluicegate.errors import InvalidRequest
from sluicegate.hookspecs import hookimpl
from sluicegate_governance.bodies import key_values, parse_time, team_values
from sluicegate_governance.issued import digest, new_id, new_secret, shown_prefix
from sluicegate_governance.model import Granularity, GroupBy, Period, Snapshot, Team, UsagePoint, VirtualKey
from sluicegate_governance.options import SqlStoreOptions, StoreOptions, store_url
from sluicegate_governance.protocols import Conflict, GovernanceStore, StoreUnavailable
from sluicegate_governance.spending import from_ledger, key_owner, team_owner
from sluicegate_governance.views import (
    USAGE_SUMS,
    Spend,
    iso,
    key_status,
    key_view,
    team_view,
    usage_total,
    usage_view,
)

DEFAULT_CONFIG = "gateway.toml"
#: Seconds a command may take on the database (its engine bounds each statement too).
COMMAND_TIMEOUT = 60.0
DAY = 86400.0
#: "30d", "12h", "90m", "2w", "45s": a span of time, for --since (ago) and --expires (from now).
_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}
#: The usage window when --since is not given, per granularity.
DEFAULT_SINCE = {Granularity.HOUR: DAY, Granularity.DAY: 30 * DAY}


class CommandFailed(Exception):
    """What the user is told (on stderr, exit 1): never a URL or a secret."""


# -- the commands --------------------------------------------------------------------------------


@hookimpl
def register_commands(commands: Any) -> None:
    keys = _group(commands, "keys", "client keys the gateway issues (needs [store])")
    create = _command(keys, "create", "issue a key; its secret is printed once", _keys_create)
    create.add_argument("--name", required=True, help="what the key is for (shown in lists and logs)")
    create.add_argument("--team", help="the team's id or name")
    create.add_argument("--models", help="comma-separated models or globs the key may call (default: any)")
    create.add_argument("--block-models", help="comma-separated models or globs it may not call")
    _limit_args(create)
    _budget_args(create)
    create.add_argument("--expires", help="when it stops working: ISO 8601, unix seconds, or a span from "
                                          "now such as 30d")
    create.add_argument("--json", action="store_true", help="print the key as JSON")
    listing = _command(keys, "list", "list keys with their status and spend this period", _keys_list)
    listing.add_argument("--team", help="only this team's keys (id or name)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    revoke = _command(keys, "revoke", "refuse a key from now on (for good)", _keys_revoke)
    revoke.add_argument("key_id", help="the key's id (key_...)")
    rotate = _command(keys, "rotate", "give a key a new secret (printed once); the old one stops working",
                      _keys_rotate)
    rotate.add_argument("key_id", help="the key's id (key_...)")
    rotate.add_argument("--json", action="store_true", help="print the key as JSON")

    teams = _group(commands, "teams", "teams of keys sharing a budget and limits (needs [store])")
    team_create = _command(teams, "create", "create a team", _teams_create)
    team_create.add_argument("--name", required=True, help="a unique name")
    _limit_args(team_create)
    _budget_args(team_create)
    team_create.add_argument("--json", action="store_true", help="print the team as JSON")
    team_list = _command(teams, "list", "list teams with their spend this period", _teams_list)
    team_list.add_argument("--json", action="store_true", help="print JSON")

    usage = commands.add_parser("usage", help="requests, tokens and cost over time, from the ledger")
    _config_arg(usage)
    usage.add_argument("--since", help="start: ISO 8601, unix seconds, or a span ago such as 7d "
                                       "(default: 24h by the hour, 30d by the day)")
    usage.add_argument("--until", help="end (default: now)")
    usage.add_argument("--granularity", choices=[g.value for g in Granularity], default=Granularity.DAY.value)
    usage.add_argument("--by", choices=[g.value for g in GroupBy], help="one row per key, team, model or provider")
    usage.add_argument("--key", help="only this key (id)")
    usage.add_argument("--team", help="only this team (id or name)")
    usage.add_argument("--model", help="only this model (the name clients ask for)")
    usage.add_argument("--provider", help="only this provider")
    usage.add_argument("--json", action="store_true", help="print JSON")
    usage.set_defaults(run=_usage)

    db = _group(commands, "db", "the store's schema (Alembic migrations shipped with sluicegate)")
    upgrade = _command(db, "upgrade", "migrate the database up (to the newest revision by default)", _db_upgrade)
    upgrade.add_argument("--revision", default="head", help='target revision (default "head")')
    downgrade = _command(db, "downgrade", 'migrate the database down to a revision ("base": remove every table)',
                         _db_downgrade)
    downgrade.add_argument("revision", help='target revision, or "base"')
    _command(db, "current", "print the revision the database is at", _db_current)


def _group(commands: Any, name: str, help_text: str) -> Any:
    parser = commands.add_parser(name, help=help_text, description=help_text)
    sub = parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND")
    parser.set_defaults(run=lambda args: _help(parser))
    return sub


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _command(group: Any, name: str, help_text: str, work: Work) -> Any:
    parser = group.add_parser(name, help=help_text, description=help_text)
    _config_arg(parser)
    parser.set_defaults(run=lambda args: _run(work, args))
    return parser


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="config file with the [store] table "
                                                                 "(default ./gateway.toml)")


def _limit_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpm", type=int, help="requests per minute")
    parser.add_argument("--tpm", type=int, help="tokens per minute")
    parser.add_argument("--concurrency", type=int, help="requests in flight at once")


def _budget_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", type=float, help="spend allowed per period, in the [pricing] currency")
    parser.add_argument("--period", choices=[p.value for p in Period], default=Period.MONTH.value,
                        help="how the budget renews (default month; calendar periods in UTC)")


def _run(work: Work, args: argparse.Namespace) -> int:
    async def bounded(settings: Settings) -> int:
        async with asyncio.timeout(COMMAND_TIMEOUT):
            return await work(args, settings)

    try:
        # Read (and check) the config before the event loop runs: loading it is blocking work.
        return asyncio.run(bounded(_settings(args.config)))
    except (CommandFailed, StoreUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except InvalidRequest as exc:
        print(f"error: {exc.message}", file=sys.stderr)
    except Conflict as exc:
        print(f"error: {exc}", file=sys.stderr)
    except TimeoutError:
        print(f"error: the database did not answer within {COMMAND_TIMEOUT:g} s", file=sys.stderr)
    return 1


# -- the store --------------------------------------------------------------------------------------


@define(frozen=True)
class Settings:
    """Where a config's store is: its database URL (a secret: never printed) and ``[store]``."""

    url: str = field(repr=False)
    options: SqlStoreOptions


def _settings(config_path: str) -> Settings:
    """The ``[store]`` of a config (``ConfigError`` for a bad config)."""
    config = load_config(config_path).config
    options = config.features.get("store")
    if not isinstance(options, StoreOptions):
        raise CommandFailed(f"{config_path} has no [store] table (or it is disabled): add one to keep keys, "
                            "teams and the ledger in a database")
    if not isinstance(options, SqlStoreOptions):
        raise CommandFailed(f"{config_path}: [store] backend is {options.backend!r}; these commands manage the "
                            "SQL store (backend = \"sql\")")
    return Settings(store_url(options, config.source), options)


#: A command's work: its arguments and its config's store in, the exit status out.
Work = Callable[[argparse.Namespace, Settings], Awaitable[int]]


class _Opened:
    """The config's store, opened (and migrated, as the gateway would) for one command."""

    def __init__(self, settings: Settings) -> None:
        from sluicegate_governance.sql.store import SqlStore  # SQLAlchemy: only for a command that runs

        try:
            self.store = SqlStore(settings.url, migrate=settings.options.migrate)
        except ValueError as exc:  # the store's own words never repeat the URL
            raise CommandFailed(f"[store] url: {exc}") from None

    async def __aenter__(self) -> GovernanceStore:
        await self.store.open()
        return self.store

    async def __aexit__(self, *exc: object) -> None:
        await self.store.aclose()


def _team_of(snapshot: Snapshot, given: str) -> Team:
    """A team by id or, failing that, by name."""
    for team in snapshot.teams:
        if team.id == given:
            return team
    for team in snapshot.teams:
        if team.name == given:
            return team
    raise CommandFailed(f"no team with the id or name {given!r}")


def _key_of(snapshot: Snapshot, key_id: str) -> VirtualKey:
    for key in snapshot.keys:
        if key.id == key_id:
            return key
    raise CommandFailed(f"no key {key_id!r} (keys list shows the ids)")


def _patterns(value: str | None) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def _limits_body(args: argparse.Namespace) -> dict[str, int]:
    return {name: getattr(args, name) for name in ("rpm", "tpm", "concurrency") if getattr(args, name) is not None}


def _budget_body(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.budget is None:
        return None
    return {"amount": args.budget, "period": args.period}


def when(value: str, field: str, now: float, *, ago: bool) -> float:
    """A time: ISO 8601, unix seconds, or a span (``30d``) before (``ago``) or after now."""
    span = _SPAN.match(value.strip())
    if span is not None:
        seconds = float(span.group(1)) * _UNITS[span.group(2)]
        return now - seconds if ago else now + seconds
    return parse_time(value, field)


# -- keys ---------------------------------------------------------------------------------------------


async def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    now = time.time()
    body: dict[str, Any] = {"name": args.name}
    for name, value in (("models", _patterns(args.models)), ("blocked_models", _patterns(args.block_models))):
        if value is not None:
            body[name] = value
    if _limits_body(args):
        body["limits"] = _limits_body(args)
    if args.budget is not None:
        body["budget"] = _budget_body(args)
    if args.expires is not None:
        body["expires_at"] = when(args.expires, "--expires", now, ago=False)
    async with _Opened(settings) as store:
        if args.team is not None:
            body["team_id"] = _team_of(await store.snapshot(), args.team).id
        values = key_values(body, None)
        secret = new_secret()
        key = VirtualKey(id=new_id("key"), digest=digest(secret), prefix=shown_prefix(secret),
                         created_at=now, updated_at=now, **values)
        await store.put_key(key)
    _print_new_secret(key, secret, args.json, now, "created")
    return 0


def _print_new_secret(key: VirtualKey, secret: str, as_json: bool, now: float, done: str) -> None:
    if as_json:
        print(orjson.dumps(key_view(key, now=now, secret=secret), option=orjson.OPT_INDENT_2).decode())
        return
    print(f"{done} key {key.id} ({key.name})")
    print(f"key: {secret}")
    print("Store it now: it is not shown again (the store keeps only its digest).", file=sys.stderr)


async def _keys_list(args: argparse.Namespace, settings: Settings) -> int:
    now = time.time()
    async with _Opened(settings) as store:
        snapshot = await store.snapshot()
        team = _team_of(snapshot, args.team) if args.team is not None else None
        keys = sorted((key for key in snapshot.keys if team is None or key.team_id == team.id),
                      key=lambda key: (key.created_at, key.id))
        spends = await from_ledger(store, [key_owner(key) for key in keys], now)
    if args.json:
        data = [key_view(key, now=now, spend=spends.get("key:" + key.id)) for key in keys]
        print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return 0
    names = {team.id: team.name for team in snapshot.teams}
    rows = [(key.id, key.name, key.prefix, names.get(key.team_id or "", "-"), key_status(key, now),
             _budget_text(key.budget), _spent_text(spends.get("key:" + key.id)), iso(key.expires_at) or "-")
            for key in keys]
    _table(("ID", "NAME", "PREFIX", "TEAM", "STATUS", "BUDGET", "SPENT", "EXPIRES"), rows,
           empty="no keys (create one with: sluicegate keys create --name NAME)")
    return 0


async def _keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    now = time.time()
    async with _Opened(settings) as store:
        key = _key_of(await store.snapshot(), args.key_id)
        if key.revoked_at is not None:
            print(f"key {key.id} ({key.name}) was revoked already, at {iso(key.revoked_at)}")
            return 0
        await store.put_key(attrs.evolve(key, enabled=False, revoked_at=now, updated_at=now))
    print(f"revoked key {key.id} ({key.name}); running gateways refuse it within their store poll")
    return 0


async def _keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    now = time.time()
    async with _Opened(settings) as store:
        key = _key_of(await store.snapshot(), args.key_id)
        if key.revoked_at is not None:
            raise CommandFailed(f"key {key.id} is revoked; create a new key instead")
        secret = new_secret()
        key = attrs.evolve(key, digest=digest(secret), prefix=shown_prefix(secret), updated_at=now)
        await store.put_key(key)
    _print_new_secret(key, secret, args.json, now, "rotated")
    return 0


# -- teams ---------------------------------------------------------------------------------------------


async def _teams_create(args: argparse.Namespace, settings: Settings) -> int:
    now = time.time()
    body: dict[str, Any] = {"name": args.name}
    if _limits_body(args):
        body["limits"] = _limits_body(args)
    if args.budget is not None:
        body["budget"] = _budget_body(args)
    team = Team(id=new_id("team"), created_at=now, updated_at=now, **team_values(body, None))
    async with _Opened(settings) as store:
        await store.put_team(team)
    if args.json:
        print(orjson.dumps(team_view(team, keys=0), option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"created team {team.id} ({team.name})")
    return 0


async def _teams_list(args: argparse.Namespace, settings: Settings) -> int:
    now = time.time()
    async with _Opened(settings) as store:
        snapshot = await store.snapshot()
        teams = sorted(snapshot.teams, key=lambda team: (team.name, team.id))
        spends = await from_ledger(store, [team_owner(team) for team in teams], now)
    members: dict[str, int] = {}
    for key in snapshot.keys:
        if key.team_id is not None:
            members[key.team_id] = members.get(key.team_id, 0) + 1
    if args.json:
        data = [team_view(team, keys=members.get(team.id, 0), spend=spends.get("team:" + team.id)) for team in teams]
        print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return 0
    rows = [(team.id, team.name, str(members.get(team.id, 0)), _budget_text(team.budget),
             _spent_text(spends.get("team:" + team.id)), _limits_text(team)) for team in teams]
    _table(("ID", "NAME", "KEYS", "BUDGET", "SPENT", "LIMITS"), rows,
           empty="no teams (create one with: sluicegate teams create --name NAME)")
    return 0


# -- usage ---------------------------------------------------------------------------------------------


async def _usage_work(args: argparse.Namespace, settings: Settings) -> int:
    now = time.time()
    granularity = Granularity(args.granularity)
    until = when(args.until, "--until", now, ago=True) if args.until is not None else now
    since = when(args.since, "--since", now, ago=True) if args.since is not None else until - DEFAULT_SINCE[granularity]
    width = 3600.0 if granularity is Granularity.HOUR else DAY
    start, end = (since // width) * width, -(-until // width) * width
    if end <= start:
        raise CommandFailed("--since must be before --until")
    group_by = GroupBy(args.by) if args.by is not None else None
    async with _Opened(settings) as store:
        snapshot = await store.snapshot()
        team_id = _team_of(snapshot, args.team).id if args.team is not None else None
        points = await store.usage(start=start, end=end, granularity=granularity, group_by=group_by,
                                   key_id=args.key, team_id=team_id, alias=args.model, provider=args.provider)
    if args.json:
        print(orjson.dumps({"start": iso(start), "end": iso(end), "granularity": granularity.value,
                            "group_by": args.by, "data": [usage_view(p) for p in points],
                            "total": usage_total(points)}, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"usage from {iso(start)} to {iso(end)}, by the {granularity.value}")
    names = {key.id: key.name for key in snapshot.keys} | {team.id: team.name for team in snapshot.teams}
    headers = ("START", *((args.by.upper(),) if group_by is not None else ()), "REQUESTS", "ERRORS",
               "TOKENS IN", "TOKENS OUT", "COST")
    rows = [_usage_row(point, group_by, names) for point in points]
    if points:
        total = usage_total(points)
        rows.append(("TOTAL", *(("",) if group_by is not None else ()), *_sums(total)))
    _table(headers, rows, empty="no requests recorded in this window")
    return 0


def _usage(args: argparse.Namespace) -> int:
    return _run(_usage_work, args)


def _usage_row(point: UsagePoint, group_by: GroupBy | None, names: dict[str, str]) -> tuple[str, ...]:
    start = iso(point.start) or ""
    sums = _sums({name: getattr(point, name) for name in USAGE_SUMS})
    if group_by is None:
        return (start, *sums)
    group = point.group or "-"
    if group_by in (GroupBy.KEY, GroupBy.TEAM) and group in names:
        group = f"{group} ({names[group]})"
    return (start, group, *sums)


def _sums(total: dict[str, Any]) -> tuple[str, ...]:
    return (str(total["requests"]), str(total["errors"]), str(total["tokens_in"]), str(total["tokens_out"]),
            f"{total['cost']:.6f}")


# -- db ------------------------------------------------------------------------------------------------


def _migrations() -> Any:
    """The migrations module (Alembic and SQLAlchemy: imported for a command that runs, not for
    every gateway that lists the commands)."""
    from sluicegate_governance.sql import migrate

    return migrate


async def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    migrate, url = _migrations(), settings.url
    await _migrating(migrate.upgrade(url, args.revision))
    print(f"the store is at revision {await migrate.current(url)}")
    return 0


async def _db_downgrade(args: argparse.Namespace, settings: Settings) -> int:
    migrate, url = _migrations(), settings.url
    await _migrating(migrate.downgrade(url, args.revision))
    print(f"the store is at revision {await migrate.current(url) or 'base (no tables)'}")
    return 0


async def _db_current(args: argparse.Namespace, settings: Settings) -> int:
    migrate, url = _migrations(), settings.url
    try:
        revision = await migrate.current(url)
    except ValueError as exc:
        raise CommandFailed(f"[store] url: {exc}") from None
    print(revision or "base (never migrated)")
    return 0


async def _migrating(step: Awaitable[None]) -> None:
    try:
        await step
    except ValueError as exc:  # a bad URL or an unknown revision; the URL is never repeated
        raise CommandFailed(str(exc)) from None


# -- printing ------------------------------------------------------------------------------------------


def _budget_text(budget: Any) -> str:
    return "-" if budget is None else f"{budget.amount:g}/{budget.period.value}"


def _spent_text(spend: Spend | None) -> str:
    return "-" if spend is None else f"{spend.spent:.6f}"


def _limits_text(team: Team) -> str:
    limits = team.limits
    parts = [f"{name}={value}" for name, value in (("rpm", limits.rpm), ("tpm", limits.tpm),
                                                   ("concurrency", limits.concurrency)) if value is not None]
    return " ".join(parts) or "-"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, empty: str) -> None:
    if not rows:
        print(empty)
        return
    widths = [max(len(str(row[i])) for row in (headers, *rows)) for i in range(len(headers))]
    for row in (headers, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

