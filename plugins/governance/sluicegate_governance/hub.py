"""One assembly's governance: the store, the key index the request path reads, the spend
counters, the key limits and the ledger writer, started and closed together. It is also the
``store`` extension: when a request finishes it settles the request's reservation with the real
cost and queues the request's ledger row.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

from sluicegate.extensions.metrics import LASTING_KEY as METRICS_FAMILIES
from sluicegate.extensions.pricing import Pricing
from sluicegate.telemetry import RequestRecord
from sluicegate_governance.guard import Reservation
from sluicegate_governance.keycache import IndexBox, KeyIndex
from sluicegate_governance.ledger import LedgerWriter
from sluicegate_governance.limits import KeyLimits
from sluicegate_governance.metrics import GovernanceMetrics
from sluicegate_governance.model import MAX_TOKENS, TEXT_LIMIT, LedgerRow, Team, VirtualKey
from sluicegate_governance.periods import claims_for
from sluicegate_governance.protocols import GovernanceStore, SpendCounters, StoreUnavailable

#: ``services.lasting`` key of the governance metrics (one set per gateway).
METRICS = "governance.metrics"
#: Seconds start-up waits for the store before serving without it (keys come when it does).
OPEN_TIMEOUT = 10.0
#: Seconds any one background store call may take.
CALL_TIMEOUT = 10.0
WARN_EVERY = 60.0
#: Seconds between two updates of the budget-remaining gauges.
GAUGE_EVERY = 5.0
#: Settlements in flight at most (only counters that wait, Redis, make tasks). Past it one is
#: dropped with a warning: its reservation frees itself after the ttl, its spend goes uncounted.
#: A Redis that stalls costs one 2 s timeout before answers come from memory, so this is far
#: above what 2 s of traffic holds.
MAX_SETTLING = 10_000

_new_row = tuple.__new__


class Governance:
    def __init__(self, store: GovernanceStore, counters: SpendCounters, limits: KeyLimits,
                 pricing: Pricing | None, writer: LedgerWriter, box: IndexBox, lasting: dict[str, Any], *, refresh_interval: float,
                 retention_days: int, default_max_tokens: int, reserve_max_tokens: int | None = None,
                 wall_clock: Callable[[], float], clock: Callable[[], float], log: logging.Logger) -> None:
        self.store = store
        self.counters = counters
        self.limits = limits
        self.pricing = pricing
        self.writer = writer
        self.box = box
        self.lasting = lasting
        self.pending: dict[str, Reservation] = {}
        self.refresh_interval = refresh_interval
        self.retention_days = retention_days
        self.default_max_tokens = default_max_tokens
        self.reserve_max_tokens = reserve_max_tokens
        self.wall_clock = wall_clock
        self.clock = clock
        self.log = log
        self.opened = False
        # Set at start when the gateway serves metrics (made once per gateway).
        self.metrics: GovernanceMetrics | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._settling: set[asyncio.Task[None]] = set()
        self._quiet_until = -math.inf
        # Counters whose settlement never waits (in memory) offer it as a plain call: no task
        # per request. Found once, here.
        self._settle_now = getattr(counters, "settle_now", None)

    @property
    def index(self) -> KeyIndex:
        return self.box.index

    # -- life -----------------------------------------------------------------------------------

    async def start(self) -> None:
        families = self.lasting.get(METRICS_FAMILIES)  # the metrics extension is on
        if families is not None:
            metrics = self.lasting.get(METRICS)
            if metrics is None:
                metrics = self.lasting[METRICS] = GovernanceMetrics(families)
            self.metrics = metrics
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                await self.refresh()
        except (StoreUnavailable, TimeoutError) as exc:
            self._warn(f"governance: the store is unreachable at start ({_why(exc)}); "
                       "issued keys are served from what was known and refreshed when it answers")
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._refresh_loop(), name="sluicegate-keys"))
        self._tasks.append(loop.create_task(self._purge_loop(), name="sluicegate-retention"))
        self.writer.start()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        if self._settling:
            await asyncio.wait(self._settling, timeout=5.0)
        await self.writer.aclose()
        await self.limits.aclose()
        await self.counters.aclose()
        await self.store.aclose()

    # -- keys and teams ---------------------------------------------------------------------------

    async def refresh(self) -> bool:
        """Load the store's keys and teams when they changed; True when the index was replaced."""
        if not self.opened:
            await self.store.open()
            self.opened = True
        version = await self.store.version()
        if version == self.index.version:
            return False
        index = KeyIndex.of(await self.store.snapshot())
        self.box.index = index
        await self.seed(index)
        return True

    async def seed(self, index: KeyIndex) -> None:
        """Start every budget counter of this period from the ledger's totals, where the
        counters do not hold it already (a restart, a new instance, a new key)."""
        now = self.wall_clock()
        claims = [claim for grant in index.by_id.values() for claim in claims_for(grant.key, grant.team, now)]
        if not claims:
            return
        unique = {claim.name: claim for claim in claims}
        spent = await self.store.spend(since={name: claim.period_start for name, claim in unique.items()})
        await self.counters.seed(list(unique.values()), spent)

    async def put_key(self, key: VirtualKey) -> None:
        await self.store.put_key(key)
        await self.refresh()  # this instance sees the change at once; others within a poll

    async def put_team(self, team: Team) -> None:
        await self.store.put_team(team)
        await self.refresh()

    async def delete_key(self, key_id: str) -> bool:
        deleted = await self.store.delete_key(key_id)
        await self.refresh()
        return deleted

    async def delete_team(self, team_id: str) -> bool:
        deleted = await self.store.delete_team(team_id)
        await self.refresh()
        return deleted

    async def _refresh_loop(self) -> None:
        gauged = -math.inf
        while True:
            await asyncio.sleep(self.refresh_interval)
            try:
                async with asyncio.timeout(CALL_TIMEOUT):
                    await self.refresh()
            except (StoreUnavailable, TimeoutError) as exc:
                self._warn(f"governance: cannot refresh keys from the store ({_why(exc)})")
            if self.metrics is not None and self.clock() - gauged >= GAUGE_EVERY:
                gauged = self.clock()
                try:
                    async with asyncio.timeout(CALL_TIMEOUT):
                        await self.gauge_budgets()
                except TimeoutError:
                    pass

    async def gauge_budgets(self) -> None:
        """Set the budget-remaining gauges of every budget (off the request path: a few counter
        reads every ``GAUGE_EVERY`` seconds, however busy the gateway is)."""
        now = self.wall_clock()
        seen: set[str] = set()
        for grant in self.index.by_id.values():
            for claim in claims_for(grant.key, grant.team, now):
                if claim.name not in seen:
                    seen.add(claim.name)
                    spent, reserved = await self.counters.state(claim)
                    self.metrics.headroom(claim.name, claim.limit - spent - reserved)

    async def _purge_loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(300.0):
                    now = self.wall_clock()
                    await self.store.purge(ledger_before=now - self.retention_days * 86400.0,
                                           rollups_before=now - 400 * 86400.0)
            except (StoreUnavailable, TimeoutError) as exc:
                self._warn(f"governance: retention purge failed ({_why(exc)})")
            await asyncio.sleep(3600.0)

    # -- the extension ----------------------------------------------------------------------------

    def request_finished(self, record: RequestRecord) -> None:
        if not record.api:
            return  # health, metrics, admin: not spend
        reservation = self.pending.pop(record.request_id, None)
        tokens_in, tokens_out, cost = record.tokens_in, record.tokens_out, record.cost
        meter = reservation.facts.stream if reservation is not None else None
        if meter is not None and tokens_out is None:
            # A stream cut short before its usage: what it sent is what was generated.
            total = meter.tokens(reservation.prompt_tokens)
            tokens_in = tokens_in if tokens_in is not None else reservation.prompt_tokens
            tokens_out = max(0, total - tokens_in)
            cost = self._cost(record, tokens_in, tokens_out)
        cost = cost if cost is not None and math.isfinite(cost) else 0.0
        latency, ttft = record.latency, record.ttft
        alias = record.model_label or record.model
        if alias is not None and not record.model_label:
            alias = alias.replace("\x00", "")[:TEXT_LIMIT]  # what the client sent: made storable
        # Positional, in the table's column order: built once here and written as it is (through
        # tuple.__new__, as LedgerRow's own constructor does, without its Python frame). Tokens in
        # and out are nearly always in range, cache counts nearly always absent: _count (which
        # tames the rest) is called only when it has something to do.
        cached, written = record.tokens_cached, record.tokens_cache_written
        row = _new_row(LedgerRow, (
            record.started_at, record.request_id, record.key_id, record.team_id, record.client, alias,
            record.provider, record.upstream_model, record.route.removeprefix("/v1/"), record.stream,
            record.status, record.error_class,
            tokens_in if tokens_in and 0 < tokens_in <= MAX_TOKENS else _count(tokens_in),
            tokens_out if tokens_out and 0 < tokens_out <= MAX_TOKENS else _count(tokens_out),
            _count(cached) if cached else 0, _count(written) if written else 0, cost,
            None if latency is None else latency * 1000.0, None if ttft is None else ttft * 1000.0,
        ))
        self.writer.add(row)
        if self.metrics is not None:
            self.metrics.finished(row)
        if reservation is None:
            return
        if reservation.held is not None:
            reservation.bound.settle(reservation.held, cost)  # in memory: in place
            if reservation.hold is None:
                return
        elif reservation.hold is None and self._settle_now is not None:
            if reservation.ticket is not None:
                self._settle_now(reservation.claims, reservation.ticket, cost)
            return
        used = None if tokens_in is None and tokens_out is None else (tokens_in or 0) + (tokens_out or 0)
        work = self._settle(reservation, cost, used)
        if len(self._settling) >= MAX_SETTLING:
            work.close()
            self._warn("governance: too many settlements in flight; one was dropped")
            return
        task = asyncio.get_running_loop().create_task(work)
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    def _cost(self, record: RequestRecord, tokens_in: int, tokens_out: int) -> float | None:
        price = self.pricing.price_of(record.provider, record.upstream_model) if self.pricing else None
        if price is None:
            return None
        return (tokens_in * price.input + tokens_out * price.output) / 1e6

    async def _settle(self, reservation: Reservation, cost: float, used: int | None) -> None:
        try:
            if reservation.ticket is not None:
                await self.counters.settle(reservation.claims, reservation.ticket, cost)
            if reservation.hold is not None:
                await self.limits.release(reservation.hold, used)
        except Exception:  # a settlement must never take the loop down; the ttl frees the rest
            self.log.exception("governance: settling a request failed")

    def _warn(self, message: str) -> None:
        now = self.clock()
        if now >= self._quiet_until:
            self._quiet_until = now + WARN_EVERY
            self.log.warning("%s", message)


def _count(tokens: int | None) -> int:
    """A token count as the ledger keeps it: what a vendor reported, within BIGINT."""
    if not tokens:
        return 0
    return tokens if 0 < tokens <= MAX_TOKENS else (MAX_TOKENS if tokens > 0 else 0)


def _why(exc: BaseException) -> str:
    return "timed out" if isinstance(exc, TimeoutError) else str(exc)


