"""sluicegate-redis: the response cache, rate limits and circuit-breaker openings shared through Redis.

Registers cache backend ``redis``, rate limiter ``redis`` and breaker policy ``redis``. Redis
down or slow never fails a request: each call waits at most a short timeout, after a failed
connection or a stall Redis is skipped for a few seconds, and meanwhile every backend answers from local state (cache
miss, in-process limits, per-process breakers). Fail open to local state, bounded added latency.
"""

from __future__ import annotations

from sluicegate import hookimpl
from sluicegate_redis.breakers import RedisBreakerBoard, RedisBreakerOptions, SharedBreaker, make_board
from sluicegate_redis.cache import RedisCache, make_cache
from sluicegate_redis.limiter import RedisLimiter, make_limiter
from sluicegate_redis.link import RedisLink, Unavailable
from sluicegate_redis.local import LocalLimiter

__all__ = [
    "LocalLimiter", "RedisBreakerBoard", "RedisBreakerOptions", "RedisCache", "RedisLimiter",
    "RedisLink", "SharedBreaker", "Unavailable",
]


@hookimpl
def register_cache_backends(register):
    # Options are the [cache] feature's own (url, redis_timeout): no table of ours to declare.
    register("redis", make_cache)


@hookimpl
def register_rate_limiters(register):
    register("redis", make_limiter)


@hookimpl
def register_breaker_policies(register):
    register("redis", make_board, options=RedisBreakerOptions)
