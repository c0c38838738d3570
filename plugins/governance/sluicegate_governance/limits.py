"""Per-key and per-team RPM, TPM and concurrency, kept by the gateway's rate-limiter backend
(the one ``[ratelimit] backend`` names: in memory, or Redis shared by every instance).

Like ``[ratelimit]`` a token limit reserves the request's estimate and the finish settles it
with what was used; a limiter failure lets requests through (fail open) and is warned about.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from attrs import define, field

from sluicegate.contracts import RateLimiter
from sluicegate.errors import GatewayError
from sluicegate.features.ratelimit import format_duration, retry_after_header
from sluicegate_governance.keycache import Grant
from sluicegate_governance.model import Limits

WARN_EVERY = 60.0
#: Seconds a refused caller is told to wait for a concurrency slot (nobody knows when one frees).
BUSY_RETRY_AFTER = 1.0


@define(slots=True)
class LimitHold:
    """What one request took: slots to leave, token charges (key, reserved, rate, burst)."""

    slots: list[str] = field(factory=list)
    tokens: list[tuple[str, float, float, float]] = field(factory=list)


class KeyLimits:
    def __init__(self, limiter: RateLimiter | None, *, ttl: float, log: logging.Logger,
                 clock: Callable[[], float]) -> None:
        self.limiter = limiter
        self.ttl = ttl
        self.log = log
        self.clock = clock
        self._quiet_until = -math.inf

    async def admit(self, grant: Grant, tokens: int) -> LimitHold | None:
        """Take what the key's and its team's limits need; raise the 429 of the first that
        refuses (having given back everything taken so far). None when no limit applies."""
        scopes = [("key", grant.key.id, grant.key.limits)]
        if grant.team is not None:
            scopes.append(("team", grant.team.id, grant.team.limits))
        if self.limiter is None or not any(limits.active for _, _, limits in scopes):
            return None
        hold = LimitHold()
        try:
            for whose, owner, limits in scopes:
                await self._admit_one(hold, whose, owner, limits, tokens)
        except GatewayError:
            await self.release(hold, None, rollback=True)
            raise
        return hold

    async def _admit_one(self, hold: LimitHold, whose: str, owner: str, limits: Limits, tokens: int) -> None:
        if limits.concurrency is not None:
            slots = f"gov:{owner}:concurrency"
            entered = await self._enter(slots, limits.concurrency)
            if entered is False:
                raise GatewayError(
                    f"Too many concurrent requests for this {whose}: Limit {limits.concurrency}. "
                    "Please try again when one has finished.",
                    status=429, type="requests", code="concurrency_limit_exceeded", error_class="rate_limit",
                    retry_after=BUSY_RETRY_AFTER, headers={"Retry-After": retry_after_header(BUSY_RETRY_AFTER)})
            if entered:
                hold.slots.append(slots)
        for kind, per_minute, cost in (("requests", limits.rpm, 1.0), ("tokens", limits.tpm, float(tokens))):
            if per_minute is None or (kind == "tokens" and not cost):
                continue
            key, rate, burst = f"gov:{owner}:{kind}", per_minute / 60.0, float(per_minute)
            cost = min(cost, burst)
            decision = await self._acquire(key, cost, rate, burst)
            if decision is None:
                continue
            if not decision.allowed:
                wait = decision.retry_after
                name = "requests per minute (RPM)" if kind == "requests" else "tokens per minute (TPM)"
                raise GatewayError(
                    f"Rate limit reached for this {whose} on {name}: Limit {per_minute}. "
                    f"Please try again in {format_duration(wait)}.",
                    status=429, type=kind, code="rate_limit_exceeded", error_class="rate_limit",
                    retry_after=wait, headers={"Retry-After": retry_after_header(wait)})
            if kind == "tokens":
                hold.tokens.append((key, cost, rate, burst))

    async def release(self, hold: LimitHold, used: int | None, *, rollback: bool = False) -> None:
        """Leave the slots; charge the token limits ``used`` instead of their reservation
        (None: the reservation stands, unless ``rollback`` gives it all back)."""
        for key in hold.slots:
            await self._leave(key)
        hold.slots.clear()
        for key, reserved, rate, burst in hold.tokens:
            delta = -reserved if rollback else (None if used is None else min(used, burst) - reserved)
            if delta:
                await self._acquire(key, delta, rate, burst)
        hold.tokens.clear()

    async def _acquire(self, key: str, cost: float, rate: float, burst: float):
        try:
            return await self.limiter.acquire(key, cost, rate, burst)
        except Exception as exc:  # fail open: a broken limiter must not break requests
            self._failed(exc)
            return None

    async def _enter(self, key: str, limit: int) -> bool | None:
        try:
            return await self.limiter.enter(key, limit, self.ttl)
        except Exception as exc:
            self._failed(exc)
            return None  # unknown whether a slot was taken: its TTL frees it

    async def _leave(self, key: str) -> None:
        try:
            await self.limiter.leave(key)
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        now = self.clock()
        if now >= self._quiet_until:
            self._quiet_until = now + WARN_EVERY
            self.log.warning("governance: the rate limiter failed (%s); key limits are let through meanwhile",
                             type(exc).__name__)

    async def aclose(self) -> None:
        if self.limiter is not None:
            await self.limiter.aclose()
