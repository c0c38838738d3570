"""The SQL store against real databases: every test runs on a SQLite file and on a real
PostgreSQL server (``store_url`` in conftest.py)."""

from __future__ import annotations

import asyncio
import base64
import math
import os
import random
import socket
import sqlite3
import struct
import sys
import threading
import traceback

import pytest
from sqlalchemy import text

from sluicegate.testing.postgres import PostgresServer
from sluicegate_governance.model import (
    Budget,
    Granularity,
    GroupBy,
    LedgerRow,
    Limits,
    Period,
    Team,
    UsagePoint,
    VirtualKey,
)
from sluicegate_governance.protocols import Conflict, GovernanceStore, StoreUnavailable
from sluicegate_governance.sql import sqlite_ledger
from sluicegate_governance.sql import store as store_module
from sluicegate_governance.sql.engine import EngineLimits, create_engine, parse_url
from sluicegate_governance.sql.store import SqlStore

HOUR = 3600.0
DAY = 86400.0
DAY0 = 19_676 * DAY  # 2023-11-15 00:00 UTC


def a_team(team_id: str = "team_0000000000000001", name: str = "research", **changes) -> Team:
    return Team(id=team_id, name=name, **changes)


def a_key(key_id: str = "key_0000000000000001", digest: str = "a" * 64, **changes) -> VirtualKey:
    return VirtualKey(id=key_id, name=changes.pop("name", "ci"), digest=digest,
                      prefix=changes.pop("prefix", "sk-sg-abcdef"), **changes)


def point(start: float, group: str | None, requests: int, *, errors: int = 0, tokens_in: int = 0,
          tokens_out: int = 0, tokens_cached: int = 0, tokens_cache_written: int = 0,
          cost: float = 0.0) -> UsagePoint:
    return UsagePoint(start=start, group=group, requests=requests, errors=errors, tokens_in=tokens_in,
                      tokens_out=tokens_out, tokens_cached=tokens_cached,
                      tokens_cache_written=tokens_cache_written, cost=cost)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


async def test_the_store_is_a_governance_store(store):
    assert isinstance(store, GovernanceStore)


# -- keys and teams ---------------------------------------------------------------------------------


async def test_a_team_round_trips_every_field(store):
    team = a_team(budget=Budget(amount=12.5, period=Period.WEEK), limits=Limits(rpm=60, tpm=90_000, concurrency=4),
                  metadata={"owner": "ana", "tags": ["a", "b"], "nested": {"n": 1.5, "ok": True}},
                  created_at=1_700_000_000.123456, updated_at=1_700_000_100.654321)
    await store.put_team(team)
    assert (await store.snapshot()).teams == (team,)

    replaced = a_team(name="research-2", created_at=team.created_at, updated_at=1_700_000_200.5)
    await store.put_team(replaced)
    assert (await store.snapshot()).teams == (replaced,)  # budget, limits and metadata cleared too


async def test_a_key_round_trips_every_field(store):
    await store.put_team(a_team())
    full = a_key(
        name="billing-service", prefix="sk-sg-Zx9_q-", team_id="team_0000000000000001",
        models=("gpt-4o*", "claude-*"), blocked_models=("gpt-4o-audio*",),
        limits=Limits(rpm=10, tpm=20_000, concurrency=2), budget=Budget(amount=0.75, period=Period.DAY),
        expires_at=1_800_000_000.25, enabled=False, revoked_at=1_700_000_500.5,
        metadata={"env": "prod", "cost_center": 42}, created_at=1_700_000_000.5, updated_at=1_700_000_600.75,
    )
    bare = a_key(key_id="key_0000000000000002", digest="b" * 64)
    await store.put_key(full)
    await store.put_key(bare)
    assert (await store.snapshot()).keys == (full, bare)


async def test_a_total_budget_and_every_period_round_trip(store):
    keys = [a_key(key_id=f"key_{index:016x}", digest=f"{index:064x}", budget=Budget(amount=1.0, period=period))
            for index, period in enumerate(Period)]
    for key in keys:
        await store.put_key(key)
    assert (await store.snapshot()).keys == tuple(keys)


async def test_every_change_bumps_the_version_once(store):
    start = await store.version()
    await store.put_team(a_team())
    assert await store.version() == start + 1
    await store.put_key(a_key(team_id="team_0000000000000001"))
    assert await store.version() == start + 2
    await store.put_key(a_key(team_id="team_0000000000000001", enabled=False))  # a revocation
    assert await store.version() == start + 3
    assert await store.delete_key("key_0000000000000001") is True
    assert await store.version() == start + 4
    assert await store.delete_key("key_0000000000000001") is False  # nothing deleted: no bump
    assert await store.version() == start + 4
    assert await store.delete_team("team_0000000000000001") is True
    assert await store.delete_team("team_0000000000000001") is False
    snapshot = await store.snapshot()
    assert snapshot.version == await store.version() == start + 5
    assert snapshot.keys == () and snapshot.teams == ()


