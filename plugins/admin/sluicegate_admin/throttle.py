"""Slow down admin-token guessing: after a few wrong tokens, one client address waits, longer each time.

The admin token opens config writes, so guessing it must cost time. Each address gets a few
free mistakes; then every further wrong token shuts it out for a window that doubles, up to a
cap. While shut out, every admin request from it gets 429 without its token being looked at
(an answer would tell a guesser whether the guess was right). A right token clears the address's
own record only. The table of addresses is capped (the least recently failing ones are forgotten
first), so a flood of addresses costs bounded memory.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable

from attrs import define

#: Wrong tokens an address may send before it has to wait.
FREE_FAILURES = 5
#: Seconds of the first wait; each further wrong token doubles it.
FIRST_WAIT = 2.0
#: The longest wait, in seconds.
MAX_WAIT = 900.0
#: An address that sent no wrong token for this long starts afresh.
FORGET_AFTER = 3600.0
#: Addresses remembered at most.
MAX_ADDRESSES = 10_000


@define(slots=True)
class _Record:
    failures: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


def client_key(address: str | None) -> str:
    """The unit that is throttled: an IPv4 address, or the /64 an IPv6 address belongs to.

    One IPv6 host usually holds a whole /64, so per-address records would give it billions of
    fresh starts.
    """
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # a Unix socket path or similar: one peer
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class GuessThrottle:
    """Wrong-token counts per client, on an injected clock."""

    def __init__(self, clock: Callable[[], float], max_addresses: int = MAX_ADDRESSES) -> None:
        self._clock = clock
        self._max = max_addresses
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def wait(self, key: str) -> float:
        """Seconds ``key`` must still wait before its token is checked again (0: go ahead)."""
        record = self._records.get(key)
        if record is None:
            return 0.0
        now = self._clock()
        if now - record.last_failure >= FORGET_AFTER:
            del self._records[key]
            return 0.0
        return max(0.0, record.blocked_until - now)

    def failed(self, key: str) -> float:
        """A wrong token from ``key``; returns the seconds it must now wait (0 while mistakes are free)."""
        now = self._clock()
        record = self._records.pop(key, None)
        if record is None or now - record.last_failure >= FORGET_AFTER:
            record = _Record()
        record.failures += 1
        record.last_failure = now
        over = record.failures - FREE_FAILURES
        if over > 0:
            record.blocked_until = now + min(FIRST_WAIT * 2 ** min(over - 1, 32), MAX_WAIT)
        self._records[key] = record  # most recent last: the oldest are forgotten first
        while len(self._records) > self._max:
            self._records.popitem(last=False)
        return max(0.0, record.blocked_until - now)

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)


def retry_after(seconds: float) -> str:
    """Whole seconds, rounded up (a client retrying sooner would be refused again), at least 1."""
    return str(max(1, math.ceil(round(seconds, 6))))
