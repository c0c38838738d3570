"""The options of the Redis backends (``[cache]``, ``[ratelimit]``, ``[breaker]``, ``[responses]``
with Redis chosen), apart from the backends: every gateway imports them to know the tables'
keys, and only a config that chooses Redis imports redis-py (``link``) through a backend."""

from __future__ import annotations

from attrs import define, field

from sluicegate.config.checks import positive
from sluicegate.config.resilience import BreakerOptions
from sluicegate.config.responses import ResponsesConfig
from sluicegate.features.cache import CacheOptions
from sluicegate.features.ratelimit import RateLimitOptions
from sluicegate.secrets import Secret

#: Seconds one Redis call may take by default before the feature goes on without Redis a while.
DEFAULT_TIMEOUT = 0.25


@define(kw_only=True)
class RedisCacheOptions(CacheOptions):
    """``[cache]`` with ``backend = "redis"``: the cache's keys plus where Redis is."""

    # Default redis://127.0.0.1:6379/0; a Secret, so a password in it never prints.
    url: Secret | None = None
    # Seconds one Redis call may take before the cache goes on without Redis for a while.
    redis_timeout: float = field(default=DEFAULT_TIMEOUT, validator=positive)


@define(kw_only=True)
class RedisLimitOptions(RateLimitOptions):
    """``[ratelimit]`` with ``backend = "redis"``: the limits plus where Redis is."""

    # Default redis://127.0.0.1:6379/0; a Secret, so a password in it never prints.
    url: Secret | None = None
    # Seconds one Redis call may take before the limits are kept locally for a while.
    redis_timeout: float = field(default=DEFAULT_TIMEOUT, validator=positive)


@define(kw_only=True)
class RedisBreakerOptions(BreakerOptions):
    """``[breaker]`` for ``policy = "redis"``: the consecutive policy's keys plus where Redis is."""

    # Default redis://127.0.0.1:6379/0.
    url: Secret | None = None
    # Seconds between reads of the openings other processes published.
    sync_interval: float = field(default=1.0, validator=positive)
    # Seconds one Redis call may take before this process goes on alone for a while.
    redis_timeout: float = field(default=DEFAULT_TIMEOUT, validator=positive)


@define(kw_only=True)
class RedisStoreOptions(ResponsesConfig):
    """``[responses]`` with ``store = "redis"``: the table's keys plus where Redis is."""

    # Default redis://127.0.0.1:6379/0; a Secret, so a password in it never prints.
    url: Secret | None = None
    # Seconds one Redis call may take before it counts as failed (a read then answers 503).
    timeout: float = field(default=1.0, validator=positive)
