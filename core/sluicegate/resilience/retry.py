"""Retry timing: full-jitter exponential backoff and a retry budget, on an injected clock and RNG."""

from __future__ import annotations

import random
from collections.abc import Callable

from sluicegate.config.resilience import RetryConfig


def backoff(config: RetryConfig, retry: int, rng: random.Random) -> float:
    """Seconds to wait before retry number ``retry`` (0 = the first retry): full jitter, so
    clients that failed together do not come back together."""
    ceiling = min(config.backoff_max, config.backoff_base * (2**retry))
    return rng.uniform(0.0, ceiling)


class RetryBudget:
    """Retries may add at most ``ratio`` of first tries, plus ``min_per_second``.

    Every first try deposits ``ratio`` tokens, time deposits ``min_per_second`` per second, and
    each retry spends one. During an outage every try fails; without a budget each would be
    retried ``attempts - 1`` times, multiplying the load on a vendor that is already down.
    """

    def __init__(self, ratio: float, min_per_second: float, clock: Callable[[], float], cap: float = 100.0) -> None:
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.clock = clock
        self.cap = cap
        # Ten seconds' worth to start with, so a fresh process can retry at once.
        self.balance = min(cap, 10 * min_per_second)
        self._last = clock()

    def _refill(self) -> None:
        now = self.clock()
        if now > self._last:
            self.balance = min(self.cap, self.balance + (now - self._last) * self.min_per_second)
        self._last = now

    def deposit(self) -> None:
        """A first try happened."""
        self.balance = min(self.cap, self.balance + self.ratio)

    def withdraw(self) -> bool:
        """Spend one retry if the budget allows it."""
        self._refill()
        if self.balance >= 1.0:
            self.balance -= 1.0
            return True
        return False
