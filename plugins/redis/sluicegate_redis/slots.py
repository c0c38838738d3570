"""The in-flight slots one Redis limiter holds, and the releases it still owes Redis.

A slot in Redis is a lease: it ends ``lease`` seconds after it was taken or last renewed, so
a slot whose release never arrives (a process that died, Redis away at that moment) frees
itself within seconds. This book says which slots to renew and which releases to send again;
the limiter does the talking. Times are on the gateway's clock; Redis keeps its own for the
leases themselves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from attrs import define

# Releases remembered at most (the oldest are forgotten first: their leases end by themselves).
MAX_OWED = 10_000
# Ids sent in one script call at most (Lua's unpack has a limit).
PER_CALL = 256


@define(slots=True)
class Held:
    """One slot a request holds: its id in Redis (None when taken in local state) and when its
    renewal stops (``concurrency_ttl`` after it was taken: a slot never lost but never given
    back either, a bug, still ends)."""

    slot: str | None
    renew_until: float


class SlotBook:
    """Slots held per limit key (first taken, first given back) and releases owed per key."""

    def __init__(self, clock: Callable[[], float], lease: float, max_owed: int = MAX_OWED) -> None:
        self._clock = clock
        self.lease = lease
        self._max_owed = max_owed
        self._held: dict[str, deque[Held]] = {}
        # key -> slot id -> when to stop trying (by then its lease has ended in Redis).
        self._owed: dict[str, dict[str, float]] = {}
        self._owed_count = 0

    def take(self, key: str, slot: str | None, ttl: float) -> None:
        self._held.setdefault(key, deque()).append(Held(slot, self._clock() + ttl))

    def give_back(self, key: str) -> Held | None:
        """The slot ``leave(key)`` frees (any of the key's: they differ only in age), or None."""
        held = self._held.get(key)
        if not held:
            return None
        slot = held.popleft()
        if not held:
            del self._held[key]
        return slot

    def owe(self, key: str, slot: str) -> None:
        """Remember a release Redis may have missed, to send it again."""
        # Twice the lease: a script that sat in a frozen Redis's socket runs when it wakes and
        # starts the lease afresh, so after an outage the release is still worth sending.
        owed = self._owed.setdefault(key, {})
        if slot not in owed:
            self._owed_count += 1
        owed[slot] = self._clock() + 2 * self.lease
        while self._owed_count > self._max_owed:
            oldest_key = next(iter(self._owed))
            self.paid(oldest_key, [next(iter(self._owed[oldest_key]))])

    def owed(self, key: str) -> list[str]:
        """Releases still owed for ``key`` (at most PER_CALL), those past their time dropped."""
        slots = self._owed.get(key)
        if not slots:
            return []
        now = self._clock()
        late = [slot for slot, until in slots.items() if until < now]
        if late:
            self.paid(key, late)
        return list(self._owed.get(key, {}))[:PER_CALL]

    def owed_keys(self) -> list[str]:
        return list(self._owed)

    def paid(self, key: str, slots: list[str]) -> None:
        """These releases reached Redis (or are no longer worth sending)."""
        owed = self._owed.get(key)
        if owed is None:
            return
        for slot in slots:
            if owed.pop(slot, None) is not None:
                self._owed_count -= 1
        if not owed:
            del self._owed[key]

    def renewals(self) -> dict[str, list[str]]:
        """Per key, ``[id, lease ms, id, lease ms, ...]`` for every Redis slot still renewed."""
        now = self._clock()
        due: dict[str, list[str]] = {}
        for key, held in self._held.items():
            for entry in held:
                left = entry.renew_until - now
                if entry.slot is None or left <= 0:
                    continue
                args = due.setdefault(key, [])
                args += [entry.slot, str(max(1, round(min(self.lease, left) * 1000)))]
        return due

    @property
    def owes(self) -> bool:
        return bool(self._owed)

    @property
    def busy(self) -> bool:
        """Anything to renew or to send again: the limiter's keeper has work."""
        if self._owed:
            return True
        now = self._clock()
        return any(entry.slot is not None and entry.renew_until > now
                   for held in self._held.values() for entry in held)
