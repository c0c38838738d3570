"""Rate limiter ``backend = "redis"``: GCRA buckets and in-flight slots shared by every gateway process.

Each operation is one Lua script (atomic, timed by Redis's ``TIME``). While Redis is down or
slow the limiter fails open to local state: an in-process GCRA with the same arithmetic, so
limits still hold per process and no request fails because of Redis.

An in-flight slot in Redis is a lease of ``LEASE`` seconds (at most ``concurrency_ttl``),
renewed by one background task per limiter (the keeper) while its request lives. A release
Redis did not get (it was down, frozen, or the call was cut short) is owed: sent again by the
keeper and with the key's next ``enter`` until Redis has it. Either way no slot outlives its
request by more than the lease once Redis answers again, so a Redis outage cannot leave
clients refused with nothing in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from sluicegate.contracts import Decision
from sluicegate_redis.keys import bucket_key, slots_key
from sluicegate_redis.link import CoolingDown, RedisLink, Unavailable, redis_url
from sluicegate_redis.local import LocalLimiter
from sluicegate_redis.options import RedisLimitOptions
from sluicegate_redis.scripts import ENTER, GCRA, LEAVE, RENEW
from sluicegate_redis.slots import SlotBook

# Seconds a slot in Redis lives unless renewed: how long a lost release can keep it taken.
LEASE = 10.0
# Renewals per lease: a slot survives a missed renewal or two (a Redis hiccup, a busy loop).
RENEWALS_PER_LEASE = 4
# Seconds between the keeper's tries while work is left undone (a release owed, a renewal
# that failed): Redis is back within this long of the link's cooldown ending.
RETRY = 0.5


class RedisLimiter:
    """``sluicegate.contracts.RateLimiter`` on Redis, falling back to a ``LocalLimiter``."""

    def __init__(self, link: RedisLink, local: LocalLimiter, *, clock: Callable[[], float], log: logging.Logger,
                 lease: float = LEASE, retry: float = RETRY) -> None:
        self._link = link
        self._local = local
        self._log = log
        self._gcra = link.client.register_script(GCRA)
        self._enter = link.client.register_script(ENTER)
        self._leave = link.client.register_script(LEAVE)
        self._renew = link.client.register_script(RENEW)
        # Slot ids must be unique across processes: a random prefix per limiter, then a counter.
        self._prefix = uuid.uuid4().hex[:16]
        self._ids = itertools.count()
        # leave(key) names no slot, so the slots this process holds are remembered here, each
        # with its Redis id or None when it was taken locally (Redis was away at enter).
        self._book = SlotBook(clock, lease)
        self._renew_every = lease / RENEWALS_PER_LEASE
        self._retry = min(retry, self._renew_every)
        self._keeper: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._retrying = False  # the keeper waits RETRY, not a renewal interval
        self._closed = False

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
        lease_ms = max(1, round(min(self._book.lease, ttl) * 1000))
        owed = self._book.owed(key)
        try:
            taken = await self._link.call(self._enter, keys=[slots_key(key)], args=[limit, lease_ms, slot, *owed])
        except CoolingDown:
            return self._enter_locally(key, limit, ttl)
        except Unavailable:
            # The script may still run when Redis answers again: owe the release of its slot.
            self._owe(key, slot)
            return self._enter_locally(key, limit, ttl)
        except asyncio.CancelledError:
            self._owe(key, slot)
            raise
        self._book.paid(key, owed)
        if not taken:
            return False
        self._book.take(key, slot, ttl)
        self._start_keeper()
        return True

    async def leave(self, key: str) -> None:
        held = self._book.give_back(key)
        if held is None:
            return
        if held.slot is None:
            self._local.leave(key)
            return
        owed = self._book.owed(key)
        try:
            await self._link.call(self._leave, keys=[slots_key(key)], args=[held.slot, *owed])
        except Unavailable:
            self._owe(key, held.slot)
            return
        except asyncio.CancelledError:
            self._owe(key, held.slot)
            raise
        self._book.paid(key, owed)

    async def keep(self) -> bool:
        """One round of the keeper: send owed releases, renew held slots. True when all got through."""
        paid = await self._pay_owed()
        for key, args in self._book.renewals().items():
            try:
                await self._link.call(self._renew, keys=[slots_key(key)], args=args)
            except Unavailable:
                paid = False
        return paid

    async def aclose(self) -> None:
        self._closed = True
        if self._keeper is not None:
            self._keeper.cancel()
            # Bounded: a round stops at its next await, and each call has the link's timeout.
            await asyncio.wait({self._keeper}, timeout=2 * self._link.timeout)
        # Last chance for owed releases (a call per key, each bounded by the link's timeout);
        # what does not get through ends with its lease. Held slots are not renewed: whatever
        # still holds one now ends with this limiter.
        with contextlib.suppress(Exception):
            await self._pay_owed()
        await self._link.aclose()

    async def _pay_owed(self) -> bool:
        paid = True
        for key in self._book.owed_keys():
            owed = self._book.owed(key)
            if not owed:
                continue
            try:
                await self._link.call(self._leave, keys=[slots_key(key)], args=owed)
            except Unavailable:
                paid = False
                continue
            self._book.paid(key, owed)
        return paid

    def _enter_locally(self, key: str, limit: int, ttl: float) -> bool:
        if not self._local.enter(key, limit, ttl):
            return False
        self._book.take(key, None, ttl)
        return True

    def _owe(self, key: str, slot: str) -> None:
        self._book.owe(key, slot)
        self._start_keeper()
        if not self._retrying:
            self._wake.set()  # the keeper waits a whole renewal interval: cut it short

    def _start_keeper(self) -> None:
        """Make sure the keeper runs (it stops by itself when nothing is left to keep)."""
        if self._closed or (self._keeper is not None and not self._keeper.done()):
            return
        self._keeper = asyncio.get_running_loop().create_task(self._keep_while_busy())

    async def _keep_while_busy(self) -> None:
        complete = True
        while not self._closed and self._book.busy:
            self._retrying = not complete or self._book.owes
            self._wake.clear()
            try:
                # Real time on purpose, like the breaker board's sync: a test's instant fake
                # sleep would make this loop spin.
                async with asyncio.timeout(self._retry if self._retrying else self._renew_every):
                    await self._wake.wait()
                continue  # a release is owed now: wait the shorter time instead
            except TimeoutError:
                pass
            try:
                complete = await self.keep()
            except Exception:  # a bug here must not end the renewals for good; say it, go on
                self._log.exception("keeping rate-limiter slots in Redis failed")
                complete = False



def make_limiter(*, options: RedisLimitOptions, services: Any) -> RedisLimiter:
    """Factory for ``[ratelimit] backend = "redis"`` (``url``, ``redis_timeout``)."""
    link = RedisLink(
        redis_url(options), timeout=options.redis_timeout, clock=services.clock,
        log=services.log, what="the rate limiter", telemetry=services.telemetry, feature="ratelimit",
    )
    return RedisLimiter(link, LocalLimiter(services.clock), clock=services.clock, log=services.log)
