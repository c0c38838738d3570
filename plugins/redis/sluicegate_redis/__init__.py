"""sluicegate-redis: the response cache, rate limits, circuit-breaker openings and stored responses shared through Redis.

Registers cache backend ``redis``, rate limiter ``redis``, breaker policy ``redis`` and response
store ``redis``. Each call waits at most a short timeout; after a failed connection or a stall
Redis is skipped for a few seconds. Meanwhile the cache, limits and breakers answer from local
state (cache miss, in-process limits, per-process breakers), so Redis trouble never fails a
request there. Stored responses have no local state to fall back to: reading one answers 503
(retryable) and a new one is not stored (``sluicegate_redis.responses``).
"""

from __future__ import annotations

from sluicegate import hookimpl
from sluicegate_redis.breakers import RedisBreakerBoard, RedisBreakerOptions, SharedBreaker, make_board
from sluicegate_redis.cache import RedisCache, RedisCacheOptions, make_cache
from sluicegate_redis.limiter import RedisLimiter, RedisLimitOptions, make_limiter
from sluicegate_redis.link import RedisLink, Unavailable
from sluicegate_redis.local import LocalLimiter
from sluicegate_redis.responses import RedisResponseStore, RedisStoreOptions, make_response_store

__all__ = [
    "LocalLimiter", "RedisBreakerBoard", "RedisBreakerOptions", "RedisCache", "RedisCacheOptions", "RedisLimitOptions",
    "RedisLimiter", "RedisLink", "RedisResponseStore", "RedisStoreOptions", "SharedBreaker", "Unavailable",
]


# Each backend's options subclass its feature's table: with the backend chosen, its keys (url,
# redis_timeout) sit in that table and are validated there.
@hookimpl
def register_cache_backends(register):
    register("redis", make_cache, options=RedisCacheOptions)


@hookimpl
def register_rate_limiters(register):
    register("redis", make_limiter, options=RedisLimitOptions)


@hookimpl
def register_breaker_policies(register):
    register("redis", make_board, options=RedisBreakerOptions)


@hookimpl
def register_response_stores(register):
    register("redis", make_response_store, options=RedisStoreOptions)