async def test_concurrent_writers_each_bump_the_version(store_url):
    one, two = SqlStore(store_url), SqlStore(store_url)
    await one.open()
    await two.open()
    try:
        start = await one.version()
        await asyncio.gather(*(
            (one if index % 2 else two).put_key(a_key(key_id=f"key_{index:016x}", digest=f"{index:064x}"))
            for index in range(20)
        ))
        assert await two.version() == start + 20
        assert len((await one.snapshot()).keys) == 20
    finally:
        await one.aclose()
        await two.aclose()


async def test_conflicts_are_refused_and_change_nothing(store):
    await store.put_team(a_team())
    await store.put_key(a_key(team_id="team_0000000000000001"))
    before = await store.snapshot()

    with pytest.raises(Conflict, match="research"):
        await store.put_team(a_team(team_id="team_0000000000000002", name="research"))
    with pytest.raises(Conflict, match="digest"):
        await store.put_key(a_key(key_id="key_0000000000000002"))  # the same digest, another id
    with pytest.raises(Conflict, match="team_000000000000000f"):
        await store.put_key(a_key(key_id="key_0000000000000003", digest="c" * 64,
                                  team_id="team_000000000000000f"))
    with pytest.raises(Conflict, match="1 key"):
        await store.delete_team("team_0000000000000001")
    assert await store.snapshot() == before

    # Replacing a record under its own id keeps its own name and digest: no conflict.
    await store.put_team(a_team(metadata={"x": 1}))
    await store.put_key(a_key(team_id="team_0000000000000001", name="renamed"))
    assert await store.version() == before.version + 2


async def test_metadata_that_is_not_json_is_a_value_error(store):
    with pytest.raises(ValueError, match="metadata"):
        await store.put_team(a_team(metadata={"when": object()}))
    with pytest.raises(ValueError, match="metadata"):
        await store.put_key(a_key(metadata={1: "integer keys"}))
    assert (await store.snapshot()).version == 0


# -- the ledger: rollups and usage --------------------------------------------------------------------

USAGE_ROWS = (
    LedgerRow(at=DAY0 + 10, request_id="r1", key_id="k1", team_id="t1", alias="gpt", provider="openai",
              model="gpt-4o", status=200, tokens_in=10, tokens_out=5, tokens_cached=2, tokens_cache_written=1,
              cost=0.5, latency_ms=100.0),
    LedgerRow(at=DAY0 + 20, request_id="r2", key_id="k1", team_id="t1", alias="claude", provider="anthropic",
              model="claude-sonnet", status=500, error_class="upstream_error", tokens_in=7),
    LedgerRow(at=DAY0 + HOUR + 5, request_id="r3", key_id="k2", team_id="t1", alias="gpt", provider="azure",
              model="gpt-4o", status=200, tokens_in=3, tokens_out=4, cost=0.25),
    LedgerRow(at=DAY0 + DAY + 30, request_id="r4", key_id="k2", team_id="t2", alias="gpt", provider="openai",
              model="gpt-4o", status=429, error_class="rate_limited", cost=0.125),
    LedgerRow(at=DAY0 + DAY + 2 * HOUR, request_id="r5", alias="gpt", provider="openai", model="gpt-4o",
              status=200, tokens_in=1, cost=1.0),
)


async def usage(store, granularity, group_by=None, start=DAY0, end=DAY0 + 2 * DAY, **filters):
    return await store.usage(start=start, end=end, granularity=granularity, group_by=group_by, **filters)


async def test_usage_per_hour_and_per_day(store):
    await store.record(USAGE_ROWS)
    assert await usage(store, Granularity.HOUR) == [
        point(DAY0, None, 2, errors=1, tokens_in=17, tokens_out=5, tokens_cached=2, tokens_cache_written=1,
              cost=0.5),
        point(DAY0 + HOUR, None, 1, tokens_in=3, tokens_out=4, cost=0.25),
        point(DAY0 + DAY, None, 1, errors=1, cost=0.125),
        point(DAY0 + DAY + 2 * HOUR, None, 1, tokens_in=1, cost=1.0),
    ]
    assert await usage(store, Granularity.DAY) == [
        point(DAY0, None, 3, errors=1, tokens_in=20, tokens_out=9, tokens_cached=2, tokens_cache_written=1,
              cost=0.75),
        point(DAY0 + DAY, None, 2, errors=1, tokens_in=1, cost=1.125),
    ]


