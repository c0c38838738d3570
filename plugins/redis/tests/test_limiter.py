"""RedisLimiter against a real redis-server: exact GCRA decisions, refunds, atomicity, in-flight slots."""

from __future__ import annotations

import asyncio

import pytest
from pytest import approx

from sluicegate.secrets import Secret
from sluicegate_redis.limiter import make_limiter
from sluicegate_redis.local import LocalLimiter

# One unit per 12 minutes: the real time a test takes moves a bucket by far less than DRIFT.
SLOW = 5 / 3600
DRIFT = 0.01


@pytest.fixture
def options(redis_server, feature_options):
    # Every answer here must come from Redis: on a loaded machine sixty racing first calls can
    # outlast the link's 0.25 s default, and the local fallback would then allow its own burst.
    return feature_options(url=Secret(redis_server.url), redis_timeout=10.0)


@pytest.fixture
async def limiter(options, services):
    backend = make_limiter(options=options, services=services)
    try:
        yield backend
    finally:
        await backend.aclose()


@pytest.fixture
async def other_process(options, services):
    """A second limiter with its own connections and slot ids, as another gateway process has."""
    backend = make_limiter(options=options, services=services)
    try:
        yield backend
    finally:
        await backend.aclose()


async def test_burst_then_denied_with_exact_retry_and_reset(limiter, raw):
    for spent in range(1, 6):
        decision = await limiter.acquire("t-1", 1, SLOW, 5)
        assert decision.allowed and decision.limit == 5.0 and decision.retry_after == 0.0
        assert decision.remaining == approx(5 - spent, abs=DRIFT)
        assert decision.reset_after == approx(720 * spent, abs=1)
    denied = await limiter.acquire("t-1", 1, SLOW, 5)
    assert not denied.allowed
    assert denied.remaining == approx(0, abs=DRIFT)
    assert denied.retry_after == approx(720, abs=1)
    assert denied.reset_after == approx(3600, abs=1)
    # A denial spends nothing: the bucket still empties in an hour.
    assert (await limiter.acquire("t-1", 1, SLOW, 5)).retry_after == approx(720, abs=1)
    # The key lives exactly until the bucket is full again.
    assert await raw.pttl("sg:rl:{t-1}") == approx(3_600_000, abs=1000)


async def test_retry_after_is_the_real_wait(limiter):
    assert (await limiter.acquire("fast", 1, 20, 1)).allowed
    denied = await limiter.acquire("fast", 1, 20, 1)
    assert not denied.allowed and 0 < denied.retry_after <= 0.05
    # Redis's TIME and our monotonic clock may disagree by a hair; 3 ms of margin.
    await asyncio.sleep(denied.retry_after + 0.003)
    assert (await limiter.acquire("fast", 1, 20, 1)).allowed
    assert not (await limiter.acquire("fast", 1, 20, 1)).allowed


async def test_refund_gives_back_but_never_beyond_a_full_bucket(limiter, raw):
    full = await limiter.acquire("r", -3, SLOW, 5)
    assert full.allowed and full.remaining == 5.0 and full.reset_after == 0.0
    assert await raw.exists("sg:rl:{r}") == 0  # a full bucket keeps no key
    for _ in range(5):
        assert (await limiter.acquire("r", 1, SLOW, 5)).allowed
    assert not (await limiter.acquire("r", 1, SLOW, 5)).allowed
    back = await limiter.acquire("r", -2, SLOW, 5)
    assert back.allowed and back.remaining == approx(2, abs=DRIFT)
    assert (await limiter.acquire("r", 1, SLOW, 5)).allowed
    assert (await limiter.acquire("r", 1, SLOW, 5)).allowed
    assert not (await limiter.acquire("r", 1, SLOW, 5)).allowed
    # Giving back more than was spent fills the bucket and no further.
    assert (await limiter.acquire("r", -100, SLOW, 5)).remaining == 5.0


