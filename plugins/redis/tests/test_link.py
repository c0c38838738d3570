"""RedisLink: cancellation always gets through, whatever redis-py does with it."""

from __future__ import annotations

import asyncio
import random

from sluicegate_redis.link import RedisLink


async def test_a_cancelled_call_cancels_its_task(redis_server, services):
    link = RedisLink(redis_server.url, clock=services.clock, log=services.log, what="a test")
    rng = random.Random(7)
    completed = 0

    async def loop() -> None:
        nonlocal completed
        while True:
            await link.call(link.client.pttl, "k")
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