async def test_usage_grouped_by_each_dimension(store):
    await store.record(USAGE_ROWS)
    assert await usage(store, Granularity.HOUR, GroupBy.KEY) == [
        point(DAY0, "k1", 2, errors=1, tokens_in=17, tokens_out=5, tokens_cached=2, tokens_cache_written=1,
              cost=0.5),
        point(DAY0 + HOUR, "k2", 1, tokens_in=3, tokens_out=4, cost=0.25),
        point(DAY0 + DAY, "k2", 1, errors=1, cost=0.125),
        point(DAY0 + DAY + 2 * HOUR, None, 1, tokens_in=1, cost=1.0),  # no key: group None
    ]
    assert await usage(store, Granularity.DAY, GroupBy.TEAM) == [
        point(DAY0, "t1", 3, errors=1, tokens_in=20, tokens_out=9, tokens_cached=2, tokens_cache_written=1,
              cost=0.75),
        point(DAY0 + DAY, None, 1, tokens_in=1, cost=1.0),
        point(DAY0 + DAY, "t2", 1, errors=1, cost=0.125),
    ]
    assert await usage(store, Granularity.DAY, GroupBy.MODEL) == [
        point(DAY0, "claude", 1, errors=1, tokens_in=7),
        point(DAY0, "gpt", 2, tokens_in=13, tokens_out=9, tokens_cached=2, tokens_cache_written=1, cost=0.75),
        point(DAY0 + DAY, "gpt", 2, errors=1, tokens_in=1, cost=1.125),
    ]
    assert await usage(store, Granularity.DAY, GroupBy.PROVIDER) == [
        point(DAY0, "anthropic", 1, errors=1, tokens_in=7),
        point(DAY0, "azure", 1, tokens_in=3, tokens_out=4, cost=0.25),
        point(DAY0, "openai", 1, tokens_in=10, tokens_out=5, tokens_cached=2, tokens_cache_written=1, cost=0.5),
        point(DAY0 + DAY, "openai", 2, errors=1, tokens_in=1, cost=1.125),
    ]


async def test_usage_filters_and_range(store):
    await store.record(USAGE_ROWS)
    assert await usage(store, Granularity.DAY, key_id="k2") == [
        point(DAY0, None, 1, tokens_in=3, tokens_out=4, cost=0.25),
        point(DAY0 + DAY, None, 1, errors=1, cost=0.125),
    ]
    assert await usage(store, Granularity.HOUR, GroupBy.KEY, team_id="t1") == [
        point(DAY0, "k1", 2, errors=1, tokens_in=17, tokens_out=5, tokens_cached=2, tokens_cache_written=1,
              cost=0.5),
        point(DAY0 + HOUR, "k2", 1, tokens_in=3, tokens_out=4, cost=0.25),
    ]
    assert await usage(store, Granularity.DAY, alias="gpt", provider="openai") == [
        point(DAY0, None, 1, tokens_in=10, tokens_out=5, tokens_cached=2, tokens_cache_written=1, cost=0.5),
        point(DAY0 + DAY, None, 2, errors=1, tokens_in=1, cost=1.125),
    ]
    # [start, end): the buckets starting in it.
    assert await usage(store, Granularity.HOUR, start=DAY0 + HOUR, end=DAY0 + DAY + 2 * HOUR) == [
        point(DAY0 + HOUR, None, 1, tokens_in=3, tokens_out=4, cost=0.25),
        point(DAY0 + DAY, None, 1, errors=1, cost=0.125),
    ]
    assert await usage(store, Granularity.DAY, key_id="nobody") == []
    with pytest.raises(ValueError):
        await usage(store, Granularity.DAY, start=math.nan)


def expected_usage(rows, granularity, group_by, start, end, **filters) -> list[UsagePoint]:
    """The usage the rows make, added up here from the rows themselves."""
    width = DAY if granularity is Granularity.DAY else HOUR
    column = {GroupBy.KEY: "key_id", GroupBy.TEAM: "team_id", GroupBy.MODEL: "alias",
              GroupBy.PROVIDER: "provider", None: None}[group_by]
    totals: dict = {}
    for row in rows:
        if any(getattr(row, name) != value for name, value in filters.items()):
            continue
        bucket = math.floor(row.at / width) * width
        if not start <= bucket < end:
            continue
        group = getattr(row, column) if column else None
        total = totals.setdefault((bucket, group or ""), [0] * 7)
        for index, value in enumerate((1, row.status >= 400, row.tokens_in, row.tokens_out, row.tokens_cached,
                                       row.tokens_cache_written, row.cost)):
            total[index] += value
    return [point(bucket, group or None, total[0], errors=total[1], tokens_in=total[2], tokens_out=total[3],
                  tokens_cached=total[4], tokens_cache_written=total[5], cost=total[6])
            for (bucket, group), total in sorted(totals.items())]


