"""The JSON shapes of governance records, as the admin API, ``/v1/key/info`` and the CLI show them:
teams and keys with their spend this period, usage buckets and ledger rows.

A key is shown by its ``prefix``; its digest never leaves the store, and its secret appears only
in the one answer that made it (``secret=``). Times go out as ISO 8601 in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from attrs import define

from sluicegate_governance.model import Budget, LedgerRow, Limits, Team, UsagePoint, VirtualKey
from sluicegate_governance.protocols import Claim


def iso(seconds: float | None) -> str | None:
    """``2025-01-31T12:00:00Z`` (milliseconds when the time has a fraction); None stays None."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, UTC)
    spec = "seconds" if seconds == int(seconds) else "milliseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


@define(frozen=True, slots=True)
class Spend:
    """One budget's standing in its current period."""

    claim: Claim
    spent: float
    reserved: float  # in flight: reserved by requests not finished yet

    @property
    def remaining(self) -> float:
        return max(0.0, self.claim.limit - self.spent - self.reserved)


def limits_view(limits: Limits) -> dict[str, int | None]:
    return {"rpm": limits.rpm, "tpm": limits.tpm, "concurrency": limits.concurrency}


def budget_view(budget: Budget | None) -> dict[str, Any] | None:
    return None if budget is None else {"amount": budget.amount, "period": budget.period.value}


def spend_view(spend: Spend | None) -> dict[str, Any] | None:
    if spend is None:
        return None  # no budget: nothing is counted against one
    claim = spend.claim
    return {
        "spent": spend.spent,
        "reserved": spend.reserved,
        "remaining": spend.remaining,
        "limit": claim.limit,
        "period_start": iso(claim.period_start) if claim.period_end is not None else None,
        "period_end": iso(claim.period_end),
    }


def key_status(key: VirtualKey, now: float) -> str:
    """active, disabled (may be enabled again), revoked (for good) or expired."""
    if key.revoked_at is not None:
        return "revoked"
    if not key.enabled:
        return "disabled"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def key_view(key: VirtualKey, *, now: float, spend: Spend | None = None, secret: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": key.id,
        "object": "key",
        "name": key.name,
        "prefix": key.prefix,
        "team_id": key.team_id,
        "status": key_status(key, now),
        "enabled": key.enabled,
        "models": list(key.models),
        "blocked_models": list(key.blocked_models),
        "limits": limits_view(key.limits),
        "budget": budget_view(key.budget),
        "spend": spend_view(spend),
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
        "metadata": key.metadata,
        "created_at": iso(key.created_at),
        "updated_at": iso(key.updated_at),
    }
    if secret is not None:
        view["key"] = secret  # the only time it is shown: the store keeps its digest alone
    return view


def team_view(team: Team, *, keys: int, spend: Spend | None = None) -> dict[str, Any]:
    return {
        "id": team.id,
        "object": "team",
        "name": team.name,
        "keys": keys,
        "limits": limits_view(team.limits),
        "budget": budget_view(team.budget),
        "spend": spend_view(spend),
        "metadata": team.metadata,
        "created_at": iso(team.created_at),
        "updated_at": iso(team.updated_at),
    }


#: A usage bucket's sums, in the order tables show them.
USAGE_SUMS = ("requests", "errors", "tokens_in", "tokens_out", "tokens_cached", "tokens_cache_written", "cost")


def usage_view(point: UsagePoint) -> dict[str, Any]:
    return {"start": iso(point.start), "group": point.group, **{name: getattr(point, name) for name in USAGE_SUMS}}


def usage_total(points: list[UsagePoint]) -> dict[str, Any]:
    return {name: sum(getattr(point, name) for point in points) for name in USAGE_SUMS}


def log_view(row: LedgerRow) -> dict[str, Any]:
    return {
        "at": iso(row.at),
        "request_id": row.request_id,
        "key_id": row.key_id,
        "team_id": row.team_id,
        "client": row.client,
        "model": row.alias,
        "provider": row.provider,
        "upstream_model": row.model,
        "endpoint": row.endpoint,
        "stream": row.stream,
        "status": row.status,
        "error_class": row.error_class,
        "tokens_in": row.tokens_in,
        "tokens_out": row.tokens_out,
        "tokens_cached": row.tokens_cached,
        "tokens_cache_written": row.tokens_cache_written,
        "cost": row.cost,
        "latency_ms": row.latency_ms,
        "ttft_ms": row.ttft_ms,
    }
