"""Load balancing: the per-request order in which an alias's targets are tried."""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any, Generic, TypeVar

from attrs import define, field, setters

from sluicegate.config.schema import STRATEGIES
from sluicegate.resilience.breaker import OutcomeWindow

T = TypeVar("T")

#: Seconds of call outcomes kept per target for /health's recent error rate.
HEALTH_WINDOW = 60.0


_NO_SAMPLE = -math.inf  # sorts unmeasured targets first so they get measured


def _alpha(_: Any, __: Any, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"alpha must be in (0, 1]; got {value!r}")


# No validation on assignment: ``alpha`` is checked when made, and the rest change on every call
# (attrs' checking __setattr__ would run in Python for each of them).
@define(on_setattr=setters.NO_OP)
class TargetStats:
    """Live numbers of one target (provider/model) on this process."""

    alpha: float = field(default=0.3, validator=_alpha)
    in_flight: int = 0
    ewma_ttfb: float | None = None  # seconds; None until the first sample
    # Failed before it ever succeeded: not "unmeasured, try it first" but "broken, try it last".
    failed_unmeasured: bool = False
    # For /health: outcomes of the last minute, and the last failure (a secret-free message).
    recent: OutcomeWindow = field(factory=lambda: OutcomeWindow(HEALTH_WINDOW))
    last_error: str | None = None
    last_error_at: float | None = None  # wall-clock seconds

    def outcome(self, now: float, error: str | None = None, at: float | None = None) -> None:
        """A call ended: ``error`` is the failure's message when it counts against the target."""
        self.recent.add(now, failed=error is not None)
        if error is not None:
            self.last_error, self.last_error_at = error, at

    def started(self) -> None:
        self.in_flight += 1

    def finished(self, ttfb: float | None) -> None:
        """A call ended; ``ttfb`` is its seconds to first byte when it succeeded, else None.

        Failures are not sampled: a fast error would otherwise make a broken target look best.
        """
        self.in_flight -= 1
        if ttfb is None:
            if self.ewma_ttfb is None:
                self.failed_unmeasured = True
            return
        self.failed_unmeasured = False
        if self.ewma_ttfb is None:
            self.ewma_ttfb = ttfb  # seeding with the first sample avoids a bias toward 0
        else:
            self.ewma_ttfb += self.alpha * (ttfb - self.ewma_ttfb)

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        ewma = self.ewma_ttfb
        snap: dict[str, Any] = {
            "in_flight": self.in_flight,
            "ewma_ttfb_ms": None if ewma is None else round(ewma * 1000, 1),
        }
        if now is not None:
            self.recent.prune(now)
        snap["calls_1m"] = self.recent.calls
        snap["errors_1m"] = self.recent.failures
        if self.last_error is not None:
            snap["last_error"] = self.last_error
            snap["last_error_at"] = self.last_error_at
        return snap


class StatsBoard:
    """Every target's stats on this process, keyed by target label ("provider/model")."""

    def __init__(self, alpha: float = 0.3, max_entries: int = 1024) -> None:
        _alpha(None, None, alpha)
        self._alpha = alpha
        # Least recently used first, so a flood of invented names pushes out only idle ones.
        self._stats: OrderedDict[str, TargetStats] = OrderedDict()
        self.max_entries = max_entries
        # Targets of configured aliases: their balancers hold these objects, so they are kept.
        self._pinned: set[str] = set()

    def pin(self, key: str) -> TargetStats:
        """The stats of ``key``, never forgotten (for holders that keep the object)."""
        self._pinned.add(key)
        return self.get(key)

    def get(self, key: str) -> TargetStats:
        stats = self._stats.get(key)
        if stats is not None:
            self._stats.move_to_end(key)
        else:
            if len(self._stats) >= self.max_entries:
                # Clients may name any "provider/model": forget the least recently used idle one.
                idle = next(
                    (k for k, s in self._stats.items() if s.in_flight == 0 and k not in self._pinned), None
                )
                if idle is not None:
                    del self._stats[idle]
            stats = self._stats[key] = TargetStats(alpha=self._alpha)
        return stats

    def snapshot(self, now: float | None = None) -> dict[str, dict[str, Any]]:
        return {key: stats.snapshot(now) for key, stats in self._stats.items()}


def _check_weights(weights: Sequence[float], count: int) -> None:
    if len(weights) != count:
        raise ValueError(f"weights has {len(weights)} entries for {count} targets; give one per target")
    for index, weight in enumerate(weights):
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weights[{index}] must be a finite number >= 0; got {weight!r}")
    if not any(weights):
        raise ValueError("weights are all zero; at least one target needs a positive weight")


def _busy(pair: tuple[TargetStats, Any]) -> int:
    return pair[0].in_flight


def _latency(pair: tuple[TargetStats, Any]) -> float:
    stats = pair[0]
    if stats.ewma_ttfb is None:
        return math.inf if stats.failed_unmeasured else _NO_SAMPLE
    return stats.ewma_ttfb


class Balancer(Generic[T]):
    """The try-order for one alias, decided per request."""

    def __init__(
        self,
        strategy: str,
        targets: Sequence[T],
        weights: Sequence[float] | None,
        stats: StatsBoard,
        rng: random.Random,
        key: Callable[[T], str] = attrgetter("label"),
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
        if not targets:
            raise ValueError("needs at least one target")
        # Checked under every strategy: configured weights that are wrong are wrong either way.
        if weights is not None:
            _check_weights(weights, len(targets))
        self.strategy = strategy
        self._rng = rng
        # A tuple, returned as is by `ordered` and whenever there is nothing to choose.
        self._configured: tuple[T, ...] = tuple(targets)
        # Stats objects resolved once, so a request does no dict lookups.
        self._pairs = tuple((stats.pin(key(t)), t) for t in self._configured)
        self._order: Callable[[], Sequence[T]] = self._ordered

        if strategy == "weighted":
            ws = weights if weights is not None else (1.0,) * len(self._configured)
            self._drawn = tuple((float(w), t) for w, t in zip(ws, self._configured, strict=True) if w > 0)
            # Zero weight: never drawn, only tried after every positive target, in configured order.
            self._tail = [t for w, t in zip(ws, self._configured, strict=True) if w == 0]
            if len(self._drawn) > 1:
                self._order = self._weighted
            else:
                self._configured = tuple(t for _, t in self._drawn) + tuple(self._tail)
        elif len(self._configured) > 1:
            if strategy == "least-busy":
                self._order = self._least_busy
            elif strategy == "latency":
                self._order = self._fastest

    def order(self) -> Sequence[T]:
        """A permutation of the targets. Read-only: ``ordered`` returns the same tuple every time."""
        return self._order()

    def _ordered(self) -> Sequence[T]:
        return self._configured

    def _weighted(self) -> list[T]:
        # Efraimidis-Spirakis in log space: sorting by the key u ** (1/w) descending equals sorting
        # by E/w ascending with E = -ln(u) ~ Exp(1), i.e. by an Exp(w) draw. That is a weighted
        # permutation without replacement (first pick ∝ w, then ∝ w among the rest, ...), and
        # unlike u ** (1/w) it does not underflow to ties at 0 for tiny weights.
        expo = self._rng.expovariate
        drawn = sorted(self._drawn, key=lambda pair: expo(pair[0]))
        order = [t for _, t in drawn]
        order += self._tail
        return order

    def _least_busy(self) -> list[T]:
        # sorted() is stable, so ties keep the configured order.
        return [t for _, t in sorted(self._pairs, key=_busy)]

    def _fastest(self) -> list[T]:
        return [t for _, t in sorted(self._pairs, key=_latency)]
