"""Redis stopped or frozen mid-run: every call still answers within a bounded time, from local state,
one warning per cooldown, and Redis is used again once it is back and the cooldown is over."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from sluicegate_redis.cache import make_cache
from sluicegate_redis.limiter import make_limiter
from sluicegate_redis.link import COOLDOWN, DEFAULT_TIMEOUT

SLOW = 1 / 3600
# Seconds any call may take with Redis away: the link's timeout is 0.25 s, and a call that takes
# seconds means it no longer applies. The margin is for a loaded machine (a full local run once
# took 1.3 s here with 1.0 as the bound).
BOUND = 2.0


async def timed(awaitable):
    started = time.monotonic()
    result = await awaitable
    elapsed = time.monotonic() - started
    assert elapsed < BOUND, f"took {elapsed:.3f} s"
    return result


def warnings_in(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.fixture
async def cache(options, services):
    backend = make_cache(options=options, services=services)
    yield backend
    await backend.aclose()


@pytest.fixture
async def limiter(options, services):
    backend = make_limiter(options=options, services=services)
    yield backend
    await backend.aclose()


async def test_cache_misses_while_redis_is_down_and_recovers(cache, redis_server, clock, caplog):
    caplog.set_level(logging.INFO, logger="sluicegate.test-redis")
    await cache.set("sg:cache:k", b"before", 60)
    assert await cache.get("sg:cache:k") == b"before"

    redis_server.stop()
    assert await timed(cache.get("sg:cache:k")) is None
    await timed(cache.set("sg:cache:k", b"during", 60))
    for _ in range(20):  # cooling down: no connection attempt, no further warning
        assert await timed(cache.get("sg:cache:k")) is None
    warned = warnings_in(caplog)
    assert len(warned) == 1, warned
    assert f"127.0.0.1:{redis_server.port} unavailable" in warned[0]
    assert "the response cache answers from local state for 5 s" in warned[0]

    redis_server.start()  # empty: the server keeps nothing on disk
    assert await cache.get("sg:cache:k") is None  # still cooling down: not even asked
    clock.advance(COOLDOWN)
    await cache.set("sg:cache:k", b"after", 60)
    assert await cache.get("sg:cache:k") == b"after"
    assert len(warnings_in(caplog)) == 1
    assert any("is back" in r.getMessage() for r in caplog.records)


async def warm_up(limiter, raw, clock) -> None:
    """Connect and load the limiter's script before the test's own calls: on a loaded machine the
    first call may pass the link's 0.25 s timeout and be answered locally (then the link cools
    down, which the clock skips)."""
    for _ in range(10):
        await limiter.acquire("warm-up", 1, SLOW, 100)
        if await raw.exists("sg:rl:{warm-up}"):
            return
        clock.advance(COOLDOWN)
    raise AssertionError("the limiter never reached Redis")


async def test_limiter_falls_back_to_local_limits_and_recovers(limiter, redis_server, raw, clock, caplog):
    await warm_up(limiter, raw, clock)
    assert (await limiter.acquire("k", 1, SLOW, 2)).allowed
    assert await raw.exists("sg:rl:{k}") == 1  # held by Redis, not locally
    redis_server.stop()
    # Local state is empty: the burst is available again, and it holds locally.
    first = await timed(limiter.acquire("k", 1, SLOW, 2))
    assert first.allowed and first.remaining == 1.0 and first.reset_after == 3600.0
    assert (await timed(limiter.acquire("k", 1, SLOW, 2))).allowed
    denied = await timed(limiter.acquire("k", 1, SLOW, 2))
    assert not denied.allowed and denied.retry_after == 3600.0
    assert len(warnings_in(caplog)) == 1

    redis_server.start()
    clock.advance(COOLDOWN)
    shared = await limiter.acquire("k", 1, SLOW, 2)
    assert shared.allowed and shared.reset_after == pytest.approx(3600, abs=1)
    assert await raw.exists("sg:rl:{k}") == 1


async def test_slots_taken_locally_are_given_back_locally(limiter, redis_server, clock):
    redis_server.stop()
    assert await timed(limiter.enter("slot", 1, 60))
    assert not await timed(limiter.enter("slot", 1, 60))
    redis_server.start()
    clock.advance(COOLDOWN)
    await limiter.leave("slot")  # goes to local state, where the slot was taken
    assert await limiter.enter("slot", 1, 60)  # and this one to Redis
    redis_server.stop()
    clock.advance(COOLDOWN)
    assert await timed(limiter.enter("slot", 1, 60))  # the local slot was freed


async def test_a_frozen_redis_costs_one_timeout_then_nothing(limiter, cache, redis_server, raw, clock, caplog):
    assert (await limiter.acquire("slow", 1, SLOW, 5)).allowed
    assert await cache.get("sg:cache:x") is None  # both links connected before the freeze
    redis_server.pause()
    try:
        started = time.monotonic()
        # Four calls under way when Redis froze: each waits its timeout, one warning in all.
        decisions = await timed(asyncio.gather(*(limiter.acquire(f"slow{n}", 1, SLOW, 5) for n in range(4))))
        assert all(decision.allowed for decision in decisions)
        assert time.monotonic() - started >= DEFAULT_TIMEOUT * 0.9  # it did wait, boundedly
        assert len(warnings_in(caplog)) == 1
        assert await timed(cache.get("sg:cache:x")) is None
        # Cooling down: answers are immediate.
        started = time.monotonic()
        for _ in range(10):
            await limiter.acquire("slow", 1, SLOW, 5)
        assert time.monotonic() - started < DEFAULT_TIMEOUT

        # After the cooldown one call probes the still-frozen server; the others stay local.
        clock.advance(COOLDOWN)

        async def one() -> float:
            began = time.monotonic()
            await limiter.acquire("slow", 0, SLOW, 5)
            return time.monotonic() - began

        waits = sorted(await asyncio.gather(*(one() for _ in range(8))))
        assert waits[-1] >= DEFAULT_TIMEOUT * 0.9 and waits[-1] < BOUND
        assert all(wait < DEFAULT_TIMEOUT * 0.5 for wait in waits[:-1]), waits
        limiter_warnings = [w for w in warnings_in(caplog) if "rate limiter" in w]
        assert len(limiter_warnings) == 2  # the failed probe starts a new cooldown, warned once
    finally:
        redis_server.resume()
    clock.advance(COOLDOWN)
    # Redis state is back in use: the spend from before the freeze is still there.
    assert (await limiter.acquire("slow", 1, SLOW, 5)).reset_after == pytest.approx(2 * 3600, abs=1)
    # The call that timed out on the already-open connection sat in the socket and ran when the
    # server woke (the others were still connecting): a timeout means "no answer", not "not
    # applied", and that spend was also counted locally meanwhile.
    ttls = [await raw.pttl(f"sg:rl:{{slow{n}}}") for n in range(4)]
    assert sum(ttl == pytest.approx(3_600_000, abs=2000) for ttl in ttls) == 1, ttls


async def test_redis_never_there_at_start(services, feature_options):
    from sluicegate.secrets import Secret

    options = feature_options(url=Secret("redis://127.0.0.1:9/0"))  # discard port: refused
    limiter = make_limiter(options=options, services=services)
    cache = make_cache(options=options, services=services)
    try:
        assert (await timed(limiter.acquire("k", 1, 1, 1))).allowed
        assert not (await timed(limiter.acquire("k", 1, 1, 1))).allowed
        assert await timed(cache.get("sg:cache:k")) is None
    finally:
        await limiter.aclose()
        await cache.aclose()
