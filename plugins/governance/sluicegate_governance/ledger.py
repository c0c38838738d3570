"""The ledger writer: rows queue in memory and a background task writes them in batches, so a
request never waits on the database and an outage never fails one."""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import math
from collections.abc import Callable

from sluicegate_governance.model import LedgerRow
from sluicegate_governance.protocols import GovernanceStore, StoreUnavailable

#: Seconds a row may wait for its batch to fill before it is written anyway (the default of
#: ``[store] flush_interval``).
FLUSH_EVERY = 1.0
#: Retry waits while the database is unreachable: doubling from the first to the last.
BACKOFF = (0.5, 30.0)
#: Seconds a shutdown waits for the queued rows to be written.
CLOSE_WITHIN = 5.0
#: Seconds between two warnings about an unreachable database or dropped rows.
WARN_EVERY = 60.0


class LedgerWriter:
    """Holds at most ``limit`` rows; past that the oldest are dropped (counted, warned): memory
    stays bounded through any outage, and the newest rows (the ones budgets were settled with
    most recently) survive."""

    def __init__(self, store: GovernanceStore, *, batch_size: int, limit: int, log: logging.Logger,
                 clock: Callable[[], float], flush_every: float = FLUSH_EVERY) -> None:
        self.store = store
        self.batch_size = batch_size
        self.flush_every = flush_every
        self.rows: collections.deque[LedgerRow] = collections.deque(maxlen=limit)
        self.dropped = 0
        self.written = 0
        self.log = log
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._quiet_until = -math.inf
        self.failing = False
        self._closing = False

    def add(self, row: LedgerRow) -> None:
        if len(self.rows) == self.rows.maxlen:
            self.dropped += 1
        self.rows.append(row)
        if len(self.rows) == self.batch_size:  # once, as it fills: the writer looks again after each batch
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sluicegate-ledger")

    async def _run(self) -> None:
        wait = BACKOFF[0]
        while not self._closing:
            # Rows wait for a full batch or a second, whichever comes first: one transaction
            # per batch, not per request. While the store fails, the waits grow.
            if len(self.rows) < self.batch_size or self.failing:
                try:
                    await asyncio.wait_for(self._wake.wait(), wait if self.failing else self.flush_every)
                except TimeoutError:
                    pass
            self._wake.clear()
            if await self.write_some():
                wait = BACKOFF[0]
            else:
                wait = min(wait * 2, BACKOFF[1])
        await self._drain()

    async def _drain(self) -> None:
        while self.rows and await self.write_some():
            pass

    async def write_some(self) -> bool:
        """Write up to one batch; False when the database refused it (the rows stay queued)."""
        if not self.rows:
            return True
        batch = list(itertools.islice(self.rows, self.batch_size))  # a deque's [i] walks its blocks
        dropped = self.dropped
        try:
            await self.store.record(batch)
        except StoreUnavailable as exc:
            self.failing = True
            self._warn(f"ledger: the store is unreachable ({exc}); {len(self.rows)} rows held")
            return False
        # Rows that arrived meanwhile sit after the batch; rows dropped meanwhile came off the
        # front (the batch's own), so only what is still there of the batch is taken off.
        for _ in range(max(0, len(batch) - (self.dropped - dropped))):
            self.rows.popleft()
        self.written += len(batch)
        self.failing = False
        return True

    def _warn(self, message: str) -> None:
        now = self.clock()
        if now >= self._quiet_until:
            self._quiet_until = now + WARN_EVERY
            self.log.warning("%s%s", message, f"; {self.dropped} dropped so far" if self.dropped else "")

    async def aclose(self) -> None:
        """Write what is queued for at most ``CLOSE_WITHIN`` seconds, then stop. The task is told
        to finish, not cancelled: a batch the store is writing when it is cancelled may still
        be written (SQLite's thread cannot be stopped mid-transaction), so its rows must not be
        written again; past the bound the task is cancelled and nothing more is written."""
        task, self._task = self._task, None
        self._closing = True
        self._wake.set()
        try:
            async with asyncio.timeout(CLOSE_WITHIN):
                # Awaited through a shield: the bound cancels only this wait, and the task below.
                await asyncio.shield(task) if task is not None else await self._drain()
        except TimeoutError:
            if task is not None:
                task.cancel()
                await asyncio.wait([task])
        except asyncio.CancelledError:  # the caller's own cancellation: the task goes with it
            if task is not None:
                task.cancel()
            raise
        if self.rows:
            self.log.warning("ledger: %d rows were not written before shutdown", len(self.rows))
