"""What the governance plugin needs from its parts: the store (keys, teams, the ledger) and the
spend counters (budgets under concurrency). A database or counter backend another plugin
provides must offer these methods; they are checked when the gateway assembles."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from attrs import define

from sluicegate_governance.model import (
    Granularity,
    GroupBy,
    LedgerRow,
    LogPage,
    Snapshot,
    Team,
    UsagePoint,
    VirtualKey,
)


class StoreUnavailable(Exception):
    """The database could not be reached or answered with an error; the message is safe to show
    (no URL, no password)."""


class Conflict(Exception):
    """A write that breaks a uniqueness rule (a team name taken, a key id reused)."""


@runtime_checkable
class GovernanceStore(Protocol):
    """Keys, teams and the spend ledger in a database. Every method may raise ``StoreUnavailable``.

    The request path never calls it: keys are served from a ``Snapshot`` held in memory, and
    ledger rows are written in batches by a background task.
    """

    async def open(self) -> None:
        """Connect, and bring the schema to the newest revision when the store migrates on start."""

    async def aclose(self) -> None:
        """Close every connection."""

    # -- keys and teams (each change bumps the version) --------------------------------------

    async def version(self) -> int:
        """A number that grows with every change to a key or team: a cheap poll for caches."""

    async def snapshot(self) -> Snapshot:
        """Every key and team, with the version they are at."""

    async def put_team(self, team: Team) -> None:
        """Create or replace the team with ``team.id``; ``Conflict`` when its name is another's."""

    async def delete_team(self, team_id: str) -> bool:
        """False when there was no such team; ``Conflict`` while keys still belong to it."""

    async def put_key(self, key: VirtualKey) -> None:
        """Create or replace the key with ``key.id``; ``Conflict`` for a digest already stored
        under another id, or a ``team_id`` that names no team."""

    async def delete_key(self, key_id: str) -> bool:
        """False when there was no such key."""

    # -- the ledger ----------------------------------------------------------------------------

    async def record(self, rows: Sequence[LedgerRow]) -> None:
        """Append ``rows`` and add them to the hourly and daily rollups, in one transaction."""

    async def spend(self, *, since: Mapping[str, float]) -> dict[str, float]:
        """Cost since a time per owner, from the rollups (never a ledger scan): ``since`` maps
        ``"key:<id>"`` / ``"team:<id>"`` to a wall-clock start (an hour boundary); the answer
        maps the same names to the cost recorded from then on (0 when none)."""

    async def usage(
        self,
        *,
        start: float,
        end: float,
        granularity: Granularity,
        group_by: GroupBy | None = None,
        key_id: str | None = None,
        team_id: str | None = None,
        alias: str | None = None,
        provider: str | None = None,
    ) -> list[UsagePoint]:
        """Buckets in ``[start, end)`` from the rollups, oldest first."""

    async def logs(
        self,
        *,
        start: float | None = None,
        end: float | None = None,
        key_id: str | None = None,
        team_id: str | None = None,
        alias: str | None = None,
        provider: str | None = None,
        status: int | None = None,  # exact status, or 400: every error (>= 400)
        cursor: str | None = None,
        limit: int = 50,
    ) -> LogPage:
        """Ledger rows newest first, by keyset pagination (``ValueError`` for a bad cursor)."""

    async def purge(self, *, ledger_before: float, rollups_before: float) -> int:
        """Delete ledger rows and rollups older than the times given; the ledger rows deleted.
        The daily totals per key and team are kept: total budgets are seeded from them."""


@define(frozen=True, slots=True)
class Claim:
    """One budget a request must fit: the counter ``name`` (``"key:<id>"``, ``"team:<id>"``) in
    the period starting at ``period_start`` (wall-clock; 0 for a total budget), ending at
    ``period_end`` (None: never), with ``limit`` to spend in it. Checked when made (a
    ``ValueError`` naming the field), so counters take claims without checking them again on
    every request."""

    name: str
    period_start: float
    period_end: float | None
    limit: float

    def __attrs_post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("a claim needs a name (\"key:<id>\" or \"team:<id>\")")
        if not _finite_number(self.period_start):
            raise ValueError(f"claim {self.name!r}: period_start must be finite, got {self.period_start!r}")
        end = self.period_end
        if end is not None and not (_finite_number(end) and end > self.period_start):
            raise ValueError(f"claim {self.name!r}: period_end must come after period_start")
        if not (_finite_number(self.limit) and self.limit >= 0):
            raise ValueError(f"claim {self.name!r}: limit must be a finite amount >= 0, got {self.limit!r}")


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@define(frozen=True, slots=True)
class Admission:
    """A reservation's verdict. Refused: ``refused_by`` is the claim that did not fit (nothing
    was reserved). Admitted: ``ticket`` identifies the reservation for ``settle``."""

    admitted: bool
    ticket: str | None = None
    refused_by: Claim | None = None
    spent: float = 0.0  # of the refusing (or, admitted, the tightest) claim, after this reservation
    reserved: float = 0.0  # in flight on that claim, this reservation included


@runtime_checkable
class SpendCounters(Protocol):
    """Spend and in-flight reservations per budget, shared by every instance that shares the
    backend (in memory: this process only).

    A reservation that is never settled (its instance died) expires after ``ttl`` seconds, so
    a crash cannot hold budget for ever.

    Counters whose settlement never waits may also offer ``settle_now(claims, ticket, actual)``,
    a plain method doing what ``settle`` does: the gateway then settles in the request's finish
    instead of scheduling a task for it (``MemoryCounters`` does).
    """

    async def reserve(self, claims: Sequence[Claim], amount: float, *, ttl: float) -> Admission:
        """Atomically: if ``spent + reserved + amount <= limit`` for every claim, reserve
        ``amount`` on each; else reserve nothing."""

    async def settle(self, claims: Sequence[Claim], ticket: str, actual: float) -> None:
        """Drop the reservation ``ticket`` and add ``actual`` to each claim's spend (its period's:
        a reservation made before a period rolled over is charged to the period it was made in)."""

    async def seed(self, claims: Sequence[Claim], spent: Mapping[str, float]) -> None:
        """Set each claim's spend from the ledger (``spent[claim.name]``) where the counter does
        not exist yet for that period: a restart or a new instance starts from the record."""

    async def state(self, claim: Claim) -> tuple[float, float]:
        """(spent, reserved) of the claim's current period, for ``/v1/key/info`` and gauges."""

    async def aclose(self) -> None:
        """Release connections."""