async def test_fractional_costs_for_token_budgets(limiter):
    assert (await limiter.acquire("tok", 2.5, SLOW, 5)).remaining == approx(2.5, abs=DRIFT)
    assert (await limiter.acquire("tok", 2.5, SLOW, 5)).remaining == approx(0, abs=DRIFT)
    denied = await limiter.acquire("tok", 0.5, SLOW, 5)
    assert not denied.allowed and denied.retry_after == approx(0.5 / SLOW, abs=1)


async def test_a_cost_above_the_burst_is_never_allowed(limiter):
    denied = await limiter.acquire("big", 6, SLOW, 5)
    assert not denied.allowed and denied.remaining == 5.0
    assert denied.retry_after == approx(720, abs=1e-3)


async def test_redis_and_local_state_decide_alike(limiter, clock):
    """The fallback's arithmetic is the script's: same sequence, same answers (local time frozen)."""
    local = LocalLimiter(clock)
    for cost in (1, 2, 1.5, -1, 3, 1, -10, 4, 2):
        shared = await limiter.acquire("same", cost, SLOW, 5)
        alone = local.acquire("same", cost, SLOW, 5)
        assert shared.allowed == alone.allowed, cost
        assert shared.remaining == approx(alone.remaining, abs=DRIFT)
        assert shared.retry_after == approx(alone.retry_after, abs=1)
        assert shared.reset_after == approx(alone.reset_after, abs=1)


async def test_processes_racing_spend_exactly_the_burst(limiter, other_process):
    calls = [process.acquire("race", 1, SLOW, 10) for _ in range(30) for process in (limiter, other_process)]
    decisions = await asyncio.gather(*calls)
    assert sum(decision.allowed for decision in decisions) == 10


async def test_keys_are_independent(limiter):
    assert (await limiter.acquire("a", 1, SLOW, 1)).allowed
    assert not (await limiter.acquire("a", 1, SLOW, 1)).allowed
    assert (await limiter.acquire("b", 1, SLOW, 1)).allowed


async def test_rate_and_burst_must_be_positive(limiter):
    with pytest.raises(ValueError):
        await limiter.acquire("k", 1, 0, 5)


async def test_enter_and_leave_share_slots_across_processes(limiter, other_process, raw):
    assert await limiter.enter("inflight", 2, 60)
    assert await other_process.enter("inflight", 2, 60)
    assert not await limiter.enter("inflight", 2, 60)
    assert not await other_process.enter("inflight", 2, 60)
    assert await raw.type("sg:rl:{inflight}:inflight") == b"zset"
    assert await raw.zcard("sg:rl:{inflight}:inflight") == 2
    await other_process.leave("inflight")
    assert await limiter.enter("inflight", 2, 60)
    await limiter.leave("inflight")
    await limiter.leave("inflight")
    assert await raw.zcard("sg:rl:{inflight}:inflight") == 0
    # Leaving what was never entered gives back nothing of anyone else's.
    assert await other_process.enter("inflight", 1, 60)
    await limiter.leave("inflight")
    assert not await limiter.enter("inflight", 1, 60)


async def test_slots_of_a_process_that_died_expire(options, services, limiter, raw):
    crashed = make_limiter(options=options, services=services)
    assert await crashed.enter("ttl", 2, 0.2)
    assert await crashed.enter("ttl", 2, 0.2)
    await crashed.aclose()  # gone without leave()
    assert not await limiter.enter("ttl", 2, 0.2)
    assert 0 < await raw.pttl("sg:rl:{ttl}:inflight") <= 200
    await asyncio.sleep(0.25)
    assert await limiter.enter("ttl", 2, 0.2)
    assert await limiter.enter("ttl", 2, 0.2)
    assert not await limiter.enter("ttl", 2, 0.2)


async def test_expired_slots_leave_a_set_that_lives_on(options, services, limiter):
    crashed = make_limiter(options=options, services=services)
    assert await crashed.enter("mixed", 2, 0.2)
    await crashed.aclose()
    assert await limiter.enter("mixed", 2, 60)  # keeps the set alive (a lease of seconds)
    assert not await limiter.enter("mixed", 2, 60)
    await asyncio.sleep(0.25)
    assert await limiter.enter("mixed", 2, 60)  # the dead process's slot was dropped

