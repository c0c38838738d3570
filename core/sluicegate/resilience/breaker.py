"""Circuit breakers per (provider, model) target: the state machine and the board that holds them.

Also the default plugin ``sluicegate.breakers``: breaker policy ``consecutive`` (``[breaker]
policy = "consecutive"``, the default).
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from sluicegate.config.resilience import BreakerOptions
from sluicegate.hookspecs import hookimpl
from sluicegate.services import Services

Clock = Callable[[], float]
OnTransition = Callable[[str, "BreakerState", "BreakerState"], None]


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class OutcomeWindow:
    """Call outcomes of the last ``span`` seconds, counted in fixed-width slots.

    Slots rather than one entry per call keep memory bounded by the span, not by the traffic.
    """

    def __init__(self, span: float) -> None:
        self._span = span
        # Second-wide slots, but at least ten per window: a slot whose start is `span` old is
        # dropped whole, so a slot as wide as the window could forget a call at once.
        self._width = min(1.0, span / 10)
        self._slots: deque[list[int]] = deque()  # [slot index, calls, failures], oldest first
        self.calls = 0
        self.failures = 0

    def add(self, now: float, failed: bool) -> None:
        self.prune(now)
        index = math.floor(now / self._width)
        if self._slots and self._slots[-1][0] == index:
            slot = self._slots[-1]
        else:
            slot = [index, 0, 0]
            self._slots.append(slot)
        slot[1] += 1
        slot[2] += failed
        self.calls += 1
        self.failures += failed

    def clear(self) -> None:
        self._slots.clear()
        self.calls = self.failures = 0

    def prune(self, now: float) -> None:
        # A slot leaves as soon as its start is `span` old, so nothing counted is older than
        # the window (the price: outcomes may leave up to one slot width early).
        horizon = now - self._span
        while self._slots and self._slots[0][0] * self._width <= horizon:
            _, calls, failures = self._slots.popleft()
            self.calls -= calls
            self.failures -= failures


class Breaker:
    """One (provider, model) target's breaker. Not thread-safe; lives on one event loop.

    Every ``acquire()`` that returned True must be ended by exactly one of ``record_success``,
    ``record_failure`` or ``release``; a half-open probe never ended keeps its slot forever.
    """

    def __init__(
        self,
        options: BreakerOptions,
        clock: Clock,
        on_transition: OnTransition | None = None,
        key: str = "",
    ) -> None:
        self.options = options
        self.key = key
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._opened = 0
        self._open_until = 0.0
        self._probes = 0
        rated = options.enabled and options.failure_rate is not None
        self._window = OutcomeWindow(options.window) if rated else None

    @property
    def state(self) -> BreakerState:
        # OPEN -> HALF_OPEN has no event of its own: it is noticed whenever someone looks.
        if self._state is BreakerState.OPEN and self._clock() >= self._open_until:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def acquire(self) -> bool:
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self._probes < self.options.half_open_probes:
            self._probes += 1
            return True
        return False

    def record_success(self) -> None:
        state = self.state
        if state is BreakerState.CLOSED:
            self._consecutive = 0
            if self._window is not None:
                self._window.add(self._clock(), failed=False)
        elif state is BreakerState.HALF_OPEN:
            self._close()
        # OPEN: a call admitted before the breaker opened; the cooldown still has to run out.

    def record_failure(self, retry_after: float | None = None) -> None:
        if not self.options.enabled:
            return
        state = self.state
        if state is BreakerState.CLOSED:
            self._consecutive += 1
            if self._window is not None:
                self._window.add(self._clock(), failed=True)
            # Only failures are checked: opening on a success would blame the call that worked.
            if self._consecutive >= self.options.failure_threshold or self._rate_trips():
                self._open(retry_after)
        elif state is BreakerState.HALF_OPEN:
            self._consecutive += 1
            self._open(retry_after)
        # OPEN: a late answer to a call admitted before opening; letting it stretch the cooldown
        # would let stragglers keep a target out of service.

    def release(self) -> None:
        # Slots are only ever taken in HALF_OPEN and all given back on opening.
        if self._probes > 0:
            self._probes -= 1

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def retry_in(self) -> float:
        if self.state is BreakerState.OPEN:
            return self._open_until - self._clock()
        return 0.0

    def snapshot(self) -> dict[str, Any]:
        state = self.state
        snap: dict[str, Any] = {"state": str(state), "consecutive_failures": self._consecutive}
        if state is BreakerState.OPEN:
            snap["retry_in"] = round(self.retry_in(), 1)
        snap["opened"] = self._opened
        return snap

    def _rate_trips(self) -> bool:
        window = self._window
        if window is None or window.calls < self.options.min_calls:
            return False
        return window.failures / window.calls >= self.options.failure_rate

    def _open(self, retry_after: float | None) -> None:
        options = self.options
        cooldown = min(max(options.cooldown, retry_after or 0.0), options.max_cooldown)
        self._open_until = self._clock() + cooldown
        self._opened += 1
        self._probes = 0
        if self._window is not None:
            self._window.clear()
        self._move(BreakerState.OPEN)

    def _close(self) -> None:
        self._consecutive = 0
        self._move(BreakerState.CLOSED)

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        # State first, callback second: a callback that reads the breaker sees the new state.
        if self._on_transition is not None:
            self._on_transition(self.key, old, new)


class BreakerBoard:
    """All breakers of one assembly, made on first use per (provider, model).

    Clients may name any "provider/model", so the board is capped: past ``max_entries`` the least
    recently used breaker of a target the config does not name (``keep``) is forgotten, a quiet
    one (closed, no failures) before one that holds news. Configured targets are never
    forgotten, and every target keeps a breaker of its own.
    """

    def __init__(
        self,
        options: BreakerOptions,
        clock: Clock,
        on_transition: OnTransition | None = None,
        max_entries: int = 1024,
        keep: frozenset[str] = frozenset(),
    ) -> None:
        self.options = options
        self._clock = clock
        self._on_transition = on_transition
        # Least recently used first.
        self._breakers: OrderedDict[tuple[str, str], Breaker] = OrderedDict()
        self.max_entries = max_entries
        self.keep = keep

    def get(self, provider: str, model: str) -> Breaker:
        key = (provider, model)
        breaker = self._breakers.get(key)
        if breaker is not None:
            self._breakers.move_to_end(key)
            return breaker
        if len(self._breakers) >= self.max_entries:
            self._forget_a_quiet_one()
        breaker = Breaker(self.options, self._clock, self._on_transition, key=f"{provider}/{model}")
        self._breakers[key] = breaker
        return breaker

    def __len__(self) -> int:
        return len(self._breakers)

    def _forget_a_quiet_one(self) -> None:
        # A closed breaker with no failures holds nothing worth keeping, so the oldest such one
        # makes room; failing ones only go when no quiet one is left, oldest first, so a flood
        # of names cannot grow the board. A caller still holding a forgotten breaker only
        # updates an orphan.
        oldest = None
        for key, breaker in self._breakers.items():
            if breaker.key in self.keep:
                continue
            if breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 0:
                del self._breakers[key]
                return
            if oldest is None:
                oldest = key
        if oldest is not None:
            del self._breakers[oldest]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {breaker.key: breaker.snapshot() for breaker in self._breakers.values()}


def make_board(*, options: BreakerOptions, services: Services) -> BreakerBoard:
    # The targets the config names are never forgotten to make room for names clients invent.
    return BreakerBoard(options, services.clock, services.telemetry.breaker_changed,
                        keep=services.telemetry.known_targets)


@hookimpl
def register_breaker_policies(register):
    register("consecutive", make_board, options=BreakerOptions)
