"""Budget counters in this process's memory: the ``SpendCounters`` of a single instance, and what
``RedisCounters`` enforces from while Redis is away.

A counter is one budget owner in one period, ``(name, period_start)``: what was spent and the
reservations in flight. A reservation lives until it is settled or its ``ttl`` runs out on the
monotonic ``clock``, so a caller that vanished cannot hold budget for ever; expired ones are
dropped when their counter is next looked at. A period is over once a claim arrives for a
period starting at or after its end: the caller's clock says so, whatever clock this process
has (a test's or a skewed one cannot make it forget a current period). Counters of periods that
are over are dropped, one pass per period end, so memory holds current periods only. In-flight reservations are capped (``max_reservations``): past the cap ``reserve`` raises
``TooManyReservations`` rather than grow without bound.

Every method runs to completion without awaiting, so on one event loop a reservation is atomic.
"""

from __future__ import annotations

import itertools
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from attrs import define, field

from sluicegate.errors import GatewayError
from sluicegate_governance.protocols import Admission, Claim

Clock = Callable[[], float]
#: A counter's identity: the owner's name and the start of its period.
CounterKey = tuple[str, float]

# Reservations in flight at once in one process; far above any real concurrency, it only
# bounds memory when callers reserve and never settle faster than the ttl frees them.
MAX_RESERVATIONS = 100_000
# Seconds between two looks for expired ``Bound`` reservations (they are released at most this
# late after their ttl; the ttl is minutes).
SWEEP_EVERY = 1.0
# A sum of float amounts can pass a limit by a rounding error (0.1 + 0.2 > 0.3); a request that
# fits exactly must not be refused for that. In currency units: a billionth is no money.
SLACK = 1e-9


class TooManyReservations(GatewayError):
    """The in-flight reservation cap is reached: the gateway is overloaded, which is not the
    key's fault, so it is refused as such (503, retry later). Nothing was reserved."""

    status = 503
    type = "server_error"
    code = "overloaded"


def counter_key(claim: Claim) -> CounterKey:
    return (claim.name, claim.period_start)


def drop_ended(entries: dict[CounterKey, Any], now: float, end_of: Callable[[Any], float | None]) -> float:
    """Delete the entries whose period ended by ``now``; return the earliest end left (inf: none),
    before which nothing needs looking at again."""
    upcoming = math.inf
    for key in list(entries):
        end = end_of(entries[key])
        if end is None:
            continue
        if end <= now:
            del entries[key]
        else:
            upcoming = min(upcoming, end)
    return upcoming


def check_claims(claims: Sequence[Claim]) -> None:
    """A clear ``ValueError`` for claims no counter can hold (each ``Claim`` checked its own
    fields when it was made; what is left is the list: claims, each named once)."""
    names: set[str] = set()
    for claim in claims:
        if type(claim) is not Claim:
            raise ValueError(f"a claim must be a Claim, got {type(claim).__name__}")
        if claim.name in names:
            raise ValueError(f"claim {claim.name!r} is given twice")
        names.add(claim.name)


def check_amount(what: str, value: float) -> float:
    """``value`` as a float, or a ``ValueError`` for a negative or non-finite amount."""
    if type(value) is float and 0.0 <= value < math.inf:
        return value  # the usual case, decided without a call
    try:
        # A database's sum may be a Decimal: any number will do, but not a bool or a string.
        number = None if isinstance(value, bool | str | bytes) else float(value)
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise ValueError(f"{what} must be a number, got {type(value).__name__}")
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{what} must be a finite amount >= 0, got {value!r}")
    return number


def check_ttl(ttl: float) -> float:
    if type(ttl) is float and 0.0 < ttl < math.inf:
        return ttl
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl must be a finite number of seconds > 0, got {ttl!r}")
    return float(ttl)


def fits(spent: float, reserved: float, amount: float, limit: float) -> bool:
    return spent + reserved + amount <= limit + SLACK


