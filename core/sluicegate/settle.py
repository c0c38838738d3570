"""The config file watch: how it notices a change, and how it waits for a file that is being
rewritten to settle before reloading it.

The watch looks at the file's metadata (``signature``: one ``stat``, in a thread) every
``WATCH_EVERY`` seconds and reads the file only when that moved. It polls rather than asking the
kernel (inotify on the file's directory, as watchfiles did): a directory watch wakes for every
write to any file beside the config (the access log, the governance store's SQLite file and its
write-ahead log), which cost a thread wake-up per request under load, for a file that changes
a few times a day.

Editors, ``cat > gateway.toml`` and configuration tools often truncate the file and then write it
in pieces. A watch that reloads on the first change would read an empty or half-written file;
if that half happened to be a valid config (a provider table, but not yet the aliases), every
request for the missing aliases would get a 404 until the next change. The watch therefore
reloads only once two looks at the file, ``settle`` seconds apart, agree (size, mtime and a
content hash) and the content is complete TOML; it gives up after ``limit`` seconds of churn.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path

from attrs import define, field

#: Seconds between two looks at the config file's metadata.
WATCH_EVERY = 0.25
#: Every this many looks the file is read even when its metadata did not move: on a filesystem
#: with coarse modification times a rewrite of the same size within one tick keeps them all.
READ_EVERY = 20
#: Seconds the file must stay unchanged before it is read for a reload.
SETTLE = 0.25
#: Longest wait for a file to settle, in seconds; a bound, so a file rewritten without pause
#: cannot hold the watch forever.
LIMIT = 5.0


@define(frozen=True)
class Snapshot:
    """One look at the file: equal snapshots mean nothing changed in between."""

    size: int
    mtime_ns: int
    digest: bytes
    content: bytes = field(eq=False, repr=False)
    # Non-blank, UTF-8 and valid TOML: what a finished config at least is.
    complete: bool = field(eq=False)


def signature(path: Path) -> tuple[int, ...] | None:
    """What tells a changed file from the one looked at before without reading it (blocking: run
    it in a thread): its inode (a write-then-rename makes a new one), size and times; None when
    it cannot be looked at now (mid-rename, removed)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def take_snapshot(path: Path) -> Snapshot | None:
    """Read ``path`` once (blocking: run it in a thread); None if it cannot be read now."""
    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            content = handle.read()
    except OSError:  # mid-rename or removed: not there yet
        return None
    return Snapshot(stat.st_size, stat.st_mtime_ns, hashlib.sha256(content).digest(), content,
                    _complete(content))


def _complete(content: bytes) -> bool:
    try:
        text = content.decode("utf-8")
        if not text.strip():
            return False  # the truncate of a truncate-then-write
        tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):  # cut mid-character or mid-table
        return False
    return True


@define
class Settler:
    """Looks at a file until it settles; the clock and sleep are injected so tests are exact."""

    read: Callable[[], Awaitable[Snapshot | None]]
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    settle: float = SETTLE
    limit: float = LIMIT

    async def wait(self) -> Snapshot | None:
        """The settled snapshot, or None if the file was still changing after ``limit`` seconds.

        A file that is stable but not complete (blank, not TOML) is waited for until ``limit``:
        a writer may pause between its pieces. After that it is returned all the same, so the
        reload refuses it and says why, rather than the watch staying silent.
        """
        deadline = self.clock() + self.limit
        last = await self.read()
        while True:
            await self.sleep(self.settle)
            seen = await self.read()
            stable = seen is not None and seen == last
            if stable and seen.complete:
                return seen
            if self.clock() >= deadline:
                return seen if stable else None
            last = seen
