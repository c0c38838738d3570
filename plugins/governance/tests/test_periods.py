"""Budget periods: calendar-aligned in UTC, boundaries belong to the period they start, and the
claims a key and its team put on a request."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from sluicegate_governance.model import Budget, Period, Team, VirtualKey
from sluicegate_governance.periods import claims_for, period_bounds
from sluicegate_governance.protocols import Claim


def at(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


def key(budget: Budget | None = None, team_id: str | None = None) -> VirtualKey:
    return VirtualKey(id="key_0123456789abcdef", name="ci", digest="d" * 64, prefix="sk-sg-abcdef",
                      team_id=team_id, budget=budget)


def team(budget: Budget | None = None) -> Team:
    return Team(id="team_0123456789abcdef", name="search", budget=budget)


@pytest.mark.parametrize(("now", "start", "end"), [
    (at(2024, 3, 10, 12, 30), at(2024, 3, 10), at(2024, 3, 11)),
    (at(2024, 3, 10), at(2024, 3, 10), at(2024, 3, 11)),  # midnight starts the new day
    (at(2024, 3, 10) - 0.001, at(2024, 3, 9), at(2024, 3, 10)),  # a millisecond before is the old
    (at(2023, 12, 31, 23, 59, 59), at(2023, 12, 31), at(2024, 1, 1)),  # across the year
])
def test_day(now, start, end):
    assert period_bounds(Period.DAY, now) == (start, end)


@pytest.mark.parametrize(("now", "start"), [
    (at(2024, 3, 13, 8), at(2024, 3, 11)),  # a Wednesday: back to Monday
    (at(2024, 3, 11), at(2024, 3, 11)),  # Monday 00:00 exactly
    (at(2024, 3, 17, 23, 59, 59), at(2024, 3, 11)),  # the Sunday after, last second
    (at(2024, 3, 18), at(2024, 3, 18)),  # the next Monday
    (at(2025, 1, 1, 12), at(2024, 12, 30)),  # ISO week 1 of 2025 starts in December 2024
])
def test_iso_week_starts_monday(now, start):
    assert datetime.fromtimestamp(start, UTC).weekday() == 0
    assert period_bounds(Period.WEEK, now) == (start, start + 7 * 86400)


@pytest.mark.parametrize(("now", "start", "end"), [
    (at(2024, 3, 15, 9), at(2024, 3, 1), at(2024, 4, 1)),
    (at(2023, 12, 31, 23, 59, 59), at(2023, 12, 1), at(2024, 1, 1)),  # December ends in January
    (at(2024, 1, 1), at(2024, 1, 1), at(2024, 2, 1)),  # the 1st 00:00 starts the month
    (at(2024, 2, 29, 12), at(2024, 2, 1), at(2024, 3, 1)),  # leap year: February has 29 days
    (at(2023, 2, 28, 23), at(2023, 2, 1), at(2023, 3, 1)),  # and 28 otherwise
    (at(2024, 3, 1) - 0.001, at(2024, 2, 1), at(2024, 3, 1)),
])
def test_month(now, start, end):
    assert period_bounds(Period.MONTH, now) == (start, end)


def test_month_lengths():
    assert period_bounds(Period.MONTH, at(2024, 2, 10))[1] - at(2024, 2, 1) == 29 * 86400
    assert period_bounds(Period.MONTH, at(2023, 2, 10))[1] - at(2023, 2, 1) == 28 * 86400
    assert period_bounds(Period.MONTH, at(2024, 1, 10))[1] - at(2024, 1, 1) == 31 * 86400


def test_total_never_renews():
    assert period_bounds(Period.TOTAL, at(2024, 3, 15)) == (0.0, None)


def test_a_period_named_as_text_is_accepted_and_a_wrong_one_refused():
    assert period_bounds("day", at(2024, 3, 15, 9)) == (at(2024, 3, 15), at(2024, 3, 16))
    with pytest.raises(ValueError, match="fortnight"):
        period_bounds("fortnight", at(2024, 3, 15))


@pytest.mark.parametrize("now", [math.nan, math.inf])
def test_a_time_that_is_no_time_is_refused(now):
    with pytest.raises(ValueError, match="finite"):
        period_bounds(Period.DAY, now)


def test_claims_of_a_key_and_its_team():
    now = at(2024, 3, 15, 9)
    claims = claims_for(key(Budget(amount=5, period=Period.DAY), team_id="team_0123456789abcdef"),
                        team(Budget(amount=100.0, period=Period.MONTH)), now)
    assert claims == [
        Claim(name="key:key_0123456789abcdef", period_start=at(2024, 3, 15), period_end=at(2024, 3, 16), limit=5.0),
        Claim(name="team:team_0123456789abcdef", period_start=at(2024, 3, 1), period_end=at(2024, 4, 1),
              limit=100.0),
    ]
    assert isinstance(claims[0].limit, float)


def test_only_owners_with_a_budget_claim():
    now = at(2024, 3, 15, 9)
    assert claims_for(key(), None, now) == []
    assert claims_for(key(team_id="team_0123456789abcdef"), team(), now) == []
    only_team = claims_for(key(team_id="team_0123456789abcdef"), team(Budget(amount=3, period=Period.TOTAL)), now)
    assert only_team == [Claim(name="team:team_0123456789abcdef", period_start=0.0, period_end=None, limit=3.0)]
    only_key = claims_for(key(Budget(amount=1, period=Period.WEEK)), None, now)
    assert [c.name for c in only_key] == ["key:key_0123456789abcdef"]
    assert only_key[0].period_start == at(2024, 3, 11)


def test_a_team_that_is_not_the_keys_is_refused():
    with pytest.raises(ValueError, match="not key"):
        claims_for(key(team_id="team_ffffffffffffffff"), team(Budget(amount=1)), at(2024, 3, 15))