async def test_usage_matches_the_ledger_whichever_table_answers(store):
    """One-dimension questions are answered from the series, others from the rollups: both must
    say what the rows say, for every grouping, granularity and filter."""
    rng = random.Random(7)
    rows = [LedgerRow(at=DAY0 + rng.uniform(0, 3 * DAY), request_id=f"r{index}",
                      key_id=rng.choice(("k1", "k2", "k3", None)), team_id=rng.choice(("t1", "t2", None)),
                      alias=rng.choice(("gpt", "claude", None)), provider=rng.choice(("openai", "azure", None)),
                      status=rng.choice((200, 200, 429, 500)), tokens_in=rng.randrange(100),
                      tokens_out=rng.randrange(50), tokens_cached=rng.randrange(9),
                      tokens_cache_written=rng.randrange(5), cost=rng.randrange(16) / 8)
            for index in range(300)]
    for part in range(0, 300, 70):
        await store.record(rows[part:part + 70])
    start, end = DAY0 + 5 * HOUR, DAY0 + 2 * DAY + 7 * HOUR
    filter_sets = [{}, {"key_id": "k1"}, {"team_id": "t2"}, {"alias": "claude"}, {"provider": "azure"},
                   {"key_id": "k2", "provider": "openai"}, {"team_id": "t1", "alias": "gpt"}]
    for granularity in Granularity:
        for group_by in (None, *GroupBy):
            for filters in filter_sets:
                expected = expected_usage(rows, granularity, group_by, start, end, **filters)
                assert expected, (granularity, group_by, filters)
                found = await store.usage(start=start, end=end, granularity=granularity, group_by=group_by,
                                          **filters)
                assert found == expected, (granularity, group_by, filters)


async def test_batches_add_up_in_the_same_rollup_rows(store):
    row = LedgerRow(at=DAY0 + 60, request_id="x", key_id="k1", alias="gpt", provider="openai",
                    tokens_in=2, cost=0.5, status=200)
    await store.record([row, row])  # one batch: aggregated before the upsert
    await store.record([row])  # another batch: added to the stored row
    assert await usage(store, Granularity.HOUR, GroupBy.KEY) == [point(DAY0, "k1", 3, tokens_in=6, cost=1.5)]
    assert await usage(store, Granularity.DAY, GroupBy.PROVIDER) == [
        point(DAY0, "openai", 3, tokens_in=6, cost=1.5)]
    assert len((await store.logs()).rows) == 3


async def test_concurrent_batches_into_the_same_rollups_lose_nothing(store_url):
    stores = [SqlStore(store_url) for _ in range(3)]
    for one in stores:
        await one.open()
    try:
        rows = [LedgerRow(at=DAY0 + (index % 5) * HOUR + index, request_id=f"r{index}",
                          key_id=f"k{index % 3}", alias="gpt", provider="openai", cost=0.25, status=200)
                for index in range(60)]
        batches = [rows[start:start + 6] for start in range(0, 60, 6)]
        await asyncio.gather(*(stores[index % 3].record(batch) for index, batch in enumerate(batches)))
        total = await stores[0].usage(start=DAY0, end=DAY0 + DAY, granularity=Granularity.DAY)
        assert total == [point(DAY0, None, 60, cost=15.0)]
    finally:
        for one in stores:
            await one.aclose()


# -- the ledger: spend ------------------------------------------------------------------------------------


async def test_spend_since_a_start_reads_the_rollups(store):
    def row(at: float, cost: float, key_id: str = "k1", team_id: str | None = "t1") -> LedgerRow:
        return LedgerRow(at=at, request_id="r", key_id=key_id, team_id=team_id, cost=cost)

    await store.record([
        row(DAY0 - 3 * HOUR + 1, 0.5),  # the day before: the hourly part of a spend since then
        row(DAY0 + 5, 0.25),
        row(DAY0 + 3 * DAY + 7 * HOUR, 0.125),
        row(DAY0 + 10, 2.0, key_id="k2", team_id=None),
    ])
    asked = {"key:k1": DAY0 - 4 * HOUR, "key:k2": 0.0, "team:t1": DAY0 - 2 * HOUR, "key:k9": 0.0}
    expected = {"key:k1": 0.875, "key:k2": 2.0, "team:t1": 0.375, "key:k9": 0.0}
    assert await store.spend(since=asked) == expected
    assert await store.spend(since={"key:k1": DAY0 + 3 * DAY + 7 * HOUR}) == {"key:k1": 0.125}
    assert await store.spend(since={"key:k1": DAY0 + 3 * DAY + 8 * HOUR}) == {"key:k1": 0.0}
    assert await store.spend(since={}) == {}

    # The ledger gone (retention), the rollups still answer: spend never reads the ledger.
    await store.purge(ledger_before=DAY0 + 10 * DAY, rollups_before=0.0)
    assert (await store.logs()).rows == ()
    assert await store.spend(since=asked) == expected


