"""RedisCounters on a real Redis: instances sharing one budget never over-admit, a crashed
instance's reservations expire, counters carry one hash tag and expire after their period;
and Redis away (stopped, frozen, answers lost): requests are still answered and budgets still
enforced from memory, nothing raises, and what was settled meanwhile reaches Redis once."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from redis.exceptions import TimeoutError as RedisTimeoutError

from sluicegate.errors import ConfigError
from sluicegate_governance import redis_counters
from sluicegate_governance.protocols import Claim
from sluicegate_governance.redis_counters import COOLDOWN, GRACE, WARN_EVERY, RedisCounters

NOON = datetime(2024, 3, 10, 12, tzinfo=UTC).timestamp()
DAY_START = datetime(2024, 3, 10, tzinfo=UTC).timestamp()
DAY_END = DAY_START + 86400
TTL = 60.0
KEY = Claim("key:key_0000000000000001", DAY_START, DAY_END, 10.0)
TEAM = Claim("team:team_0000000000000001", 0.0, None, 100.0)
PREFIX = "sg:gov:{budget}:"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class LosesReplies(aioredis.Redis):
    """A client whose next script call whose first key contains ``lose`` runs in Redis, but
    whose answer never arrives."""

    lose: str | None = None

    async def evalsha(self, sha, numkeys, *keys_and_args):  # the call every registered script makes
        reply = await super().evalsha(sha, numkeys, *keys_and_args)
        if self.lose is not None and numkeys and self.lose in keys_and_args[0]:
            self.lose = None
            raise RedisTimeoutError("the answer was lost")
        return reply


@pytest.fixture
def mono() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(NOON)


@pytest.fixture
async def make(redis_server, mono, wall):
    """``make(**kwargs)``: a RedisCounters with its own client on the test's server."""
    made: list[RedisCounters] = []

    def build(url: str | None = None, **kwargs) -> RedisCounters:
        kwargs.setdefault("timeout", 5.0)
        counters = RedisCounters.from_url(url or redis_server.url, clock=mono, wall_clock=wall,
                                          log=logging.getLogger("sluicegate.test-budgets"), **kwargs)
        made.append(counters)
        return counters

    yield build
    for counters in made:
        await counters.aclose()


@pytest.fixture
async def raw(redis_server):
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


def spent_key(claim: Claim) -> str:
    return f"{PREFIX}{claim.name}:{claim.period_start:.17g}"


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def spent_in_redis(raw, claim: Claim) -> float:
    return float(await raw.hget(spent_key(claim), "spent") or 0)


# -- shared by instances ----------------------------------------------------------------------------


async def test_two_instances_sharing_a_budget_never_over_admit(make):
    first, second = make(), make()
    assert first.client is not second.client
    claims = [Claim(KEY.name, KEY.period_start, KEY.period_end, 1.0), TEAM]
    calls = [(first if n % 2 else second).reserve(claims, 0.1, ttl=TTL) for n in range(100)]
    admissions = await asyncio.gather(*calls)
    assert sum(a.admitted for a in admissions) == 10
    assert first.shared and second.shared
    # One instance's settlement is the other's to see.
    ticket = next(a.ticket for a in admissions if a.admitted)
    await first.settle(claims, ticket, 0.05)
    assert await second.state(claims[0]) == (pytest.approx(0.05), pytest.approx(0.9))
    assert (await second.reserve(claims, 0.05, ttl=TTL)).admitted
    assert not (await second.reserve(claims, 0.01, ttl=TTL)).admitted


async def test_a_crashed_instances_reservations_expire_after_their_ttl(make, wall, raw):
    crashed, survivor = make(), make()
    assert (await crashed.reserve([KEY], 10.0, ttl=TTL)).admitted
    await crashed.client.aclose(close_connection_pool=True)  # gone without a word
    assert not (await survivor.reserve([KEY], 1.0, ttl=TTL)).admitted
    # The in-flight set lives no longer than its last reservation: Redis forgets it by itself.
    assert 0 < await raw.pttl(spent_key(KEY) + ":inflight") <= TTL * 1000
    wall.now += TTL
    assert (await survivor.reserve([KEY], 10.0, ttl=TTL)).admitted


async def test_counters_share_one_hash_tag_and_leave_after_their_period(make, wall, raw):
    counters = make()
    admission = await counters.reserve([KEY, TEAM], 1.0, ttl=TTL)
    await counters.settle([KEY, TEAM], admission.ticket, 1.0)
    keys = sorted(await raw.keys("*"))
    assert keys == sorted([spent_key(KEY), spent_key(TEAM)])
    assert all(k.startswith("sg:gov:{budget}:") for k in keys)
    expected = (DAY_END + GRACE - wall()) * 1000
    assert expected - 5000 < await raw.pttl(spent_key(KEY)) <= expected
    assert await raw.pttl(spent_key(TEAM)) == -1  # a total budget is never forgotten


