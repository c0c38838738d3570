"""Cache backend ``backend = "redis"``: response bytes shared by every gateway process, with a TTL.

While Redis is down or slow the cache fails open: a lookup is a miss and a store does nothing,
so the request goes on to the provider within the link's bounded wait.
"""

from __future__ import annotations

import math
from typing import Any

from sluicegate_redis.keys import cache_key
from sluicegate_redis.link import RedisLink, Unavailable, redis_url
from sluicegate_redis.options import RedisCacheOptions


class RedisCache:
    """``sluicegate.contracts.CacheBackend`` on Redis: ``GET`` / ``SET ... PX``."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link

    async def get(self, key: str) -> bytes | None:
        try:
            return await self._link.call(self._link.client.get, cache_key(key))
        except Unavailable:
            return None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            return  # expired on arrival; PX refuses 0 anyway
        try:
            await self._link.call(self._link.client.set, cache_key(key), value, px=max(1, math.ceil(ttl * 1000)))
        except Unavailable:
            pass

    async def aclose(self) -> None:
        await self._link.aclose()


def make_cache(*, options: RedisCacheOptions, services: Any) -> RedisCache:
    """Factory for ``[cache] backend = "redis"`` (``url``, ``redis_timeout``)."""
    link = RedisLink(
        redis_url(options), timeout=options.redis_timeout, clock=services.clock,
        log=services.log, what="the response cache", telemetry=services.telemetry, feature="cache",
    )
    return RedisCache(link)
