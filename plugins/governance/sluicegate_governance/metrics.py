"""Spend, tokens and budget headroom per issued key and team, on the gateway's ``/metrics``.

Labels are key and team ids the operator created, so the set is bounded by the store; past
``MAX_OWNERS`` distinct ones the rest are folded into ``other`` so a store with a very large
number of keys cannot grow the scrape without bound.

A finished request only adds to plain sums per key and team; they reach the counters when the
metrics extension flushes (``Families.flushers``): before each scrape of this process, and every
second, which is what a scrape of another worker sees under ``--workers N``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge

from sluicegate_governance.model import LedgerRow

MAX_OWNERS = 1000
OTHER = "other"


class GovernanceMetrics:
    """Made once per gateway (kept in ``services.lasting``) on the metrics extension's registry."""

    def __init__(self, families: Any) -> None:
        registry = None if families.multiprocess else families.registry
        self.spend = Counter("sluicegate_key_spend", "Spend (from [pricing]) per issued key and its team.",
                             ("key", "team"), registry=registry)
        self.tokens = Counter("sluicegate_key_tokens", "Tokens per issued key and its team, in and out.",
                              ("key", "team", "direction"), registry=registry)
        self.remaining = Gauge("sluicegate_budget_remaining",
                               "Budget left this period (limit - spent - in flight) per key or team.",
                               ("owner",), registry=registry, multiprocess_mode="livemin")
        # Each label set has its own bound: many keys folded into "other" leave the budgets'
        # gauges (a different family) their own room.
        self._owners: set[str] = set()
        self._budgets: set[str] = set()
        self._children: dict[tuple[str | None, str | None], tuple[Any, Any, Any]] = {}
        # (key, team) -> [spend, tokens in, tokens out] not yet handed to the counters.
        self._due: dict[tuple[str | None, str | None], list[float]] = {}
        families.flushers.append(self.flush)

    def _label(self, owner: str | None, seen: set[str] | None = None) -> str:
        if owner is None:
            return ""
        seen = self._owners if seen is None else seen
        if owner in seen:
            return owner
        if len(seen) >= MAX_OWNERS:
            return OTHER
        seen.add(owner)
        return owner

    def finished(self, row: LedgerRow) -> None:
        if row.key_id is None:
            return
        owners = (row.key_id, row.team_id)
        due = self._due.get(owners)
        if due is None:
            due = self._due[owners] = [0.0, 0, 0]
        due[0] += row.cost
        due[1] += row.tokens_in
        due[2] += row.tokens_out

    def flush(self) -> None:
        """Hand the sums made since the last flush to the counters (on the event loop)."""
        due, self._due = self._due, {}
        for owners, (spend, tokens_in, tokens_out) in due.items():
            children = self._children.get(owners)
            if children is None:
                if len(self._children) >= 2 * MAX_OWNERS:
                    self._children.clear()  # owners past the bound, folded into "other": looked up again
                labels = (self._label(owners[0]), self._label(owners[1]))
                children = self._children[owners] = (
                    self.spend.labels(*labels), self.tokens.labels(*labels, "in"), self.tokens.labels(*labels, "out"))
            if spend:
                children[0].inc(spend)
            if tokens_in:
                children[1].inc(tokens_in)
            if tokens_out:
                children[2].inc(tokens_out)

    def headroom(self, owner: str, remaining: float) -> None:
        self.remaining.labels(self._label(owner, self._budgets)).set(remaining)
