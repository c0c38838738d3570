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


class HeldStore(KeepingStore):
    """Keeps each batch once ``release`` is set, as a database busy with it would, and to the end
    even if the caller is cancelled meanwhile, as SQLite's thread does."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.writes: set[asyncio.Task] = set()

    async def record(self, rows):
        self.started.set()

        async def write():
            await self.release.wait()
            self.batches.append(list(rows))

        task = asyncio.create_task(write())
        self.writes.add(task)
        await asyncio.shield(task)


async def test_closing_lets_the_batch_being_written_finish_and_writes_no_row_twice():
    # SQLite's thread writes a batch to the end even if its caller is cancelled, so closing must
    # not cancel the write and then write the same rows again.
    store = HeldStore()
    writer = writer_for(store, batch_size=3, flush_every=600.0)
    writer.start()
    for row in rows(5):
        writer.add(row)
    await asyncio.wait_for(store.started.wait(), 2.0)  # the first batch of 3 is being written
    closing = asyncio.create_task(writer.aclose())
    await asyncio.sleep(0.05)
    assert not closing.done()  # waits for that batch rather than cancelling it
    store.release.set()
    await asyncio.wait_for(closing, 5.0)
    await asyncio.gather(*store.writes)
    assert store.batches == [rows(5)[:3], rows(5)[3:]]
    assert not writer.rows
