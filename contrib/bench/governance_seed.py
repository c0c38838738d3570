"""Create the bench's issued key in a governance store before the gateway starts.

``python governance_seed.py URL SECRET`` opens the store (migrating it), and puts a team with a
budget and a key for ``SECRET`` with a budget, as a governed deployment would have: every bench
request then goes through the key lookup, the budget reservation and the settlement.
"""

from __future__ import annotations

import asyncio
import sys
import time

from sluicegate_governance.issued import digest, shown_prefix
from sluicegate_governance.model import Budget, Period, Team, VirtualKey
from sluicegate_governance.sql.store import SqlStore


async def seed(url: str, secret: str) -> None:
    store = SqlStore(url)
    await store.open()
    try:
        now = time.time()
        team = Team(id="team_bench", name="bench", budget=Budget(amount=1e12, period=Period.MONTH),
                    created_at=now, updated_at=now)
        await store.put_team(team)
        await store.put_key(VirtualKey(
            id="key_bench", name="bench", digest=digest(secret), prefix=shown_prefix(secret), team_id=team.id,
            budget=Budget(amount=1e12, period=Period.DAY), created_at=now, updated_at=now))
    finally:
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(seed(sys.argv[1], sys.argv[2]))
