"""The ledger's batches on a SQLite file, each written in one hand-off to a thread of its own.

Through SQLAlchemy and aiosqlite a batch took about twenty round trips between the event loop and
the driver's thread (BEGIN, the INSERTs, each rollup's upsert, COMMIT, the pool's checkout and
reset), each a wake-up of that thread and a wait for the GIL on both sides. Here the event loop
prepares the statements and their values (``SqlStore._record``) and this thread runs the whole
transaction on a plain ``sqlite3`` connection: one wake-up a batch, and no Python of
SQLAlchemy's per statement. In alternating runs at 64 connections on one pinned core, a JSON
request with governance cost 2-4 µs of CPU less (3 k instructions fewer; the rest was the
hand-offs' wake-ups and waits for the GIL, which instruction counts do not see).

Only the ledger's writes go this way; everything else (keys, teams, reads, the purge) stays on
SQLAlchemy's engine, on the same file: WAL lets readers run beside this writer, and SQLite's
lock (``BEGIN IMMEDIATE`` and the busy timeout) orders it with the engine's writers and with
other processes'.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sluicegate_governance.sql.engine import unavailable

#: Statements of one batch: (SQL, its flat parameters) run with ``execute``.
Inserts = Sequence[tuple[str, Sequence[Any]]]
#: (SQL, one parameter tuple per row) run with ``executemany``.
Upserts = Sequence[tuple[str, Sequence[Sequence[Any]]]]


#: How much nicer than the process the ledger thread is (Linux): the scheduler then runs the
#: event loop first when both want the same core. The thread needs a few percent of a busy
#: core; 10 steps nicer it is still given about a tenth of one it must share.
THREAD_NICE = 10


def _yield_to_the_loop() -> None:
    """Lower the calling thread's priority (on Linux ``nice`` is the calling thread's; elsewhere
    it would be the whole process's). A batch's SQLite work runs for milliseconds: at equal
    priority the scheduler lets it hold the core for a whole time slice while requests wait
    (at one connection governance's p99 went from ~1.8 to ~1.0 ms)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.nice(THREAD_NICE)


class SqliteLedger:
    """Writes batches to the SQLite file at ``path`` from one thread, one transaction each.

    The connection is made in the thread on first use and only ever used there. A batch handed
    over is written to the end even if its caller is cancelled (the thread cannot be stopped
    mid-statement): ``LedgerWriter.aclose`` waits for it rather than writing its rows again."""

    def __init__(self, path: str, *, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sluicegate-ledger",
                                            initializer=_yield_to_the_loop)
        self._connection: sqlite3.Connection | None = None

    async def write(self, inserts: Inserts, upserts: Upserts) -> None:
        """Run ``inserts`` then ``upserts`` in one transaction; ``StoreUnavailable`` when SQLite
        refused them (nothing of the batch is kept). A value SQLite cannot bind (an integer past
        64 bits) raises as it is, for the caller to tame."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write, inserts, upserts)

    def _write(self, inserts: Inserts, upserts: Upserts) -> None:
        try:
            connection = self._connection or self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement, parameters in inserts:
                    connection.execute(statement, parameters)
                for statement, rows in upserts:
                    connection.executemany(statement, rows)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise unavailable(error) from None

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: the transaction is the BEGIN and COMMIT above, nothing implicit. The
        # settings are the engine's (sql.engine._sqlite_session); the file is in WAL already.
        connection = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        self._connection = connection
        return connection

    async def aclose(self) -> None:
        """Close the connection after the batch in the thread, if any, and end the thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
