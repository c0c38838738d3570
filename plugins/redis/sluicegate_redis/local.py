"""In-process GCRA buckets and in-flight slots: what the Redis limiter answers from while Redis is away.

The arithmetic is the Lua script's, on the injected clock, so a fallback decision reads like a
shared one; the difference is that each process then limits on its own.
"""

from __future__ import annotations

from collections.abc import Callable

from sluicegate.contracts import Decision

# Buckets kept before full ones (which carry no information) are dropped.
MAX_KEYS = 10_000
# Same slack as the Lua script: a sum of intervals and burst * interval may differ in the last bit.
_SLACK = 1e-9


class LocalLimiter:
    """GCRA and slot counting in memory; synchronous, on one event loop."""

    def __init__(self, clock: Callable[[], float], max_keys: int = MAX_KEYS) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._tats: dict[str, float] = {}
        self._slots: dict[str, list[float]] = {}  # expiry times of taken slots

    def acquire(self, key: str, cost: float, rate: float, burst: float) -> Decision:
        now = self._clock()
        cost, rate, burst = float(cost), float(rate), float(burst)
        interval = 1.0 / rate
        tolerance = burst * interval
        tat = max(self._tats.get(key, now), now)
        if cost < 0:
            new_tat = max(tat + cost * interval, now)
        else:
            new_tat = tat + cost * interval
            if new_tat - now > tolerance + _SLACK:
                return Decision(False, burst, burst - (tat - now) / interval,
                                new_tat - tolerance - now, tat - now)
        ahead = new_tat - now
        if ahead > 0:
            self._tats[key] = new_tat
            self._bound(now)
        else:
            self._tats.pop(key, None)
        return Decision(True, burst, max(0.0, burst - ahead / interval), 0.0, ahead)

    def enter(self, key: str, limit: int, ttl: float) -> bool:
        now = self._clock()
        slots = [expiry for expiry in self._slots.get(key, ()) if expiry > now]
        if len(slots) >= limit:
            self._slots[key] = slots
            return False
        slots.append(now + ttl)
        self._slots[key] = slots
        if len(self._slots) > self._max_keys:
            # Keys whose every slot expired were never left (a lost caller): nothing to keep.
            for stale in [k for k, taken in self._slots.items() if max(taken) <= now]:
                del self._slots[stale]
        return True

    def leave(self, key: str) -> None:
        slots = self._slots.get(key)
        if slots:
            # Any one slot: they differ only in expiry, and the earliest would go first anyway.
            slots.pop(0)
        if not slots:
            self._slots.pop(key, None)

    def _bound(self, now: float) -> None:
        if len(self._tats) <= self._max_keys:
            return
        for key in [k for k, tat in self._tats.items() if tat <= now]:
            del self._tats[key]
        while len(self._tats) > self._max_keys:
            # Still over: forget the oldest-made bucket (dicts keep insertion order).
            del self._tats[next(iter(self._tats))]
