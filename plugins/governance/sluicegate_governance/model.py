"""The governance records as plain values: teams, virtual keys, their budgets and limits, and the
rows of the spend ledger. Nothing here does I/O; the store (``sluicegate_governance.store``)
persists them and the request path reads them from memory."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

from attrs import Factory, define, field


class Period(enum.StrEnum):
    """How a budget renews. Calendar periods are aligned in UTC: a day from 00:00, a week from
    Monday 00:00, a month from the 1st 00:00; ``total`` never renews."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    TOTAL = "total"


@define(frozen=True, kw_only=True)
class Budget:
    """At most ``amount`` (in the ``[pricing]`` currency) per ``period``."""

    amount: float
    period: Period = Period.MONTH


@define(frozen=True, kw_only=True)
class Limits:
    """Per-minute and in-flight limits; ``None`` is no limit."""

    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None

    @property
    def active(self) -> bool:
        """Any limit is set."""
        return self.rpm is not None or self.tpm is not None or self.concurrency is not None


@define(frozen=True, kw_only=True)
class Team:
    """A group of keys sharing a budget and limits: a request must fit both its key's and its
    team's."""

    id: str  # "team_" + 16 hex characters; stable, shown in URLs, logs and the ledger
    name: str  # unique, readable
    budget: Budget | None = None
    limits: Limits = Factory(Limits)
    metadata: dict[str, Any] = Factory(dict)
    created_at: float = 0.0  # wall-clock seconds
    updated_at: float = 0.0


@define(frozen=True, kw_only=True)
class VirtualKey:
    """A client key the gateway issued. Its secret (``sk-sg-`` + 43 URL-safe characters) is shown
    once, when created or rotated; only ``digest`` (SHA-256 hex of the whole secret) is stored,
    with ``prefix``, what lists show (``sk-sg-…`` and the last 6 hex digits of the digest, never
    a part of the key) so operators can tell keys apart."""

    id: str  # "key_" + 16 hex characters; stable across rotations
    name: str
    digest: str
    prefix: str
    team_id: str | None = None
    # Model names (aliases as the client sends them) this key may call: globs ("claude-*");
    # empty: every model. ``blocked_models`` wins over ``models``.
    models: tuple[str, ...] = field(default=(), converter=tuple)
    blocked_models: tuple[str, ...] = field(default=(), converter=tuple)
    limits: Limits = Factory(Limits)
    budget: Budget | None = None
    expires_at: float | None = None  # wall-clock seconds; None: never
    enabled: bool = True
    revoked_at: float | None = None  # set by a revocation (enabled is then False)
    metadata: dict[str, Any] = Factory(dict)
    created_at: float = 0.0
    updated_at: float = 0.0


@define(frozen=True, kw_only=True)
class Snapshot:
    """Every key and team at one ``version`` of the store: what the in-memory key cache holds."""

    version: int
    keys: tuple[VirtualKey, ...] = field(default=(), converter=tuple)
    teams: tuple[Team, ...] = field(default=(), converter=tuple)


#: Longest text a ledger row keeps per field: client-chosen names (a model alias) must not make a
#: batch fail on an index's entry size limit, and then fail again on every retry.
TEXT_LIMIT = 256
#: The most tokens a ledger row counts (a vendor may report anything; BIGINT holds this).
MAX_TOKENS = 2**53


class LedgerRow(NamedTuple):
    """One finished API request, as the ledger records it. Never prompt or answer text.

    A tuple in the ledger table's column order: a batch reaches the database without per-row
    conversion (SQLite's INSERT ... VALUES takes their values in a row, PostgreSQL one JSON
    array of them), and a tuple of plain values is one object the garbage collector stops
    tracking."""

    at: float  # wall-clock seconds when the request started
    request_id: str
    key_id: str | None = None  # a virtual key; None for config tokens or an open gateway
    team_id: str | None = None
    client: str | None = None  # the readable client name (a config token's, a key's name)
    alias: str | None = None  # the model name the client asked for
    provider: str | None = None  # the provider that answered (or was tried last)
    model: str | None = None  # the model name sent upstream
    endpoint: str = ""  # "chat/completions", "messages", "responses", ...
    stream: bool = False
    status: int = 0
    error_class: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0
    tokens_cache_written: int = 0
    cost: float = 0.0
    latency_ms: float | None = None
    ttft_ms: float | None = None


class Granularity(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"


class GroupBy(enum.StrEnum):
    KEY = "key"
    TEAM = "team"
    MODEL = "model"  # the alias the client asked for
    PROVIDER = "provider"


@define(frozen=True, kw_only=True)
class UsagePoint:
    """One bucket of a usage series: ``group`` is the key id, team id, alias or provider
    (None when not grouped, or for requests without one)."""

    start: float  # wall-clock seconds, the bucket's start (UTC hour or day)
    group: str | None
    requests: int
    errors: int  # status >= 400
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    tokens_cache_written: int
    cost: float


@define(frozen=True, kw_only=True)
class LogPage:
    """A page of ledger rows, newest first; ``next_cursor`` (opaque) fetches the next page."""

    rows: tuple[LedgerRow, ...] = field(default=(), converter=tuple)
    next_cursor: str | None = None
