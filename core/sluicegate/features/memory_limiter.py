"""The in-process ``RateLimiter`` (``[ratelimit] backend = "memory"``): GCRA on the injected clock.

GCRA keeps one number per key, the theoretical arrival time (TAT): the moment the bucket would
be full again. Spending ``cost`` moves it ``cost / rate`` seconds later; a spend is refused when
that would put the TAT more than ``burst / rate`` seconds ahead of now. A TAT in the past means
a full bucket, which is exactly what an absent key means, so such keys can be dropped at any
time: that is how memory stays bounded. Limits are per process (``--workers N`` multiplies
them) and start afresh with each config reload; the ``redis`` backend shares them.

Also the default plugin ``sluicegate.memory_limiter``, which registers it as ``memory``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from sluicegate.contracts import Decision
from sluicegate.hookspecs import hookimpl

#: Keys held before a sweep drops the ones that no longer say anything (full buckets, no slots).
MAX_KEYS = 100_000


class MemoryRateLimiter:
    """GCRA buckets and in-flight slots in this process's memory."""

    def __init__(self, clock: Callable[[], float], max_keys: int = MAX_KEYS) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}
        # key -> min-heap of slot expiry times
        self._slots: dict[str, list[float]] = {}
        self._sweep_tat_at = max_keys
        self._sweep_slots_at = max_keys

    async def acquire(self, key: str, cost: float, rate: float, burst: float) -> Decision:
        now = self.clock()
        tat = self._tat.get(key, now)
        if tat < now:
            tat = now
        if cost < 0:
            # A give-back never makes the bucket fuller than full (TAT not before now).
            new = max(now, tat + cost / rate)
            self._store(key, new, now)
            return _decision(burst, now, new, rate)
        new = tat + cost / rate
        allow_at = new - burst / rate
        if allow_at > now:
            # Refused: nothing is spent, so the state stays as it was.
            remaining = max(0.0, burst - (tat - now) * rate)
            return Decision(False, burst, _units(remaining), _seconds(allow_at - now), _seconds(tat - now))
        self._store(key, new, now)
        return _decision(burst, now, new, rate)

    def _store(self, key: str, tat: float, now: float) -> None:
        tats = self._tat
        if tat <= now:
            tats.pop(key, None)  # a full bucket: the same as no key
            return
        tats[key] = tat
        if len(tats) > self._sweep_tat_at:
            for stale in [k for k, t in tats.items() if t <= now]:
                del tats[stale]
            # Sweep again only after the dict doubles: amortised O(1) per call.
            self._sweep_tat_at = max(self.max_keys, 2 * len(tats))

    async def enter(self, key: str, limit: int, ttl: float) -> bool:
        now = self.clock()
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = []
            if len(self._slots) > self._sweep_slots_at:
                self._sweep_slots(now)
        while slots and slots[0] <= now:
            heapq.heappop(slots)  # expired: its holder crashed or forgot to leave
        if len(slots) >= limit:
            if not slots:
                del self._slots[key]
            return False
        heapq.heappush(slots, now + ttl)
        return True

    def _sweep_slots(self, now: float) -> None:
        for stale in [k for k, s in self._slots.items() if not s or max(s) <= now]:
            del self._slots[stale]
        self._sweep_slots_at = max(self.max_keys, 2 * len(self._slots))

    async def leave(self, key: str) -> None:
        slots = self._slots.get(key)
        if not slots:
            return
        # Slots are anonymous: give back the one expiring first. The slot that stays then
        # expires later than the leaver's would have, which errs on the safe side.
        heapq.heappop(slots)
        if not slots:
            del self._slots[key]

    async def aclose(self) -> None:
        self._tat.clear()
        self._slots.clear()

    def __len__(self) -> int:
        return len(self._tat) + len(self._slots)


def _decision(burst: float, now: float, tat: float, rate: float) -> Decision:
    return Decision(True, burst, _units(max(0.0, burst - (tat - now) * rate)), 0.0, _seconds(tat - now))


# Times on a monotonic clock of large magnitude carry float noise (5929.999999999995 tokens);
# answers are exact to the microsecond and to a thousandth of a unit, which no client can tell.
def _seconds(value: float) -> float:
    return round(value, 6)


def _units(value: float) -> float:
    return round(value, 3)


def make_memory_limiter(*, options: object = None, services) -> MemoryRateLimiter:
    """Factory registered as rate limiter ``memory``; it needs nothing but the clock."""
    return MemoryRateLimiter(services.clock)


@hookimpl
def register_rate_limiters(register):
    # It reads nothing but the clock: the [ratelimit] table's own options class is enough.
    register("memory", make_memory_limiter)