async def test_spend_asks_for_owners_by_name(store):
    for name in ("k1", "user:u1", "key:", "team"):
        with pytest.raises(ValueError, match="key:<id>"):
            await store.spend(since={name: 0.0})
    with pytest.raises(ValueError, match="not a time"):
        await store.spend(since={"key:k1": math.inf})


async def test_spend_of_many_owners(store, monkeypatch):
    monkeypatch.setattr(store_module, "SPEND_CHUNK", 7)  # several IN lists per start
    await store.record([LedgerRow(at=DAY0, request_id="r", key_id=f"k{index}", cost=float(index))
                        for index in range(30)])
    spent = await store.spend(since={f"key:k{index}": DAY0 for index in range(30)})
    assert spent == {f"key:k{index}": float(index) for index in range(30)}


# -- the ledger: the request log ----------------------------------------------------------------------------


def log_rows() -> list[LedgerRow]:
    """40 rows, three to a timestamp (ties broken by id), spread over keys, providers, statuses."""
    statuses = (200, 200, 429, 500, 200, 400, 503)
    return [
        LedgerRow(at=DAY0 + index // 3, request_id=f"r{index:02d}",
                  key_id=("k1", "k2", None)[index % 3], team_id=("t1", None)[index % 2],
                  alias=("gpt", "claude")[index % 2 if index < 20 else 0],
                  provider=("openai", "anthropic", "azure", "openai")[index % 4],
                  status=statuses[index % len(statuses)], cost=index / 8)
        for index in range(40)
    ]


