"""Where keys and teams stand against their budgets this period: spent and in flight, read from
the live spend counters (a gateway: what admission decides with) or from the ledger's rollups
(the CLI, which has no counters; nothing is in flight there)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from sluicegate_governance.model import Budget, Team, VirtualKey
from sluicegate_governance.periods import claim
from sluicegate_governance.protocols import GovernanceStore, SpendCounters
from sluicegate_governance.views import Spend

log = logging.getLogger("sluicegate.governance")

#: Counter reads in flight at once while a long list of keys is shown.
CONCURRENT_READS = 64

Owner = tuple[str, Budget | None]  # ("key:<id>" or "team:<id>", its budget)


def key_owner(key: VirtualKey) -> Owner:
    return ("key:" + key.id, key.budget)


def team_owner(team: Team) -> Owner:
    return ("team:" + team.id, team.budget)


async def from_counters(counters: SpendCounters, owners: Iterable[Owner], now: float) -> dict[str, Spend | None]:
    """Each owner's standing by its name; None without a budget, or when the counters cannot
    say (the view then shows a budget with no spend: unknown, not zero)."""
    gate = asyncio.Semaphore(CONCURRENT_READS)

    async def one(name: str, budget: Budget | None) -> Spend | None:
        if budget is None:
            return None
        wanted = claim(name, budget, now)
        async with gate:
            try:
                spent, reserved = await counters.state(wanted)
            except Exception as exc:  # a listing must not fail because a counter read did
                log.warning("governance: cannot read the spend of %s (%s)", name, type(exc).__name__)
                return None
        return Spend(wanted, float(spent), float(reserved))

    listed = list(owners)
    found = await asyncio.gather(*(one(name, budget) for name, budget in listed))
    return {name: spend for (name, _), spend in zip(listed, found, strict=True)}


async def from_ledger(store: GovernanceStore, owners: Iterable[Owner], now: float) -> dict[str, Spend | None]:
    """Each owner's spend this period as the ledger recorded it (one query per period start)."""
    claims = {name: claim(name, budget, now) for name, budget in owners if budget is not None}
    spent = await store.spend(since={name: wanted.period_start for name, wanted in claims.items()}) if claims else {}
    return {name: Spend(wanted, spent.get(name, 0.0), 0.0) for name, wanted in claims.items()}