def verdict(claims: Sequence[Claim], states: Sequence[tuple[float, float]], amount: float,
            refused: int | None, ticket: str) -> Admission:
    """The ``Admission`` for ``states`` (each claim's spent and reserved before this request):
    refused by ``claims[refused]``, or admitted with the tightest claim's figures."""
    if refused is not None:
        spent, reserved = states[refused]
        return Admission(admitted=False, refused_by=claims[refused], spent=spent, reserved=reserved)
    if not claims:
        return Admission(admitted=True, ticket=ticket)
    spent, reserved = states[0]
    headroom = claims[0].limit - spent - reserved
    for claim, state in zip(claims, states, strict=True):
        if claim.limit - state[0] - state[1] < headroom:
            spent, reserved = state
            headroom = claim.limit - spent - reserved
    return Admission(admitted=True, ticket=ticket, spent=spent, reserved=reserved + amount)


@define(slots=True)
class _Counter:
    period_end: float | None
    # None until a settlement or a seed sets it: a counter that only ever held reservations
    # "does not exist yet" for ``seed``, as in Redis (where reservations live in another key).
    spent: float | None = None
    tickets: dict[str, float] = field(factory=dict)  # reservation ticket -> amount
    # The sum of ``tickets`` kept as it changes, and the earliest expiry among them: a
    # reservation costs O(1), and only a counter with an expired ticket is ever scanned.
    reserved: float = 0.0
    next_expiry: float = math.inf
    # Reservations made through ``Bound`` (no ticket): their sum, and how many are open (at 0
    # the sum is set back to exactly 0.0: no float residue).
    held: float = 0.0
    holds: int = 0

    def add(self, ticket: str, amount: float, expires: float) -> None:
        self.tickets[ticket] = amount
        self.reserved += amount
        if expires < self.next_expiry:
            self.next_expiry = expires

    def remove(self, ticket: str) -> None:
        amount = self.tickets.pop(ticket, None)
        if amount is None:
            return
        if self.tickets:
            self.reserved -= amount
        else:  # no float residue left behind by additions and subtractions
            self.reserved, self.next_expiry = 0.0, math.inf


@define(frozen=True, slots=True)
class _Reservation:
    expires: float  # monotonic seconds
    counters: tuple[CounterKey, ...]


@define(slots=True, eq=False)
class Held:
    """A reservation made through ``Bound.reserve``: settled, or expired, once."""

    counters: tuple[_Counter, ...]
    amount: float
    expires: float  # monotonic seconds
    open: bool = True


class Bound:
    """A list of claims with its counters looked up once (``MemoryCounters.bind``).

    The guard keeps one per key and period, so a request's reservation and settlement touch the
    counters directly: no ticket, no lookup, no check of claims checked already. It holds what
    ``reserve`` holds (a reservation expires after its ``ttl`` if never settled), and counts in
    the same totals, so both ways of reserving see each other."""

    __slots__ = ("claims", "counters", "_owner", "_ceilings")

    def __init__(self, owner: MemoryCounters, claims: tuple[Claim, ...], counters: tuple[_Counter, ...]) -> None:
        self.claims = claims
        self.counters = counters
        self._owner = owner
        # Each counter with the most it may reach: its claim's limit and the rounding slack.
        self._ceilings = tuple((counter, claim.limit + SLACK) for claim, counter in zip(claims, counters, strict=True))

    def reserve(self, amount: float, ttl: float) -> Held | Admission:
        """Held, when ``amount`` fits every claim; else the refusal (nothing held)."""
        owner = self._owner
        now = owner._clock()
        if now >= owner._next_sweep:
            owner._sweep(now)
        for counter, ceiling in self._ceilings:
            # In flight without a call while nothing of the counter's has expired (the usual case).
            flight = counter.reserved + counter.held if now < counter.next_expiry else owner._in_flight(counter, now)
            if not (counter.spent or 0.0) + flight + amount <= ceiling:
                return self._refusal(amount, now)
        if len(owner._reservations) + len(owner._held) >= owner._max_reservations:
            owner._admit_one()  # expires what it can, or refuses
        for counter in self.counters:
            counter.held += amount
            counter.holds += 1
        held = Held(self.counters, amount, now + ttl)
        owner._held.add(held)
        return held

    def _refusal(self, amount: float, now: float) -> Admission:
        owner = self._owner
        states = [(c.spent or 0.0, owner._in_flight(c, now)) for c in self.counters]
        refused = next(i for i, (c, (spent, reserved)) in enumerate(zip(self.claims, states, strict=True))
                       if not fits(spent, reserved, amount, c.limit))
        return verdict(self.claims, states, amount, refused, "")

    def settle(self, held: Held, actual: float) -> None:
        """Replace ``held`` by the ``actual`` cost (a second call, or one after expiry, only
        adds nothing twice: the reservation is released once, the cost counted once)."""
        if held.open:
            self._owner._release(held)
        if actual:
            for counter in held.counters:
                counter.spent = (counter.spent or 0.0) + actual