async def all_pages(store, limit: int, **filters) -> list[str]:
    seen, cursor = [], None
    for _ in range(100):
        page = await store.logs(limit=limit, cursor=cursor, **filters)
        assert len(page.rows) <= limit
        seen += [row.request_id for row in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            return seen
        assert len(page.rows) == limit  # a page that is not the last is full
    raise AssertionError("pagination did not end")


def newest_first(rows: list[LedgerRow], keep=lambda row: True) -> list[str]:
    # Inserted in one batch in list order: ids grow with the index, so (at, index) is (at, id).
    ordered = sorted(enumerate(rows), key=lambda pair: (pair[1].at, pair[0]), reverse=True)
    return [row.request_id for _, row in ordered if keep(row)]


async def test_logs_pages_newest_first_without_duplicates_or_misses(store):
    rows = log_rows()
    await store.record(rows)
    cases = [
        ({}, lambda row: True),
        ({"key_id": "k1"}, lambda row: row.key_id == "k1"),
        ({"team_id": "t1"}, lambda row: row.team_id == "t1"),
        ({"alias": "claude"}, lambda row: row.alias == "claude"),
        ({"provider": "openai"}, lambda row: row.provider == "openai"),
        ({"status": 429}, lambda row: row.status == 429),
        ({"status": 400}, lambda row: row.status >= 400),  # every error
        ({"start": DAY0 + 4, "end": DAY0 + 10}, lambda row: DAY0 + 4 <= row.at < DAY0 + 10),
        ({"key_id": "k2", "provider": "openai", "status": 400},
         lambda row: row.key_id == "k2" and row.provider == "openai" and row.status >= 400),
    ]
    for filters, keep in cases:
        expected = newest_first(rows, keep)
        assert expected, filters  # each case selects something
        for limit in (1, 3, 7, 50):
            assert await all_pages(store, limit, **filters) == expected, (filters, limit)


async def test_logs_a_last_full_page_has_no_next_cursor(store):
    await store.record(log_rows()[:10])
    page = await store.logs(limit=5)
    assert page.next_cursor is not None
    last = await store.logs(limit=5, cursor=page.next_cursor)
    assert len(last.rows) == 5 and last.next_cursor is None


async def test_logs_rows_round_trip_every_field(store):
    row = LedgerRow(at=DAY0 + 0.123456, request_id="req-1", key_id="key_1", team_id="team_1", client="ci",
                    alias="gpt", provider="openai", model="gpt-4o-2024-08-06", endpoint="chat/completions",
                    stream=True, status=502, error_class="upstream_error", tokens_in=11, tokens_out=22,
                    tokens_cached=3, tokens_cache_written=4, cost=0.015625, latency_ms=812.5, ttft_ms=95.25)
    bare = LedgerRow(at=DAY0 + 1, request_id="req-2")
    await store.record([row, bare])
    assert (await store.logs()).rows == (bare, row)


async def test_text_and_numbers_round_trip_exactly_through_a_batch(store):
    # Quotes, escapes, non-ASCII text, doubles, NULLs and large counts come back as they were
    # sent (PostgreSQL's batches travel as one JSON text, unpacked by the server).
    rows = [LedgerRow(at=DAY0 + index / 7, request_id=f"req-{index}", alias='gpt "4o" \\ \u00e9\u6a21\U0001f600',
                      client="a\tb\nc", cost=index * 0.1 + 1e-12, latency_ms=1 / 3, tokens_in=2**53, stream=index % 2 == 0)
            for index in range(7)]
    rows.append(LedgerRow(at=DAY0 + 1 + 0.1 + 0.2, request_id='r"\\\u2028', key_id="key_a", team_id="team_b", status=503,
                          error_class="Upstream\\Error", tokens_in=2**62, tokens_out=1, tokens_cached=3,
                          tokens_cache_written=4, cost=1e-300, latency_ms=None, ttft_ms=2.5e-7))
    await store.record(rows)
    assert (await store.logs(limit=10)).rows == tuple(reversed(rows))


async def test_a_batch_of_many_rows_is_written_whole_and_in_order(store):
    # SQLite cuts a batch into INSERTs of every size of ROWS_PER_INSERT (250 + 50 + 10 + 3 x 1).
    rows = [LedgerRow(at=DAY0 + index, request_id=f"req-{index:04d}", tokens_in=index) for index in range(313)]
    await store.record(rows)
    page = await store.logs(limit=400)
    assert page.rows == tuple(reversed(rows))
    [day] = await usage(store, Granularity.DAY)
    assert (day.requests, day.tokens_in) == (313, sum(range(313)))


async def test_a_large_batch_is_prepared_a_chunk_at_a_time(store, monkeypatch):
    # A batch's values and rollups are prepared PREPARE_CHUNK rows at a time, back to the event
    # loop between chunks, so requests do not wait for a whole batch's preparation.
    seen: list = []
    group = store_module._group

    def spy(rows, groups):
        seen.append(len(rows))
        group(rows, groups)

    monkeypatch.setattr(store_module, "_group", spy)

    async def ticker():
        while True:
            seen.append("tick")
            await asyncio.sleep(0)

    chunk = store_module.PREPARE_CHUNK
    rows = [LedgerRow(at=DAY0 + index, request_id=f"req-{index:04d}", tokens_in=1) for index in range(2 * chunk + 7)]
    task = asyncio.create_task(ticker())
    try:
        await asyncio.sleep(0)
        await store.record(rows)
    finally:
        task.cancel()
    chunks = [index for index, item in enumerate(seen) if item != "tick"]
    assert [seen[index] for index in chunks] == [chunk, chunk, 7]
    assert all("tick" in seen[a + 1:b] for a, b in zip(chunks, chunks[1:], strict=False))
    assert (await store.logs(limit=len(rows) + 1)).rows == tuple(reversed(rows))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a nice value per thread is Linux's")
async def test_the_sqlite_ledger_thread_is_nicer_than_the_process(sqlite_url):
    # Its batches take milliseconds of CPU: at the process's priority they would hold a shared
    # core for a whole time slice while requests wait.
    store = SqlStore(sqlite_url)
    await store.open()
    try:
        await store.record([LedgerRow(at=DAY0, request_id="req-1")])
        ledger = store._sqlite_ledger
        thread_nice = await asyncio.get_running_loop().run_in_executor(
            ledger._executor, os.getpriority, os.PRIO_PROCESS, 0)  # on Linux: the calling thread's
        assert thread_nice == min(19, os.getpriority(os.PRIO_PROCESS, 0) + sqlite_ledger.THREAD_NICE)
    finally:
        await store.aclose()


async def test_logs_keep_what_no_database_could_take(store):
    odd = LedgerRow(at=DAY0, request_id="r\x00", alias="gpt\x00" + "x" * 1000, cost=math.nan,
                    latency_ms=math.inf, tokens_in=-5, tokens_out=2**70)
    await store.record([odd])
    [stored] = (await store.logs()).rows
    assert stored.request_id == "r"
    assert stored.alias == ("gpt" + "x" * 1000)[:256]
    assert (stored.cost, stored.latency_ms, stored.tokens_in, stored.tokens_out) == (0.0, None, 0, 2**53)


def raw_cursor(at: float, row_id: int) -> str:
    return base64.urlsafe_b64encode(struct.pack(">dq", at, row_id)).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "abc", "!" * 22, "A" * 21 + "!", raw_cursor(DAY0, 1) + "==", raw_cursor(DAY0, 1) + "A",
    raw_cursor(math.nan, 1), raw_cursor(math.inf, 1), raw_cursor(DAY0, -1),
    raw_cursor(DAY0, 1)[:-1] + "B",  # non-canonical trailing bits
])
async def test_a_malformed_cursor_is_a_value_error(store, cursor):
    with pytest.raises(ValueError, match="malformed cursor"):
        await store.logs(cursor=cursor)