async def test_a_prefix_without_a_hash_tag_or_a_bad_url_is_refused(make, redis_server):
    with pytest.raises(ValueError, match="hash tag"):
        make(prefix="sg:gov:")
    with pytest.raises(ConfigError) as bad:
        make("http://user:hunter2@example.com/0")
    assert "store.redis_url" in str(bad.value) and "hunter2" not in str(bad.value)


async def test_on_a_redis_cluster_a_key_and_its_team_are_checked_in_one_script(redis_cluster, mono, wall):
    counters = RedisCounters.from_url(redis_cluster.url, clock=mono, wall_clock=wall, timeout=5.0)
    try:
        claims = [KEY, Claim(TEAM.name, 0.0, None, 1.5)]
        assert (await counters.reserve(claims, 1.0, ttl=TTL)).admitted
        refused = await counters.reserve(claims, 1.0, ttl=TTL)
        assert not refused.admitted and refused.refused_by == claims[1]
        assert counters.shared  # Redis answered: no cross-slot error sent it to memory
    finally:
        await counters.aclose()


# -- Redis away ------------------------------------------------------------------------------------


async def test_redis_stopped_mid_run_enforces_locally_then_gets_what_is_owed(
        make, redis_server, raw, mono, caplog):
    caplog.set_level(logging.INFO, logger="sluicegate.test-budgets")
    counters = make(timeout=1.0)
    await counters.seed([KEY], {KEY.name: 6.0})
    before = await counters.reserve([KEY], 1.0, ttl=TTL)
    assert await counters.state(KEY) == (6.0, 1.0)

    redis_server.stop()
    await counters.settle([KEY], before.ticket, 1.0)  # its answer never comes: owed to Redis
    assert not counters.shared
    # From memory: the last spend seen (6) plus this instance's own (1), against the limit of 10.
    local = [await counters.reserve([KEY], 1.0, ttl=TTL) for _ in range(4)]
    assert [a.admitted for a in local] == [True, True, True, False]
    assert local[3].refused_by == KEY and local[3].spent == 7.0 and local[3].reserved == 3.0
    await counters.settle([KEY], local[0].ticket, 0.5)
    assert await counters.state(KEY) == (7.5, 2.0)
    told = warnings(caplog)
    assert len(told) == 1 and "redis unreachable for budget counters" in told[0]
    assert str(redis_server.port) not in told[0]

    redis_server.start()  # empty: the test server keeps nothing on disk
    mono.now += COOLDOWN
    assert await counters.flush()
    assert counters.shared
    # What was last seen, the settlement whose answer was lost, and the one made meanwhile.
    assert await spent_in_redis(raw, KEY) == 7.5
    assert await counters.state(KEY) == (7.5, 0.0)
    assert any("shared again" in r.getMessage() for r in caplog.records)
    assert len(warnings(caplog)) == 1


async def test_the_background_task_sends_what_is_owed_once_the_cooldown_is_over(make, redis_server, raw, mono):
    counters = make(timeout=1.0, retry=0.02)
    admission = await counters.reserve([KEY, TEAM], 2.0, ttl=TTL)
    redis_server.stop()
    await counters.state(KEY)  # fails: from now on answers come from memory
    await counters.settle([KEY, TEAM], admission.ticket, 1.25)
    redis_server.start()
    for _ in range(10):  # still cooling down on the (fake) clock: Redis is not asked
        await asyncio.sleep(0.02)
    assert not counters.shared and await raw.dbsize() == 0
    mono.now += COOLDOWN
    for _ in range(500):  # at most 10 s for a task that retries every 0.02 s
        if counters.shared:
            break
        await asyncio.sleep(0.02)
    assert counters.shared
    assert await spent_in_redis(raw, KEY) == 1.25
    assert await spent_in_redis(raw, TEAM) == 1.25


async def test_a_settlement_whose_answer_was_lost_counts_once(redis_server, mono, wall, raw):
    counters = RedisCounters(LosesReplies.from_url(redis_server.url), clock=mono, wall_clock=wall, timeout=5.0)
    try:
        admission = await counters.reserve([KEY], 1.0, ttl=TTL)
        counters.client.lose = KEY.name
        await counters.settle([KEY], admission.ticket, 0.4)  # it ran; the answer was lost
        assert not counters.shared and await spent_in_redis(raw, KEY) == 0.4
        mono.now += COOLDOWN
        assert await counters.flush()
        assert await spent_in_redis(raw, KEY) == 0.4  # replayed, and recognised as done
    finally:
        await counters.aclose()


