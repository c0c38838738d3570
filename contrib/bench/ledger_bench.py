"""How fast the governance store answers the console's queries over a big spend ledger.

Run from the repo root::

    python contrib/bench/ledger_bench.py                      # SQLite, 1,000,000 rows
    python contrib/bench/ledger_bench.py --postgres           # and a PostgreSQL test server
    python contrib/bench/ledger_bench.py --postgres-url URL   # and an existing (empty) database

It fills a fresh database through the store's own write path (``SqlStore.record``: batches of
ledger rows inserted, their rollups upserted in the same transaction), with a
plausible month of traffic: 200 keys in 20 teams, popularity skewed (Zipf), each key calling a few
of 20 model aliases, each alias served by one or two of 6 providers, ~5 % errors. Then it times
each query the console and the budget seeding make (``--repeat`` runs after one warm-up) and prints
p50 and max in milliseconds, with the garbage collector tuned as ``sluicegate serve`` tunes it.
Everything is seeded: two runs build the same data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from sluicegate.server.runner import GC_THRESHOLD
from sluicegate.testing.postgres import PostgresServer
from sluicegate_governance.model import Granularity, GroupBy, LedgerRow
from sluicegate_governance.sql import cursor as cursors
from sluicegate_governance.sql.engine import EngineLimits, create_engine, parse_url
from sluicegate_governance.sql.store import SqlStore
from sluicegate_governance.sql.tables import ledger

HOUR = 3600.0
DAY = 86400.0
#: The month the ledger covers: 2024-03-01 00:00 UTC onwards.
START = 19_783 * DAY
TARGET_MS = 100.0


class Traffic:
    """A seeded stream of plausible ledger rows, oldest first."""

    def __init__(self, rows: int, days: int, seed: int = 14) -> None:
        self.rows, self.days = rows, days
        self.random = random.Random(seed)
        rng = self.random
        self.teams = [f"team_{index:016x}" for index in range(20)]
        self.keys = [f"key_{index:016x}" for index in range(200)]
        self.key_team = {key: rng.choice(self.teams) for key in self.keys}
        aliases = [f"model-{index:02d}" for index in range(20)]
        providers = ["openai", "anthropic", "azure", "bedrock", "deepseek", "vertex"]
        self.served_by = {alias: rng.sample(providers, rng.choice((1, 2))) for alias in aliases}
        self.key_aliases = {key: rng.sample(aliases, rng.randint(1, 4)) for key in self.keys}
        # Zipf-like: key n gets weight 1/n, so the busiest keys carry most of the traffic.
        self.key_weights = [1 / (rank + 1) for rank in range(len(self.keys))]

    def batches(self, size: int) -> Iterator[list[LedgerRow]]:
        span = self.days * DAY
        step = span / self.rows
        rng = self.random
        batch: list[LedgerRow] = []
        keys = rng.choices(self.keys, weights=self.key_weights, k=self.rows)
        for index in range(self.rows):
            key = keys[index]
            alias = rng.choice(self.key_aliases[key])
            provider = rng.choice(self.served_by[alias])
            roll = rng.random()
            status = 200 if roll < 0.95 else 429 if roll < 0.97 else 500 if roll < 0.99 else 400
            tokens_in = int(rng.expovariate(1 / 800)) + 1
            tokens_out = int(rng.expovariate(1 / 200)) if status == 200 else 0
            batch.append(LedgerRow(
                at=START + index * step + rng.random() * step, request_id=f"req_{index:08x}",
                key_id=key, team_id=self.key_team[key], client=f"client-{key[-4:]}", alias=alias,
                provider=provider, model=f"{provider}/{alias}", endpoint="chat/completions",
                stream=rng.random() < 0.4, status=status,
                error_class=None if status == 200 else "upstream_error",
                tokens_in=tokens_in, tokens_out=tokens_out, tokens_cached=tokens_in // 4,
                cost=(tokens_in * 2.5 + tokens_out * 10) / 1e6,
                latency_ms=rng.uniform(200, 4000), ttft_ms=rng.uniform(100, 800),
            ))
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


async def fill(store: SqlStore, traffic: Traffic, batch_size: int) -> float:
    """Write the ledger; rows per second."""
    began = time.perf_counter()
    written = 0
    for batch in traffic.batches(batch_size):
        await store.record(batch)
        written += len(batch)
        if written % 100_000 < batch_size:
            rate = written / (time.perf_counter() - began)
            print(f"  {written:>9,} rows  {rate:>8,.0f} rows/s", file=sys.stderr, flush=True)
    return written / (time.perf_counter() - began)


async def analyze(engine: AsyncEngine) -> None:
    """Fresh planner statistics, as PostgreSQL's autovacuum would have after such a load."""
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))


