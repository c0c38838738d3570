"""In-flight slots in Redis are leases: seconds long, renewed while held, and never lost to a
release Redis missed (sent again once Redis is back, and with the key's next enter)."""

from __future__ import annotations

import asyncio

import pytest

from sluicegate_redis.limiter import LEASE, make_limiter
from sluicegate_redis.link import COOLDOWN, STALLED_AFTER

SLOTS = "sg:rl:{busy}:inflight"
LEASE_MS = LEASE * 1000


@pytest.fixture
async def limiter(options, services):
    backend = make_limiter(options=options, services=services)
    try:
        yield backend
    finally:
        await backend.aclose()


async def redis_ms(raw) -> int:
    seconds, micros = await raw.time()
    return seconds * 1000 + micros // 1000


async def scores(raw) -> list[float]:
    return [score for _, score in await raw.zrange(SLOTS, 0, -1, withscores=True)]


async def test_a_slot_is_a_lease_of_seconds_not_the_whole_ttl(limiter, raw):
    before = await redis_ms(raw)
    assert await limiter.enter("busy", 2, 600)
    after = await redis_ms(raw)
    (score,) = await scores(raw)
    assert before + LEASE_MS <= score <= after + LEASE_MS
    assert 0 < await raw.pttl(SLOTS) <= LEASE_MS


async def test_the_keeper_renews_held_slots_until_the_ttl_is_spent(limiter, raw, clock):
    assert await limiter.enter("busy", 2, 30)
    (member,) = await raw.zrange(SLOTS, 0, -1)
    await raw.zadd(SLOTS, {member: await redis_ms(raw) + 500}, xx=True)  # a lease about to end
    before = await redis_ms(raw)
    assert await limiter.keep()
    (score,) = await scores(raw)
    assert before + LEASE_MS <= score <= await redis_ms(raw) + LEASE_MS

    # 5 s of the 30 s ttl left: renewed for those 5 s only.
    clock.advance(25)
    before = await redis_ms(raw)
    assert await limiter.keep()
    (score,) = await scores(raw)
    assert before + 5000 <= score <= await redis_ms(raw) + 5000

    # The ttl is spent: a slot never given back (a bug) is no longer renewed, its lease ends.
    clock.advance(5)
    await raw.zadd(SLOTS, {member: await redis_ms(raw) + 500}, xx=True)
    assert await limiter.keep()
    (score,) = await scores(raw)
    assert score <= await redis_ms(raw) + 500


async def test_a_renewal_never_brings_back_a_slot_that_is_gone(limiter, raw):
    assert await limiter.enter("busy", 2, 600)
    assert await limiter.enter("busy", 2, 600)
    first, _ = await raw.zrange(SLOTS, 0, -1)
    await raw.zrem(SLOTS, first)  # as if its lease had run out and another process pruned it
    assert await limiter.keep()
    assert await raw.zcard(SLOTS) == 1


async def stall(limiter, redis_server) -> None:
    """Freeze Redis until enough calls timed out to cool the limiter's link down."""
    redis_server.pause()
    await asyncio.gather(*(limiter.acquire(f"stall{n}", 1, 1, 1) for n in range(STALLED_AFTER)))


async def test_releases_missed_while_cooling_down_are_sent_when_redis_is_back(limiter, redis_server, raw, clock):
    assert await limiter.enter("busy", 2, 600)
    assert await limiter.enter("busy", 2, 600)
    try:
        await stall(limiter, redis_server)
        await limiter.leave("busy")  # not sent: the link is cooling down
        await limiter.leave("busy")
    finally:
        redis_server.resume()
    assert await raw.zcard(SLOTS) == 2
    assert not await limiter.keep()  # still cooling down: owed, not sent
    assert await raw.zcard(SLOTS) == 2
    clock.advance(COOLDOWN)
    assert await limiter.keep()
    assert await raw.zcard(SLOTS) == 0


async def test_the_next_enter_gives_back_what_was_owed_first(limiter, redis_server, raw, clock):
    assert await limiter.enter("busy", 2, 600)
    assert await limiter.enter("busy", 2, 600)
    try:
        await stall(limiter, redis_server)
        await limiter.leave("busy")
        await limiter.leave("busy")
    finally:
        redis_server.resume()
    clock.advance(COOLDOWN)
    # Two slots still in Redis, both owed: the enter frees them and takes one, atomically.
    assert await limiter.enter("busy", 2, 600)
    assert await limiter.enter("busy", 2, 600)
    assert await raw.zcard(SLOTS) == 2
    assert not await limiter.enter("busy", 2, 600)


async def test_aclose_sends_what_is_owed(options, services, redis_server, raw, clock):
    limiter = make_limiter(options=options, services=services)
    assert await limiter.enter("busy", 2, 600)
    try:
        await stall(limiter, redis_server)
        await limiter.leave("busy")
    finally:
        redis_server.resume()
    clock.advance(COOLDOWN)
    await limiter.aclose()
    assert await raw.zcard(SLOTS) == 0