async def test_spend_owed_whose_answer_was_lost_is_added_once(redis_server, mono, wall, raw):
    counters = RedisCounters(LosesReplies.from_url(redis_server.url), clock=mono, wall_clock=wall, timeout=5.0)
    try:
        await counters.seed([KEY], {KEY.name: 2.0})
        admission = await counters.reserve([KEY], 1.0, ttl=TTL)
        redis_server.stop()
        await counters.state(KEY)
        await counters.settle([KEY], admission.ticket, 0.75)  # owed: Redis is away
        redis_server.start()
        await raw.hset(spent_key(KEY), "spent", 2.0)  # as if Redis had kept its data this time
        mono.now += COOLDOWN
        counters.client.lose = ":batch:"  # the owed spend's batch
        assert not await counters.flush()  # the batch was applied, its answer lost
        assert await spent_in_redis(raw, KEY) == 2.75
        mono.now += COOLDOWN
        assert await counters.flush()  # sent again: its marker says it is done
        assert await spent_in_redis(raw, KEY) == 2.75
    finally:
        await counters.aclose()


async def test_a_frozen_redis_costs_one_timeout_and_its_late_reservation_is_cleared(
        make, redis_server, raw, mono):
    counters = make(timeout=0.2)
    redis_server.pause()
    try:
        admission = await counters.reserve([KEY], 4.0, ttl=TTL)  # from memory, after the timeout
        assert admission.admitted and not counters.shared
        assert (await counters.reserve([KEY], 6.0, ttl=TTL)).admitted  # cooling down: not asked
        assert not (await counters.reserve([KEY], 0.5, ttl=TTL)).admitted
    finally:
        redis_server.resume()
    mono.now += COOLDOWN
    assert await counters.flush()
    # The frozen call may have run once Redis woke (the ticket is the same as the local one):
    # settling it clears it wherever it is.
    await counters.settle([KEY], admission.ticket, 3.0)
    assert await counters.state(KEY) == (3.0, 0.0)
    assert await raw.zcard(spent_key(KEY) + ":inflight") == 0


async def test_an_outage_is_warned_about_at_most_once_a_minute_without_secrets(redis_server, mono, wall, caplog):
    # The server wants another password: every call fails, as in an outage.
    assert redis_server.command("CONFIG", "SET", "requirepass", "the-right-one") == b"+OK\r\n"
    counters = RedisCounters.from_url(f"redis://:hunter2@127.0.0.1:{redis_server.port}/0", clock=mono,
                                      wall_clock=wall, timeout=1.0)
    try:
        for _ in range(3):
            assert (await counters.reserve([KEY], 1.0, ttl=TTL)).admitted
            mono.now += COOLDOWN
            assert not await counters.flush()
        assert len(warnings(caplog)) == 1
        mono.now += WARN_EVERY
        assert not await counters.flush()
    finally:
        await counters.aclose()
    told = warnings(caplog)
    assert len(told) == 2
    assert all("hunter2" not in message and "budget counters" in message for message in told)
    assert all(r.name == "sluicegate" for r in caplog.records if r.levelno == logging.WARNING)


async def test_spend_owed_is_bounded_and_says_what_it_drops(make, redis_server, raw, mono, caplog, monkeypatch):
    monkeypatch.setattr(redis_counters, "MAX_OWED", 2)
    counters = make(timeout=1.0)
    redis_server.stop()
    claims = [Claim(f"key:{n}", DAY_START, DAY_END, 10.0) for n in range(3)]
    for claim in claims:
        admission = await counters.reserve([claim], 1.0, ttl=TTL)
        await counters.settle([claim], admission.ticket, 1.0)
    assert any("too many budget counters owed" in message for message in warnings(caplog))
    redis_server.start()
    mono.now += COOLDOWN
    assert await counters.flush()
    assert [await spent_in_redis(raw, claim) for claim in claims] == [1.0, 1.0, 0.0]


async def test_aclose_stops_the_background_task(make, redis_server):
    counters = make(timeout=1.0, retry=0.01)
    redis_server.stop()
    admission = await counters.reserve([KEY], 1.0, ttl=TTL)
    await counters.settle([KEY], admission.ticket, 1.0)

    def flushers():
        return [t for t in asyncio.all_tasks() if t.get_name() == "sluicegate-budget-flush" and not t.done()]

    assert len(flushers()) == 1
    await counters.aclose()
    assert flushers() == []
