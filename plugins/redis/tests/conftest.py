"""Fixtures for the Redis backend tests: a fake clock, services on it, a raw client, backend options."""

from __future__ import annotations

import logging

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from attrs import define

from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate_redis.link import DEFAULT_TIMEOUT


class FakeClock:
    """A monotonic clock that moves only when told: cooldowns end exactly when a test says."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@define
class FeatureOptions:
    """The keys a Redis backend reads from its options (the real classes, ``RedisCacheOptions``
    and ``RedisLimitOptions``, add their feature's)."""

    url: Secret | None = None
    redis_timeout: float = DEFAULT_TIMEOUT


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(clock) -> Services:
    return Services(http=None, config=None, clock=clock, log=logging.getLogger("sluicegate.test-redis"))


@pytest.fixture
def feature_options() -> type[FeatureOptions]:
    """The options class, for tests that build their own (test modules cannot import conftest)."""
    return FeatureOptions


@pytest.fixture
def options(redis_server) -> FeatureOptions:
    return FeatureOptions(url=Secret(redis_server.url))


@pytest_asyncio.fixture
async def raw(redis_server):
    """A plain redis-py client on the test's server, to look at what the backends stored."""
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()