@pytest.mark.parametrize("bad", [{"limit": 0}, {"limit": 1001}, {"limit": "5"}, {"status": 99},
                                 {"status": "500"}, {"start": math.nan}, {"end": "yesterday"}])
async def test_bad_log_queries_are_value_errors(store, bad):
    with pytest.raises(ValueError):
        await store.logs(**bad)


# -- retention --------------------------------------------------------------------------------------------


async def test_purge_deletes_old_ledger_rows_and_rollups(store, monkeypatch):
    monkeypatch.setattr(store_module, "PURGE_CHUNK", 3)  # several delete transactions
    old = [LedgerRow(at=DAY0 - 2 * DAY + index, request_id=f"old{index}", cost=1.0) for index in range(7)]
    mid = [LedgerRow(at=DAY0 - DAY + index, request_id=f"mid{index}", cost=1.0) for index in range(2)]
    new = [LedgerRow(at=DAY0 + index, request_id=f"new{index}", cost=1.0) for index in range(2)]
    await store.record(old + mid + new)

    deleted = await store.purge(ledger_before=DAY0 - DAY, rollups_before=DAY0)
    assert deleted == 7
    assert [row.request_id for row in (await store.logs()).rows] == ["new1", "new0", "mid1", "mid0"]
    # The daily totals stay (total budgets are seeded from them); the hourly ones go.
    assert await usage(store, Granularity.DAY, start=0.0, end=DAY0 + DAY) == [
        point(DAY0 - 2 * DAY, None, 7, cost=7.0), point(DAY0 - DAY, None, 2, cost=2.0), point(DAY0, None, 2, cost=2.0)]
    assert await usage(store, Granularity.HOUR, start=0.0, end=DAY0 + DAY) == [point(DAY0, None, 2, cost=2.0)]
    assert await store.purge(ledger_before=DAY0 - DAY, rollups_before=DAY0) == 0


# -- failures ---------------------------------------------------------------------------------------------


def assert_secret_free(error: BaseException, *secrets: str) -> None:
    shown = "".join(traceback.format_exception(error)) + repr(error)
    for secret in secrets:
        assert secret not in shown


async def test_an_unreachable_postgres_is_unavailable_and_the_password_stays_secret():
    port = closed_port()
    password = "Hunter2-very-secret"
    store = SqlStore(f"postgresql+asyncpg://gateway:{password}@127.0.0.1:{port}/ledger", migrate=True)
    try:
        with pytest.raises(StoreUnavailable, match="unreachable") as caught:
            await store.open()
        assert_secret_free(caught.value, password, f"gateway:{password}", str(port))
        with pytest.raises(StoreUnavailable):
            await store.record([LedgerRow(at=DAY0, request_id="r")])
    finally:
        await store.aclose()


async def test_a_wrong_password_is_unavailable_without_either_password(postgres_server, postgres_url):
    wrong = "Wrong-Password-123"
    store = SqlStore(postgres_url.replace(postgres_server.password, wrong))
    try:
        with pytest.raises(StoreUnavailable, match="refused the login") as caught:
            await store.open()
        assert_secret_free(caught.value, wrong, postgres_server.password)
    finally:
        await store.aclose()


async def test_a_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path):
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'store.db'}")
    try:
        with pytest.raises(StoreUnavailable, match="unable to open"):
            await store.open()
    finally:
        await store.aclose()
        # aiosqlite stops the worker thread of a failed connection without waiting for it; it
        # must be gone before the test's loop closes, or it reports to a closed loop.
        for thread in threading.enumerate():
            if "_connection_worker_thread" in thread.name:
                await asyncio.to_thread(thread.join, 10)


