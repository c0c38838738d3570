"""The ledger writer on its own, against a store that keeps what it is given: a partial batch
waits at most ``flush_interval``, a full one is written as soon as it fills."""

from __future__ import annotations

import asyncio
import logging
import time

from sluicegate_governance.ledger import LedgerWriter
from sluicegate_governance.model import LedgerRow


class KeepingStore:
    def __init__(self) -> None:
        self.batches: list[list[LedgerRow]] = []

    async def record(self, rows):
        self.batches.append(list(rows))


def writer_for(store: KeepingStore, *, batch_size: int, flush_every: float) -> LedgerWriter:
    return LedgerWriter(store, batch_size=batch_size, limit=1000, log=logging.getLogger("test-ledger"),
                        clock=time.monotonic, flush_every=flush_every)


def rows(count: int) -> list[LedgerRow]:
    return [LedgerRow(at=float(index), request_id=f"r{index}") for index in range(count)]


async def wait_for_batches(store: KeepingStore, count: int, within: float) -> float:
    started = time.monotonic()
    while len(store.batches) < count:
        assert time.monotonic() - started < within, f"{len(store.batches)} batches after {within} s"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def test_a_partial_batch_is_written_after_the_flush_interval():
    store = KeepingStore()
    writer = writer_for(store, batch_size=100, flush_every=1.0)
    writer.start()
    try:
        for row in rows(3):
            writer.add(row)
        await asyncio.sleep(0.05)
        assert store.batches == []  # not yet: the batch is not full and the interval not over
        await wait_for_batches(store, 1, within=5.0)
        assert store.batches == [rows(3)]
    finally:
        await writer.aclose()


async def test_a_full_batch_is_written_at_once_whatever_the_interval():
    store = KeepingStore()
    writer = writer_for(store, batch_size=5, flush_every=600.0)
    writer.start()
    try:
        await asyncio.sleep(0.01)  # the writer is waiting
        for row in rows(5):
            writer.add(row)
        assert await wait_for_batches(store, 1, within=2.0) < 1.0
        assert store.batches == [rows(5)]
    finally:
        await writer.aclose()
