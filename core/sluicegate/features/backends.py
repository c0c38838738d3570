"""The storage interfaces behind the cache and the rate limits, shared by memory and Redis.

Backends are registered through ``register_cache_backends`` / ``register_rate_limiters`` and
chosen by ``backend = "<name>"`` in ``[cache]`` / ``[ratelimit]``. Every method is a coroutine
(Redis is across a network); a memory backend simply never awaits anything slow. Backends get
the injected clock from ``Services`` so TTLs and rates are exact in tests.
"""

from __future__ import annotations

from typing import Protocol

from attrs import define


class CacheBackend(Protocol):
    """Bytes by key with a time to live."""

    async def get(self, key: str) -> bytes | None:
        """The stored value, or None when absent or expired."""

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (replacing any previous value)."""

    async def aclose(self) -> None:
        """Release connections; called when the assembly is retired."""


@define(frozen=True, slots=True)
class Decision:
    """A rate-limit verdict. ``retry_after`` is exact (seconds until the cost would fit)."""

    allowed: bool
    limit: float  # the burst capacity, in the limit's unit (requests or tokens)
    remaining: float  # what could still be spent now, after this decision
    retry_after: float  # 0 when allowed
    reset_after: float  # seconds until the bucket is full again


class RateLimiter(Protocol):
    """GCRA / token-bucket limits and in-flight counters, keyed by strings the caller builds."""

    async def acquire(self, key: str, cost: float, rate: float, burst: float) -> Decision:
        """Spend ``cost`` from the bucket ``key`` refilling at ``rate`` per second up to
        ``burst``; nothing is spent when the answer is no. A negative ``cost`` gives back
        (reconciliation of a token estimate) and is always allowed."""

    async def enter(self, key: str, limit: int, ttl: float) -> bool:
        """Take an in-flight slot of ``key`` if fewer than ``limit`` are taken; slots expire
        after ``ttl`` seconds so a crashed process cannot hold them for ever."""

    async def leave(self, key: str) -> None:
        """Give back a slot taken by ``enter``."""

    async def aclose(self) -> None:
        """Release connections; called when the assembly is retired."""
