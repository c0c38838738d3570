"""What writing the spend ledger costs the gateway's process, per row.

Run from the repo root::

    python contrib/bench/ledger_write_cpu.py             # SQLite (a file) and a PostgreSQL test server
    python contrib/bench/ledger_write_cpu.py --sqlite    # SQLite only

It writes batches of 2,000 ledger rows (the default ``batch_size``) through ``SqlStore.record``, as
the ledger writer does, and prints this process's CPU time per row: the event loop's share and,
with SQLite, its writer thread's (both run in the gateway's process); PostgreSQL's own work is in
its server, not counted. Three batches warm up first (prepared statements, compiled upserts).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from sluicegate_governance.model import LedgerRow
from sluicegate_governance.sql.store import SqlStore

BATCH = 2000
BATCHES = 20


def batches(count: int, start: float) -> list[list[LedgerRow]]:
    made, at, rng = [], start, random.Random(7)
    for _ in range(count):
        rows = []
        for _ in range(BATCH):
            at += 0.0001
            rows.append(LedgerRow(at, f"{rng.getrandbits(128):032x}", "key_bench", "team_bench", None, "bench",
                                  "upstream", "gpt-4o-mini", "chat/completions", False, 200, None, 40, 30, 0, 0,
                                  0.00002, 4.0, None))
        made.append(rows)
    return made


async def measure(url: str) -> float:
    store = SqlStore(url, migrate=True)
    await store.open()
    try:
        warm, timed = batches(3, 1.7e9), batches(BATCHES, 1.8e9)
        for rows in warm:
            await store.record(rows)
        before = time.process_time()
        for rows in timed:
            await store.record(rows)
        return (time.process_time() - before) / (BATCH * BATCHES)
    finally:
        await store.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="SQLite only (no PostgreSQL server)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluicegate-ledger-cpu-") as work:
        seconds = asyncio.run(measure(f"sqlite+aiosqlite:///{Path(work) / 'ledger.db'}"))
        print(f"sqlite      {seconds * 1e6:6.2f} µs of CPU a row (the loop and the writer thread)")
    if not args.sqlite:
        from sluicegate.testing.postgres import PostgresServer  # the test suite's helper

        server = PostgresServer().start()
        try:
            seconds = asyncio.run(measure(server.create_database("ledger_cpu")))
        finally:
            server.close()
        print(f"postgresql  {seconds * 1e6:6.2f} µs of CPU a row (the loop; the server's work is its own)")


if __name__ == "__main__":
    main()
