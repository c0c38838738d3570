"""SpendCounters, the same behaviour in memory and in a real Redis: reservations never pass a
budget under concurrency, settlements free what was not used, expired reservations free theirs,
a new period starts at zero, seeds fill only empty counters. Then what is memory's alone:
bounded state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from attrs import define

from sluicegate_governance.counters import MemoryCounters, TooManyReservations
from sluicegate_governance.model import Budget, Period, Team, VirtualKey
from sluicegate_governance.periods import claims_for, period_bounds
from sluicegate_governance.protocols import Admission, Claim, SpendCounters
from sluicegate_governance.redis_counters import RedisCounters

NOON = datetime(2024, 3, 10, 12, tzinfo=UTC).timestamp()
TTL = 60.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@define
class Rig:
    """Counters on one backend: ``make()`` gives an instance sharing it (in memory: the same one)."""

    kind: str
    mono: FakeClock
    wall: FakeClock
    make: Callable[[], Any]

    def advance(self, seconds: float) -> None:
        self.mono.now += seconds
        self.wall.now += seconds


@pytest.fixture(params=["memory", "redis"])
async def rig(request):
    mono, wall = FakeClock(1000.0), FakeClock(NOON)
    made: list[Any] = []
    if request.param == "memory":
        shared = MemoryCounters(clock=mono)
        made.append(shared)

        def make():
            return shared
    else:
        server = request.getfixturevalue("redis_server")

        def make():
            # A generous timeout: a loaded test machine must not look like a Redis outage here.
            counters = RedisCounters.from_url(server.url, clock=mono, wall_clock=wall, timeout=5.0)
            made.append(counters)
            return counters
    yield Rig(request.param, mono, wall, make)
    for counters in made:
        await counters.aclose()


def budgets(now: float, *, key_limit: float | None = 1.0, team_limit: float | None = None,
            key_period: Period = Period.DAY) -> list[Claim]:
    key = VirtualKey(id="key_0000000000000001", name="ci", digest="d" * 64, prefix="sk-sg-aaaaaa",
                     team_id="team_0000000000000001",
                     budget=None if key_limit is None else Budget(amount=key_limit, period=key_period))
    team = Team(id="team_0000000000000001", name="search",
                budget=None if team_limit is None else Budget(amount=team_limit, period=Period.MONTH))
    return claims_for(key, team, now)


def still_shared(counters: Any) -> None:
    """Redis answered every call (no answer came from the local fallback)."""
    assert getattr(counters, "shared", True)


async def test_both_backends_are_spend_counters(rig):
    assert isinstance(rig.make(), SpendCounters)


async def test_concurrent_reserves_admit_exactly_what_the_budget_covers(rig):
    counters = rig.make()
    claims = budgets(rig.wall(), key_limit=1.0)
    admissions = await asyncio.gather(*(counters.reserve(claims, 0.1, ttl=TTL) for _ in range(100)))
    admitted = [a for a in admissions if a.admitted]
    assert len(admitted) == 10
    assert len({a.ticket for a in admitted}) == 10
    refused = [a for a in admissions if not a.admitted]
    assert all(a.refused_by == claims[0] and a.ticket is None for a in refused)
    assert refused[0].reserved == pytest.approx(1.0)
    assert await counters.state(claims[0]) == (0.0, pytest.approx(1.0))
    still_shared(counters)


async def test_a_request_must_fit_both_the_keys_and_the_teams_budget(rig):
    counters = rig.make()
    key, team = claims = budgets(rig.wall(), key_limit=10.0, team_limit=1.0)
    first = await counters.reserve(claims, 0.6, ttl=TTL)
    assert first.admitted
    # The team is the tightest: the admission reports its figures, this reservation included.
    assert (first.spent, first.reserved) == (0.0, pytest.approx(0.6))
    second = await counters.reserve(claims, 0.6, ttl=TTL)
    assert not second.admitted and second.refused_by == team
    assert (second.spent, second.reserved) == (0.0, pytest.approx(0.6))
    # All or nothing: the refused request reserved nothing on the key either.
    assert await counters.state(key) == (0.0, pytest.approx(0.6))
    assert await counters.state(team) == (0.0, pytest.approx(0.6))


async def test_settling_less_than_the_estimate_frees_the_rest(rig):
    counters = rig.make()
    claims = budgets(rig.wall(), key_limit=1.0)
    first = await counters.reserve(claims, 0.6, ttl=TTL)
    assert not (await counters.reserve(claims, 0.6, ttl=TTL)).admitted
    await counters.settle(claims, first.ticket, 0.2)
    assert await counters.state(claims[0]) == (pytest.approx(0.2), 0.0)
    assert (await counters.reserve(claims, 0.6, ttl=TTL)).admitted
    # 0.2 spent + 0.6 in flight + 0.2 is the budget exactly, rounding errors notwithstanding.
    assert (await counters.reserve(claims, 0.2, ttl=TTL)).admitted
    assert not (await counters.reserve(claims, 0.01, ttl=TTL)).admitted


async def test_a_request_that_fits_exactly_is_not_refused_for_a_rounding_error(rig):
    counters = rig.make()
    claims = budgets(rig.wall(), key_limit=0.3)
    assert (await counters.reserve(claims, 0.1, ttl=TTL)).admitted
    assert (await counters.reserve(claims, 0.2, ttl=TTL)).admitted  # 0.1 + 0.2 > 0.3 in floats
    assert not (await counters.reserve(claims, 0.000001, ttl=TTL)).admitted


async def test_settling_more_than_the_estimate_counts_all_of_it(rig):
    counters = rig.make()
    claims = budgets(rig.wall(), key_limit=1.0)
    admission = await counters.reserve(claims, 0.5, ttl=TTL)
    await counters.settle(claims, admission.ticket, 1.5)
    assert await counters.state(claims[0]) == (pytest.approx(1.5), 0.0)
    refused = await counters.reserve(claims, 0.0, ttl=TTL)
    assert not refused.admitted and refused.spent == pytest.approx(1.5)


async def test_a_settlement_without_its_reservation_still_counts(rig):
    # The reservation expired (a stream longer than the ttl), or its ticket is unknown: the
    # money was spent all the same.
    counters = rig.make()
    claims = budgets(rig.wall(), key_limit=1.0)
    admission = await counters.reserve(claims, 0.5, ttl=TTL)
    rig.advance(TTL)
    await counters.settle(claims, admission.ticket, 0.3)
    await counters.settle(claims, "no-such-ticket", 0.1)
    assert await counters.state(claims[0]) == (pytest.approx(0.4), 0.0)


async def test_an_unsettled_reservation_frees_the_budget_after_its_ttl(rig):
    counters = rig.make()
    claims = budgets(rig.wall(), key_limit=1.0)
    assert (await counters.reserve(claims, 1.0, ttl=TTL)).admitted
    rig.advance(TTL - 1)
    assert not (await counters.reserve(claims, 0.1, ttl=TTL)).admitted
    rig.advance(1)  # exactly the ttl: expired
    assert await counters.state(claims[0]) == (0.0, 0.0)
    assert (await counters.reserve(claims, 1.0, ttl=TTL)).admitted


async def test_a_new_period_starts_from_zero(rig):
    counters = rig.make()
    today = budgets(rig.wall(), key_limit=1.0)
    spent = await counters.reserve(today, 1.0, ttl=TTL)
    await counters.settle(today, spent.ticket, 1.0)
    late = await counters.reserve(today, 0.0, ttl=3600 * 13)
    assert late.admitted  # 1.0 of 1.0: nothing more fits, but nothing is nothing
    assert not (await counters.reserve(today, 0.1, ttl=TTL)).admitted

    rig.advance(12 * 3600)  # midnight UTC: a new day
    tomorrow = budgets(rig.wall(), key_limit=1.0)
    assert tomorrow[0].period_start == today[0].period_end
    assert await counters.state(tomorrow[0]) == (0.0, 0.0)
    carried = await counters.reserve(tomorrow, 0.4, ttl=TTL)
    assert carried.admitted
    # A reservation made yesterday is charged to yesterday, not to the new day.
    await counters.settle(today, late.ticket, 0.5)
    assert await counters.state(tomorrow[0]) == (0.0, pytest.approx(0.4))
    assert (await counters.reserve(tomorrow, 0.6, ttl=TTL)).admitted


async def test_a_total_budget_never_renews(rig):
    counters = rig.make()
    claims = budgets(rig.wall(), key_limit=2.0, key_period=Period.TOTAL)
    admission = await counters.reserve(claims, 2.0, ttl=TTL)
    await counters.settle(claims, admission.ticket, 2.0)
    rig.advance(400 * 86400)
    later = budgets(rig.wall(), key_limit=2.0, key_period=Period.TOTAL)
    assert later == claims
    assert await counters.state(later[0]) == (pytest.approx(2.0), 0.0)
    assert not (await counters.reserve(later, 0.1, ttl=TTL)).admitted


async def test_seed_sets_spent_only_where_there_is_none(rig):
    counters = rig.make()
    key, team = claims = budgets(rig.wall(), key_limit=1.0, team_limit=10.0)
    # The team's counter holds a reservation but no spend yet: a seed still sets it.
    admission = await counters.reserve([team], 0.5, ttl=TTL)
    await counters.seed(claims, {key.name: 0.7, team.name: 4.0, "key:someone-else": 3.0})
    assert await counters.state(key) == (pytest.approx(0.7), 0.0)
    assert await counters.state(team) == (pytest.approx(4.0), pytest.approx(0.5))
    await counters.seed(claims, {key.name: 0.1, team.name: 0.0})  # present: left alone
    assert (await counters.state(key))[0] == pytest.approx(0.7)
    await counters.settle([team], admission.ticket, 0.5)
    assert (await counters.state(team))[0] == pytest.approx(4.5)
    assert not (await counters.reserve(claims, 0.4, ttl=TTL)).admitted  # 0.7 + 0.4 > 1

    other = budgets(rig.wall() + 86400, key_limit=1.0)  # tomorrow's counter is another one
    await counters.seed(other, {})
    assert await counters.state(other[0]) == (0.0, 0.0)
    await counters.seed(other, {other[0].name: 0.25})
    assert await counters.state(other[0]) == (pytest.approx(0.25), 0.0)


async def test_an_unknown_counter_is_empty(rig):
    counters = rig.make()
    assert await counters.state(budgets(rig.wall())[0]) == (0.0, 0.0)


async def test_a_request_without_budgets_is_admitted(rig):
    counters = rig.make()
    admission = await counters.reserve([], 5.0, ttl=TTL)
    assert admission.admitted and admission.ticket
    await counters.settle([], admission.ticket, 5.0)


@pytest.mark.parametrize(("call", "message"), [
    (lambda c, claims: c.reserve(claims, -1.0, ttl=TTL), "amount must be a finite amount >= 0"),
    (lambda c, claims: c.reserve(claims, float("nan"), ttl=TTL), "amount must be a finite amount"),
    (lambda c, claims: c.reserve(claims, "1", ttl=TTL), "amount must be a number"),
    (lambda c, claims: c.reserve(claims, 1.0, ttl=0), "ttl must be"),
    (lambda c, claims: c.reserve(claims + claims, 1.0, ttl=TTL), "given twice"),
    (lambda c, claims: c.reserve([Claim("key:x", 0.0, None, -1.0)], 1.0, ttl=TTL), "limit must be"),
    (lambda c, claims: c.reserve([Claim("key:x", 10.0, 5.0, 1.0)], 1.0, ttl=TTL), "period_end"),
    (lambda c, claims: c.reserve(["key:x"], 1.0, ttl=TTL), "must be a Claim"),
    (lambda c, claims: c.settle(claims, "t", float("inf")), "actual must be a finite amount"),
    (lambda c, claims: c.seed(claims, {claims[0].name: -2}), "spent\\['key:key_0000000000000001'\\]"),
])
async def test_bad_input_is_refused_clearly(rig, call, message):
    counters = rig.make()
    with pytest.raises(ValueError, match=message):
        await call(counters, budgets(rig.wall()))
    still_shared(counters)


async def test_a_seed_from_a_database_may_be_a_decimal(rig):
    from decimal import Decimal

    counters = rig.make()
    claims = budgets(rig.wall())
    await counters.seed(claims, {claims[0].name: Decimal("0.25")})
    assert (await counters.state(claims[0]))[0] == pytest.approx(0.25)


# -- memory only ----------------------------------------------------------------------------------


async def test_memory_forgets_periods_that_ended():
    mono, wall = FakeClock(0.0), FakeClock(NOON)
    counters = MemoryCounters(clock=mono)
    start, end = period_bounds(Period.DAY, wall())
    for n in range(50):
        claims = [Claim(f"key:{n}", start, end, 1.0), Claim(f"team:{n}", 0.0, None, 5.0)]
        admission = await counters.reserve(claims, 0.1, ttl=TTL)
        await counters.settle(claims, admission.ticket, 0.1)
    assert counters.counters_held == 100
    wall.now += 12 * 3600  # the day's counters end; the total budgets' do not
    fresh = budgets(wall(), key_limit=1.0)
    await counters.reserve(fresh, 0.1, ttl=TTL)
    assert counters.counters_held == 50 + 1
    assert await counters.state(Claim("team:7", 0.0, None, 5.0)) == (pytest.approx(0.1), 0.0)


async def test_memory_caps_reservations_in_flight_and_says_so():
    mono, wall = FakeClock(0.0), FakeClock(NOON)
    counters = MemoryCounters(clock=mono, max_reservations=3)
    claims = budgets(wall(), key_limit=100.0)
    for _ in range(3):
        assert (await counters.reserve(claims, 1.0, ttl=TTL)).admitted
    with pytest.raises(TooManyReservations) as refused:
        await counters.reserve(claims, 1.0, ttl=TTL)
    assert refused.value.status == 503 and "3 budget reservations" in refused.value.message
    assert await counters.state(claims[0]) == (0.0, 3.0)  # the refusal reserved nothing
    mono.now += TTL  # expired reservations make room again
    assert (await counters.reserve(claims, 1.0, ttl=TTL)).admitted
    assert counters.reservations_held == 1


async def test_memory_drops_a_settled_reservation_from_every_counter():
    counters = MemoryCounters(clock=FakeClock(0.0))
    claims = budgets(NOON, key_limit=1.0, team_limit=1.0)
    admission = await counters.reserve(claims, 0.5, ttl=TTL)
    await counters.settle(claims, admission.ticket, 0.0)
    assert counters.reservations_held == 0
    assert [await counters.state(c) for c in claims] == [(0.0, 0.0), (0.0, 0.0)]


# -- the in-memory fast path: claims bound to their counters -----------------------------------------


def bound_counters(**limits: float) -> tuple[MemoryCounters, FakeClock, list[Claim]]:
    clock = FakeClock(1000.0)
    return MemoryCounters(clock=clock, max_reservations=limits.pop("cap", 100)), clock, budgets(NOON, **limits)


async def test_bound_reservations_admit_exactly_what_the_budget_covers_and_settle_in_place():
    counters, _, claims = bound_counters(key_limit=1.0, team_limit=0.5)
    bound = counters.bind(claims)
    held = [bound.reserve(0.1, TTL) for _ in range(8)]
    admitted = [h for h in held if type(h) is not Admission]
    refused = [h for h in held if type(h) is Admission]
    assert len(admitted) == 5  # the team's 0.5 binds first
    assert refused[0].refused_by == claims[1] and not refused[0].admitted
    assert refused[0].reserved == pytest.approx(0.5)
    assert await counters.state(claims[1]) == (0.0, pytest.approx(0.5))
    # Ticket reservations see the bound ones, and the other way round: one budget.
    assert not (await counters.reserve(claims, 0.1, ttl=TTL)).admitted
    bound.settle(admitted[0], 0.05)
    bound.settle(admitted[0], 0.0)  # a second settlement releases nothing more
    assert await counters.state(claims[1]) == (pytest.approx(0.05), pytest.approx(0.4))
    for held_one in admitted[1:]:
        bound.settle(held_one, 0.0)
    assert await counters.state(claims[0]) == (pytest.approx(0.05), 0.0)  # exactly 0: no float residue
    assert counters.reservations_held == 0


async def test_a_bound_reservation_never_settled_is_released_after_its_ttl():
    counters, clock, claims = bound_counters(key_limit=1.0)
    bound = counters.bind(claims)
    assert type(bound.reserve(1.0, TTL)) is not Admission
    assert type(bound.reserve(0.1, TTL)) is Admission  # the budget is held
    clock.now += TTL + 1
    assert type(bound.reserve(0.1, TTL)) is not Admission  # the first one expired, the sweep freed it
    assert counters.reservations_held == 1


async def test_bound_reservations_count_toward_the_in_flight_cap():
    counters, _, claims = bound_counters(key_limit=100.0, cap=3)
    bound = counters.bind(claims)
    for _ in range(3):
        assert type(bound.reserve(0.1, TTL)) is not Admission
    with pytest.raises(TooManyReservations):
        bound.reserve(0.1, TTL)
    with pytest.raises(TooManyReservations):
        await counters.reserve(claims, 0.1, ttl=TTL)


def test_binding_checks_the_claims():
    counters, _, claims = bound_counters(key_limit=1.0)
    with pytest.raises(ValueError, match="given twice"):
        counters.bind(claims + claims)