async def middle_cursor(engine: AsyncEngine) -> str:
    """A cursor halfway down the ledger: a deep page, as after following 10,000 pages."""
    async with engine.connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(ledger))
        row = (await conn.execute(select(ledger.c.at, ledger.c.id).order_by(ledger.c.at.desc(), ledger.c.id.desc())
                                  .offset(total // 2).limit(1))).one()
    return cursors.encode(cursors.Position(at=row.at, id=row.id))


def queries(traffic: Traffic, deep: str) -> dict[str, Callable[[SqlStore], Awaitable[object]]]:
    end = START + traffic.days * DAY
    busy, quiet = traffic.keys[0], traffic.keys[-1]
    month = {"start": START, "end": end}
    since = {f"key:{key}": START + 7 * HOUR for key in traffic.keys}
    since |= {f"team:{team}": START for team in traffic.teams}
    cases: dict[str, Callable[[SqlStore], Awaitable[object]]] = {}
    for granularity in (Granularity.HOUR, Granularity.DAY):
        for group in GroupBy:
            cases[f"usage by {group.value}, 30 d {'hourly' if granularity is Granularity.HOUR else 'daily'}"] = (
                lambda store, g=granularity, by=group: store.usage(granularity=g, group_by=by, **month))
    for days in (7, 1):
        cases[f"usage by key, last {days} d hourly"] = lambda store, days=days: store.usage(
            granularity=Granularity.HOUR, group_by=GroupBy.KEY, start=end - days * DAY, end=end)
    cases["usage of one key, 30 d hourly"] = lambda store: store.usage(
        granularity=Granularity.HOUR, key_id=busy, **month)
    cases["usage of one provider, 30 d hourly"] = lambda store: store.usage(
        granularity=Granularity.HOUR, provider="openai", **month)
    cases["usage of one provider by key, 30 d daily"] = lambda store: store.usage(
        granularity=Granularity.DAY, group_by=GroupBy.KEY, provider="openai", **month)
    cases["usage of one team by key, 7 d hourly"] = lambda store: store.usage(
        granularity=Granularity.HOUR, group_by=GroupBy.KEY, team_id=traffic.key_team[busy],
        start=end - 7 * DAY, end=end)
    cases["usage of one team by model, 30 d daily"] = lambda store: store.usage(
        granularity=Granularity.DAY, group_by=GroupBy.MODEL, team_id=traffic.teams[0], **month)
    cases["logs, first page"] = lambda store: store.logs(limit=50)
    cases["logs, busiest key"] = lambda store: store.logs(key_id=busy, limit=50)
    cases["logs, quietest key"] = lambda store: store.logs(key_id=quiet, limit=50)
    cases["logs, one team"] = lambda store: store.logs(team_id=traffic.teams[-1], limit=50)
    cases["logs, one provider"] = lambda store: store.logs(provider="vertex", limit=50)
    cases["logs, one alias"] = lambda store: store.logs(alias="model-19", limit=50)
    cases["logs, errors (>= 400)"] = lambda store: store.logs(status=400, limit=50)
    cases["logs, status 500"] = lambda store: store.logs(status=500, limit=50)
    cases["logs, quiet key + errors"] = lambda store: store.logs(key_id=quiet, status=400, limit=50)
    cases["logs, last 24 h of a provider"] = lambda store: store.logs(
        provider="openai", start=end - DAY, end=end, limit=50)
    cases["logs, deep page (cursor)"] = lambda store: store.logs(cursor=deep, limit=50)
    cases["logs, deep page, busiest key"] = lambda store: store.logs(cursor=deep, key_id=busy, limit=50)
    cases["logs, deep page, errors"] = lambda store: store.logs(cursor=deep, status=400, limit=50)
    cases[f"spend since, {len(since)} owners"] = lambda store: store.spend(since=since)
    return cases


async def measure(store: SqlStore, cases, repeat: int) -> list[tuple[str, float, float]]:
    # The collector set up as `sluicegate serve` sets it (server/runner.py): what is loaded is
    # frozen out of its sight, the young generation collected every 20,000 allocations. Without
    # this, a full collection walking the whole heap lands in every other large answer here.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    results = []
    for name, run in cases.items():
        await run(store)  # warm: the pages and plans a console keeps hot
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            await run(store)
            times.append((time.perf_counter() - began) * 1000)
        results.append((name, statistics.median(times), max(times)))
    return results


async def bench(label: str, url: str, args: argparse.Namespace) -> list[tuple[str, float, float]]:
    traffic = Traffic(args.rows, args.days)
    store = SqlStore(url)
    await store.open()
    try:
        if await store.version() != 0 or (await store.logs(limit=1)).rows:
            raise SystemExit(f"{label}: the database is not empty; give an empty one")
        print(f"{label}: writing {args.rows:,} ledger rows ...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        rate = await fill(store, traffic, args.batch)
        print(f"{label}: {args.rows:,} rows in {time.perf_counter() - began:.0f} s "
              f"({rate:,.0f} rows/s through SqlStore.record, batches of {args.batch})", flush=True)
        engine = create_engine(parse_url(url), EngineLimits())
        try:
            if args.analyze:
                await analyze(engine)
            deep = await middle_cursor(engine)
        finally:
            await engine.dispose()
        return await measure(store, queries(traffic, deep), args.repeat)
    finally:
        await store.aclose()


def table(results: dict[str, list[tuple[str, float, float]]]) -> str:
    labels = list(results)
    names = [name for name, _, _ in results[labels[0]]]
    width = max(len(name) for name in names)
    head = f"{'query':<{width}}" + "".join(f" | {label + ' p50':>14} {'max':>8}" for label in labels)
    lines = [head, "-" * len(head)]
    slow = []
    for index, name in enumerate(names):
        cells = ""
        for label in labels:
            _, p50, worst = results[label][index]
            cells += f" | {p50:>11.1f} ms {worst:>5.1f} ms"
            if p50 > TARGET_MS:
                slow.append(f"{label}: {name}")
        lines.append(f"{name:<{width}}{cells}")
    if slow:
        lines.append(f"\nover {TARGET_MS:.0f} ms at p50: " + "; ".join(slow))
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch", type=int, default=5000, help="rows per SqlStore.record call")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per query")
    parser.add_argument("--sqlite", metavar="PATH", help="SQLite file to create (default: a temp file)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--postgres", action="store_true",
                        help="also on a PostgreSQL test server started here (sluicegate.testing.postgres)")
    parser.add_argument("--postgres-url", metavar="URL", help="also on this empty PostgreSQL database")
    parser.add_argument("--analyze", action="store_true",
                        help="run ANALYZE before measuring (default: the planner's statistics as the load left them)")
    args = parser.parse_args(argv)
    if args.rows < 1000 or args.days < 1 or args.batch < 1 or args.repeat < 1:
        parser.error("--rows >= 1000, --days, --batch and --repeat >= 1")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    results = {}
    with contextlib.ExitStack() as stack:
        if not args.no_sqlite:
            path = args.sqlite
            if path is None:
                path = str(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sg-ledger-"))) / "bench.db")
            elif Path(path).exists():
                raise SystemExit(f"{path} exists; the bench fills a new file")
            results["sqlite"] = asyncio.run(bench("sqlite", f"sqlite+aiosqlite:///{path}", args))
        url = args.postgres_url
        if args.postgres and url is None:
            server = stack.enter_context(PostgresServer())
            url = server.create_database("ledger_bench")
        if url is not None:
            results["postgresql"] = asyncio.run(bench("postgresql", url, args))
    if not results:
        raise SystemExit("nothing to measure: drop --no-sqlite or add --postgres")
    print(f"\n{args.rows:,} ledger rows over {args.days} days; p50 and max of {args.repeat} runs\n")
    print(table(results))


if __name__ == "__main__":
    main()
