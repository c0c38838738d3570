"""Counting the descriptors this process holds on a file (Linux ``/proc``), for the access-log tests.

(``tests`` is on pytest's ``pythonpath``, so ``core/tests`` imports this too.)
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def _count(path: Path) -> int:
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            found += os.readlink(f"/proc/self/fd/{fd}") == str(path)
        except OSError:
            continue
    return found


def open_fds(path: Path) -> int:
    """How many descriptors this process holds on ``path``, once it stops changing.

    The access log's writer thread may be reopening the file right now (open the new, then
    close the old): a listing taken meanwhile can see both, or neither; two equal readings in a
    row are stable.
    """
    deadline = time.monotonic() + 2.0
    previous = _count(path)
    while time.monotonic() < deadline:
        time.sleep(0.01)
        current = _count(path)
        if current == previous:
            return current
        previous = current
    return previous