async def test_a_statement_stuck_behind_a_lock_gives_up_in_bounded_time(postgres_url):
    """The command timeout bounds every statement: a table locked by someone else makes the
    store unavailable, not stuck."""
    store = SqlStore(postgres_url, limits=EngineLimits(statement_timeout=0.3))
    await store.open()
    holder = create_engine(parse_url(postgres_url), EngineLimits())
    try:
        async with holder.begin() as conn:
            await conn.execute(text("LOCK TABLE sg_state IN ACCESS EXCLUSIVE MODE"))
            async with asyncio.timeout(30):  # a bound for the test, not a timing assertion
                with pytest.raises(StoreUnavailable, match="in time"):
                    await store.version()
        assert await store.version() == 0  # the lock gone, the same store answers
    finally:
        await holder.dispose()
        await store.aclose()


async def test_a_sqlite_writer_waits_for_the_lock_then_gives_up(sqlite_url, tmp_path):
    store = SqlStore(sqlite_url, limits=EngineLimits(busy_timeout=0.3))
    await store.open()
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process writing
        async with asyncio.timeout(30):
            with pytest.raises(StoreUnavailable, match="locked"):
                await store.put_team(a_team())
        assert await store.version() == 0  # WAL: reading never waited
        other.execute("ROLLBACK")
        await store.put_team(a_team())
        assert await store.version() == 1
    finally:
        other.close()
        await store.aclose()


async def test_a_sqlite_ledger_batch_waits_for_the_lock_then_gives_up(sqlite_url, tmp_path):
    # The ledger's batches go through a thread of their own (sql.sqlite_ledger), bound by the same
    # busy timeout as the engine's writers.
    store = SqlStore(sqlite_url, limits=EngineLimits(busy_timeout=0.3))
    await store.open()
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    rows = [LedgerRow(at=DAY0, request_id="req-1", tokens_in=5)]
    try:
        other.execute("BEGIN IMMEDIATE")  # another process writing
        async with asyncio.timeout(30):
            with pytest.raises(StoreUnavailable, match="locked"):
                await store.record(rows)
        other.execute("ROLLBACK")
        await store.record(rows)
        assert (await store.logs(limit=5)).rows == tuple(rows)
    finally:
        other.close()
        await store.aclose()


async def test_a_sqlite_ledger_batch_is_one_transaction(sqlite_url, tmp_path):
    # Rows and what they add to the rollups are written together or not at all: a rollup table
    # that went missing leaves no ledger row behind (the writer keeps the batch for later).
    store = SqlStore(sqlite_url)
    await store.open()
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    try:
        other.execute("DROP TABLE sg_series_daily")
        with pytest.raises(StoreUnavailable, match="db upgrade"):
            await store.record([LedgerRow(at=DAY0 + index, request_id=f"req-{index}") for index in range(300)])
        assert other.execute("SELECT count(*) FROM sg_ledger").fetchone() == (0,)
        assert other.execute("SELECT count(*) FROM sg_usage_hourly").fetchone() == (0,)
    finally:
        other.close()
        await store.aclose()


async def test_a_postgres_outage_is_unavailable_then_over():
    with PostgresServer() as server:
        store = SqlStore(server.create_database("outage"))
        try:
            await store.open()
            await store.put_team(a_team())
            server.stop()
            with pytest.raises(StoreUnavailable):
                await store.version()
            with pytest.raises(StoreUnavailable):
                await store.record([LedgerRow(at=DAY0, request_id="r")])
            server.start()
            assert await store.version() == 1  # the pool reconnects by itself
            await store.record([LedgerRow(at=DAY0, request_id="r")])
            assert len((await store.logs()).rows) == 1
        finally:
            await store.aclose()


@pytest.mark.parametrize("url", [
    "", "not a url", "mysql://user:Pa55word@db/ledger", "postgresql+psycopg2://user:Pa55word@db/ledger",
    "sqlite+pysqlite:///x.db",
])
def test_a_bad_url_is_a_value_error_that_hides_it(url):
    with pytest.raises(ValueError) as caught:
        SqlStore(url)
    assert "Pa55word" not in str(caught.value)


def test_urls_without_a_driver_get_the_async_one(tmp_path):
    assert SqlStore(f"sqlite:///{tmp_path}/x.db").dialect == "sqlite"
    assert SqlStore("postgresql://u:p@localhost/db").dialect == "postgresql"


async def test_a_sqlite_store_journals_ahead_and_waits_for_locks(sqlite_url, tmp_path):
    store = SqlStore(sqlite_url)
    await store.open()
    try:
        async with store._reading() as conn:
            settings = [(await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                        for name in ("journal_mode", "busy_timeout", "foreign_keys")]
    finally:
        await store.aclose()
    assert settings == ["wal", 10_000, 1]
    with sqlite3.connect(tmp_path / "store.db") as other:  # the mode lives in the file
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_the_store_must_be_opened_first(sqlite_url):
    with pytest.raises(RuntimeError, match="open"):
        await SqlStore(sqlite_url).version()
