"""Budget periods on the calendar, and the claims a request must fit.

Pure functions of the wall clock: a day runs from 00:00 UTC, an ISO week from Monday 00:00 UTC,
a month from the 1st 00:00 UTC; a ``total`` budget never renews. An instant exactly on a
boundary belongs to the period it starts. Every instance computes the same bounds from the
same time, so a period's start names its counter everywhere (``Claim.period_start``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sluicegate_governance.model import Budget, Period, Team, VirtualKey
from sluicegate_governance.protocols import Claim

DAY = 86_400.0


def period_bounds(period: Period, now: float) -> tuple[float, float | None]:
    """``(start, end)`` in wall-clock seconds of the ``period`` holding ``now``; ``end`` is the
    next period's start, or None for a total budget (whose start is 0)."""
    period = Period(period)  # a plain string ("month") is accepted; anything else is a ValueError
    if period is Period.TOTAL:
        return (0.0, None)
    if not math.isfinite(now):
        raise ValueError(f"now must be a finite time in seconds, got {now!r}")
    moment = datetime.fromtimestamp(now, UTC)
    midnight = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    if period is Period.DAY:
        start, end = midnight, midnight + timedelta(days=1)
    elif period is Period.WEEK:
        start = midnight - timedelta(days=moment.weekday())  # weekday(): Monday is 0
        end = start + timedelta(days=7)
    else:
        start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        if moment.month == 12:
            end = datetime(moment.year + 1, 1, 1, tzinfo=UTC)
        else:
            end = datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)
    return (start.timestamp(), end.timestamp())


def claim(name: str, budget: Budget, now: float) -> Claim:
    """The claim on ``budget`` (owned by ``name``) for the period holding ``now``."""
    start, end = period_bounds(budget.period, now)
    return Claim(name=name, period_start=start, period_end=end, limit=float(budget.amount))


def claims_for(key: VirtualKey, team: Team | None, now: float) -> list[Claim]:
    """The budgets a request on ``key`` must fit at ``now``: the key's (``"key:<id>"``), then
    its team's (``"team:<id>"``); none for an owner without a budget."""
    if team is not None and team.id != key.team_id:
        raise ValueError(f"team {team.id!r} is not key {key.id!r}'s team ({key.team_id!r})")
    claims = []
    if key.budget is not None:
        claims.append(claim("key:" + key.id, key.budget, now))
    if team is not None and team.budget is not None:
        claims.append(claim("team:" + team.id, team.budget, now))
    return claims