class MemoryCounters:
    """``SpendCounters`` in one process's memory (no I/O; every method completes at once)."""

    def __init__(self, *, clock: Clock = time.monotonic, max_reservations: int = MAX_RESERVATIONS) -> None:
        if max_reservations < 1:
            raise ValueError(f"max_reservations must be at least 1, got {max_reservations!r}")
        self._clock = clock
        self._max_reservations = max_reservations
        self._counters: dict[CounterKey, _Counter] = {}
        # Tickets: this process's random prefix and a count (unique without a syscall each).
        self._tickets = map(f"{secrets.token_hex(6)}-{{}}".format, itertools.count())
        self._reservations: dict[str, _Reservation] = {}
        # The latest period start claimed: every period ending by then is over.
        self._latest_start = -math.inf
        # The earliest end among the counters held: nothing to prune before then.
        self._next_prune = math.inf
        # Reservations made through ``Bound``, open; looked at for expiry once a second.
        self._held: set[Held] = set()
        self._next_sweep = -math.inf

    @property
    def counters_held(self) -> int:
        """Counters in memory (current periods, and ended ones not yet pruned)."""
        return len(self._counters)

    @property
    def reservations_held(self) -> int:
        """Reservations in memory, expired ones not yet dropped included."""
        return len(self._reservations) + len(self._held)

    def bind(self, claims: Sequence[Claim]) -> Bound:
        """``claims`` with their counters, for reserving and settling without awaiting."""
        check_claims(claims)
        self._prune(claims)
        return Bound(self, tuple(claims), tuple(self._counter(claim) for claim in claims))

    def _admit_one(self) -> None:
        """Room for one more reservation, or ``TooManyReservations``."""
        if len(self._reservations) + len(self._held) >= self._max_reservations:
            now = self._clock()
            self._expire_all(now)
            self._sweep(now)
            if len(self._reservations) + len(self._held) >= self._max_reservations:
                raise TooManyReservations(
                    f"The gateway holds {self._max_reservations} budget reservations in flight, its "
                    "limit; try again shortly.", retryable=True)

    def _release(self, held: Held) -> None:
        held.open = False
        self._held.discard(held)
        for counter in held.counters:
            counter.holds -= 1
            counter.held = counter.held - held.amount if counter.holds else 0.0

    def _sweep(self, now: float) -> None:
        """Release the ``Bound`` reservations whose ttl ran out (their caller never settled)."""
        self._next_sweep = now + SWEEP_EVERY
        for held in [held for held in self._held if held.expires <= now]:
            self._release(held)

    async def reserve(self, claims: Sequence[Claim], amount: float, *, ttl: float,
                      ticket: str | None = None) -> Admission:
        """``SpendCounters.reserve``; ``ticket`` names the reservation (``RedisCounters`` keeps
        the id it sent to Redis, so a later settlement clears both)."""
        check_claims(claims)
        amount = check_amount("amount", amount)
        ttl = check_ttl(ttl)
        ticket = ticket or next(self._tickets)
        if ticket in self._reservations:
            raise ValueError("that ticket is already reserved")
        now = self._clock()
        self._prune(claims)
        self._admit_one()
        counters = [self._counter(claim) for claim in claims]
        states = [(counter.spent or 0.0, self._in_flight(counter, now)) for counter in counters]
        refused = None
        for index, claim in enumerate(claims):
            spent, reserved = states[index]
            if not spent + reserved + amount <= claim.limit + SLACK:  # fits(), inlined: every request
                refused = index
                break
        if refused is None and claims:
            expires = now + ttl
            for counter in counters:
                counter.add(ticket, amount, expires)
            self._reservations[ticket] = _Reservation(expires, tuple([(c.name, c.period_start) for c in claims]))
        return verdict(claims, states, amount, refused, ticket)

    async def settle(self, claims: Sequence[Claim], ticket: str, actual: float) -> None:
        self.settle_now(claims, ticket, actual)

    def settle_now(self, claims: Sequence[Claim], ticket: str, actual: float) -> None:
        """``settle`` without awaiting: a settlement here never waits, so the request's finish
        settles in place instead of scheduling a task for it."""
        # The claims are the ones ``reserve`` checked.
        actual = check_amount("actual", actual)
        self._drop(ticket)
        if actual == 0:
            return
        self._prune(claims)
        for claim in claims:
            counter = self._counters.get(counter_key(claim))
            if counter is None:
                if claim.period_end is not None and claim.period_end <= self._latest_start:
                    continue  # a period that is over: no budget left to guard
                counter = self._counter(claim)
            counter.spent = (counter.spent or 0.0) + actual

    async def seed(self, claims: Sequence[Claim], spent: Mapping[str, float]) -> None:
        check_claims(claims)
        values = {claim.name: check_amount(f"spent[{claim.name!r}]", spent[claim.name])
                  for claim in claims if claim.name in spent}
        self._prune(claims)
        for claim in claims:
            if claim.name in values:
                counter = self._counter(claim)
                if counter.spent is None:
                    counter.spent = values[claim.name]

    async def state(self, claim: Claim) -> tuple[float, float]:
        counter = self._counters.get(counter_key(claim))
        if counter is None:
            return (0.0, 0.0)
        return (counter.spent or 0.0, self._in_flight(counter, self._clock()))

    async def aclose(self) -> None:
        self._counters.clear()
        self._reservations.clear()
        self._held.clear()

    def _counter(self, claim: Claim) -> _Counter:
        key = counter_key(claim)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter(claim.period_end)
            if claim.period_end is not None:
                self._next_prune = min(self._next_prune, claim.period_end)
        return counter

    def _in_flight(self, counter: _Counter, now: float) -> float:
        """The amount ``counter`` has in flight, after dropping its expired reservations."""
        if now >= counter.next_expiry:
            expired = [ticket for ticket in counter.tickets
                       if (held := self._reservations.get(ticket)) is None or held.expires <= now]
            for ticket in expired:
                counter.remove(ticket)
                self._drop(ticket)
            counter.reserved = sum(counter.tickets.values())
            counter.next_expiry = min((self._reservations[t].expires for t in counter.tickets), default=math.inf)
        return counter.reserved + counter.held

    def _drop(self, ticket: str) -> None:
        held = self._reservations.pop(ticket, None)
        if held is None:
            return
        for key in held.counters:
            counter = self._counters.get(key)
            if counter is not None:
                counter.remove(ticket)

    def _expire_all(self, now: float) -> None:
        for ticket in [t for t, held in self._reservations.items() if held.expires <= now]:
            self._drop(ticket)

    def _prune(self, claims: Sequence[Claim]) -> None:
        """Forget counters whose period is over (one pass per period end, not per call)."""
        for claim in claims:
            if claim.period_start > self._latest_start:
                self._latest_start = claim.period_start
        if self._latest_start >= self._next_prune:
            # A dropped counter's reservations stay until settled or expired: they may hold a
            # team's budget too, whose period goes on.
            self._next_prune = drop_ended(self._counters, self._latest_start, lambda counter: counter.period_end)
