"""Rate limiter ``backend = "redis"``: GCRA buckets and in-flight slots shared by every gateway process.

Each operation is one Lua script (atomic, timed by Redis's ``TIME``). While Redis is down or
slow the limiter fails open to local state: an in-process GCRA with the same arithmetic, so
limits still hold per process and no request fails because of Redis.
"""

from __future__ import annotations

import itertools
import uuid
from collections import deque
from typing import Any

from sluicegate.features.backends import Decision
from sluicegate_redis.keys import bucket_key, slots_key
from sluicegate_redis.link import RedisLink, Unavailable, redis_timeout, redis_url
from sluicegate_redis.local import LocalLimiter
from sluicegate_redis.scripts import ENTER, GCRA, LEAVE


class RedisLimiter:
    """``sluicegate.features.backends.RateLimiter`` on Redis, falling back to a ``LocalLimiter``."""

    def __init__(self, link: RedisLink, local: LocalLimiter) -> None:
        self._link = link
        self._local = local
        self._gcra = link.client.register_script(GCRA)
        self._enter = link.client.register_script(ENTER)
        self._leave = link.client.register_script(LEAVE)
        # Slot ids must be unique across processes: a random prefix per limiter, then a counter.
        self._prefix = uuid.uuid4().hex[:16]
        self._ids = itertools.count()
        # leave(key) names no slot, so the slots this process holds are remembered here, each
        # as its Redis id or None when it was taken locally (Redis was down at enter).
        self._held: dict[str, deque[str | None]] = {}

    async def acquire(self, key: str, cost: float, rate: float, burst: float) -> Decision:
        if rate <= 0 or burst <= 0:
            raise ValueError(f"rate and burst must be positive, got rate={rate} burst={burst}")
        try:
            allowed, remaining, retry_after, reset_after = await self._link.call(
                self._gcra, keys=[bucket_key(key)], args=[repr(float(cost)), repr(float(rate)), repr(float(burst))]
            )
        except Unavailable:
            return self._local.acquire(key, cost, rate, burst)
        return Decision(bool(allowed), float(burst), float(remaining), float(retry_after), float(reset_after))

    async def enter(self, key: str, limit: int, ttl: float) -> bool:
        slot = f"{self._prefix}:{next(self._ids)}"
        ttl_ms = max(1, round(ttl * 1000))
        try:
            taken = await self._link.call(self._enter, keys=[slots_key(key)], args=[limit, ttl_ms, slot])
        except Unavailable:
            if not self._local.enter(key, limit, ttl):
                return False
            self._held.setdefault(key, deque()).append(None)
            return True
        if not taken:
            return False
        self._held.setdefault(key, deque()).append(slot)
        return True

    async def leave(self, key: str) -> None:
        held = self._held.get(key)
        if not held:
            return
        slot = held.popleft()
        if not held:
            del self._held[key]
        if slot is None:
            self._local.leave(key)
            return
        try:
            await self._link.call(self._leave, keys=[slots_key(key)], args=[slot])
        except Unavailable:
            pass  # the slot expires by itself after its ttl

    async def aclose(self) -> None:
        await self._link.aclose()


def make_limiter(*, options: Any, services: Any) -> RedisLimiter:
    """Factory for ``[ratelimit] backend = "redis"`` (``url``, optional ``redis_timeout``)."""
    link = RedisLink(
        redis_url(options), timeout=redis_timeout(options), clock=services.clock,
        log=services.log, what="the rate limiter", telemetry=services.telemetry, feature="ratelimit",
    )
    return RedisLimiter(link, LocalLimiter(services.clock))
