"""sluicegate-redis: the response cache, rate limits, circuit-breaker openings and stored responses shared through Redis.

Registers cache backend ``redis``, rate limiter ``redis``, breaker policy ``redis`` and response
store ``redis``. Each call waits at most a short timeout; after a failed connection or a stall
Redis is skipped for a few seconds. Meanwhile the cache, limits and breakers answer from local
state (cache miss, in-process limits, per-process breakers), so Redis trouble never fails a
request there. Stored responses have no local state to fall back to: reading one answers 503
(retryable) and a new one is not stored (``sluicegate_redis.responses``).
"""

from __future__ import annotations

from typing import Any

from sluicegate import hookimpl
from sluicegate_redis.options import (
    RedisBreakerOptions,
    RedisCacheOptions,
    RedisLimitOptions,
    RedisStoreOptions,
)

__all__ = ["RedisBreakerOptions", "RedisCacheOptions", "RedisLimitOptions", "RedisStoreOptions"]


# Every gateway imports this module to find its hooks; redis-py (~10 MB) is imported by a
# backend's module, here in its factory, when a config chooses Redis.
def make_cache(*, options: RedisCacheOptions, services: Any) -> Any:
    from sluicegate_redis import cache

    return cache.make_cache(options=options, services=services)


def make_limiter(*, options: RedisLimitOptions, services: Any) -> Any:
    from sluicegate_redis import limiter

    return limiter.make_limiter(options=options, services=services)


def make_board(*, options: RedisBreakerOptions, services: Any) -> Any:
    from sluicegate_redis import breakers

    return breakers.make_board(options=options, services=services)


def make_response_store(*, options: RedisStoreOptions, services: Any) -> Any:
    from sluicegate_redis import responses

    return responses.make_response_store(options=options, services=services)


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
