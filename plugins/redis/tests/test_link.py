"""RedisLink: cancellation always gets through, whatever redis-py does with it; a stall cools the link
down, one slow call does not."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from sluicegate_redis.link import COOLDOWN, STALLED_AFTER, CoolingDown, RedisLink, Unavailable


async def test_a_cancelled_call_cancels_its_task(redis_server, services):
    link = RedisLink(redis_server.url, clock=services.clock, log=services.log, what="a test")
    rng = random.Random(7)
    completed = 0

    async def loop() -> None:
        nonlocal completed
        while True:
            try:
                await link.call(link.client.pttl, "k")
            except Unavailable:
                # A call a busy machine slowed past the stall bound (it failed once so in a full
                # run): an answer the link may give, not a swallowed cancellation.
                await asyncio.sleep(0)
                continue
            completed += 1

    try:
        for _ in range(200):
            task = asyncio.create_task(loop())
            await asyncio.sleep(rng.random() * 0.004)
            task.cancel()
            # A swallowed cancellation would leave the loop running: wait() times out.
            done, _ = await asyncio.wait({task}, timeout=1)
            assert done and task.cancelled()
        assert completed > 0  # the calls did reach Redis in between
    finally:
        await link.aclose()


async def test_one_slow_call_does_not_cool_the_link_down(redis_server, services, caplog):
    """A single timeout on a healthy Redis: the next call asks Redis again, nobody is sent local."""
    link = RedisLink(redis_server.url, clock=services.clock, log=services.log, what="a test", timeout=0.1)
    try:
        assert await link.call(link.client.set, "k", "v") is True
        redis_server.pause()
        try:
            with pytest.raises(Unavailable) as slow:
                await link.call(link.client.get, "k")
            assert not isinstance(slow.value, CoolingDown)
        finally:
            redis_server.resume()
        assert link.up
        # No clock moved: a cooldown would answer "cooling down" here.
        assert await link.call(link.client.get, "k") == b"v"
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        await link.aclose()


async def test_timeouts_in_a_row_are_a_stall_and_cool_the_link_down(redis_server, services, clock, caplog):
    link = RedisLink(redis_server.url, clock=services.clock, log=services.log, what="a test", timeout=0.1)
    try:
        await link.call(link.client.ping)
        redis_server.pause()
        try:
            # An answer in between starts the count again...
            for _ in range(STALLED_AFTER - 1):
                with pytest.raises(Unavailable):
                    await link.call(link.client.ping)
            redis_server.resume()
            assert await link.call(link.client.ping) is True
            redis_server.pause()
            for _ in range(STALLED_AFTER - 1):
                with pytest.raises(Unavailable):
                    await link.call(link.client.ping)
            assert link.up
            # ...and STALLED_AFTER without one make the link go down: Redis is not even asked.
            with pytest.raises(Unavailable):
                await link.call(link.client.ping)
            assert not link.up
            with pytest.raises(CoolingDown):
                await link.call(link.client.ping)
        finally:
            redis_server.resume()
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == 1 and "unavailable (TimeoutError)" in warned[0]
        clock.advance(COOLDOWN)
        assert await link.call(link.client.ping) is True and link.up
    finally:
        await link.aclose()


async def test_a_refused_connection_cools_the_link_down_at_once(services, caplog):
    link = RedisLink("redis://127.0.0.1:9/0", clock=services.clock, log=services.log, what="a test")
    try:
        with pytest.raises(Unavailable) as refused:
            await link.call(link.client.ping)
        assert not isinstance(refused.value, CoolingDown)
        assert not link.up
        with pytest.raises(CoolingDown):
            await link.call(link.client.ping)
    finally:
        await link.aclose()
