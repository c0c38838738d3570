"""The in-process response store (``[responses] store = "memory"``, the default).

Responses are kept encoded (a reader gets its own copy, and the byte bound is exact), in one
LRU by (tenant, id), each expiring ``ttl`` seconds after it was stored, on the injected clock.
Expiry is lazy, so no background task: an expired entry is dropped when it is looked up, when
it reaches the least recently used end while a new one is stored, or when the bounds evict it.
Both bounds (entries, bytes) hold at every moment.

The entries live on a ``Shelf`` kept in ``Services.lasting``: a config reload builds a new store
with the new bounds on the same shelf, so no stored response is lost. Each process has its own
shelf (``--workers N`` processes do not share; the ``redis`` store does).

Also the default plugin ``sluicegate.response_stores``, which registers this store as ``memory``.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable

from sluicegate.config.responses import ResponsesConfig
from sluicegate.exchange import sized
from sluicegate.features.response_store import (
    BrokenChain,
    ChainTooLong,
    StoredResponse,
    chain_limit,
    checked_id,
    decode_stored,
    usable_id,
)
from sluicegate.hookspecs import hookimpl
from sluicegate.services import Services

# A response too big to store is logged at most this often, in seconds of the store's clock.
WARN_EVERY = 60.0

#: Services.lasting key of the gateway's shelf: every assembly's memory store keeps its entries
#: there, so a config reload loses no stored response.
SHELF_KEY = "responses.memory"

MIB = 1024 * 1024

Key = tuple[str | None, str]
# (expires at, the stored form, the previous response's id)
Entry = tuple[float, bytes, str | None]


class Shelf:
    """The entries of one gateway's memory stores, least recently used first; outlives reloads."""

    __slots__ = ("entries", "size")

    def __init__(self) -> None:
        self.entries: OrderedDict[Key, Entry] = OrderedDict()
        self.size = 0  # bytes of stored forms held

    def __len__(self) -> int:
        return len(self.entries)

    def drop(self, key: Key) -> Entry | None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.size -= len(entry[1])
        return entry


class MemoryResponseStore:
    """A ``ResponseStore`` in this process, bounded by entries and bytes, with a TTL."""

    __slots__ = ("_shelf", "_clock", "_ttl", "_max_entries", "_max_bytes", "_max_chain", "_log", "_quiet_until")

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        ttl: float,
        max_entries: int,
        max_bytes: int,
        max_chain: int,
        shelf: Shelf | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        if ttl <= 0 or max_entries < 1 or max_bytes < 1 or max_chain < 1:
            raise ValueError("ttl, max_entries, max_bytes and max_chain must be positive")
        self._shelf = shelf if shelf is not None else Shelf()
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._max_chain = max_chain
        self._log = log or logging.getLogger("sluicegate")
        self._quiet_until = -math.inf

    @property
    def shelf(self) -> Shelf:
        return self._shelf

    async def put(self, tenant: str | None, item: StoredResponse) -> None:
        key = (tenant, checked_id(item))
        data = sized(item.encode())  # at its own size: what ``size`` counts is what is held
        shelf = self._shelf
        shelf.drop(key)
        if len(data) > self._max_bytes:
            self._too_big(len(data))
            return
        now = self._clock()
        entries = shelf.entries
        entries[key] = (now + self._ttl, data, item.previous_response_id)
        shelf.size += len(data)
        # Expired entries at the least recently used end go first (they would be dropped when
        # read anyway); then the bounds evict from that end, possibly live entries.
        while entries:
            oldest, (expires, stored, _) = next(iter(entries.items()))
            if expires > now and len(entries) <= self._max_entries and shelf.size <= self._max_bytes:
                break
            del entries[oldest]
            shelf.size -= len(stored)

    async def get(self, tenant: str | None, response_id: str) -> StoredResponse | None:
        entry = self._live((tenant, response_id)) if usable_id(response_id) else None
        return decode_stored(entry[1]) if entry is not None else None

    async def delete(self, tenant: str | None, response_id: str) -> bool:
        if not usable_id(response_id):
            return False
        entry = self._shelf.drop((tenant, response_id))
        return entry is not None and entry[0] > self._clock()

    async def history(
        self, tenant: str | None, response_id: str, *, max_links: int | None = None
    ) -> list[StoredResponse] | None:
        if not usable_id(response_id):
            return None
        head = self._live((tenant, response_id))
        if head is None:
            return None
        limit = chain_limit(max_links, self._max_chain)
        found = [(response_id, head[1])]
        previous = head[2]
        # Bounded by the limit even if ids loop (a vendor's ids stored through pass-through).
        while previous is not None:
            if len(found) >= limit:
                raise ChainTooLong(response_id, limit)
            entry = self._live((tenant, previous))
            if entry is None:
                raise BrokenChain(response_id, previous)
            found.append((previous, entry[1]))
            previous = entry[2]
        chain = []
        entries = self._shelf.entries
        for link, data in reversed(found):
            # Oldest first, so the named response ends most recently used, as if just stored.
            entries.move_to_end((tenant, link))
            item = decode_stored(data)
            if item is None:  # not for forms this store encoded; but never replay a gap
                raise BrokenChain(response_id, link)
            chain.append(item)
        return chain

    async def aclose(self) -> None:
        """Nothing to release: the entries stay on the shelf for the assembly after a reload."""

    def _live(self, key: Key) -> Entry | None:
        """The unexpired entry, marked most recently used; an expired one is dropped."""
        entry = self._shelf.entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            self._shelf.drop(key)
            return None
        self._shelf.entries.move_to_end(key)
        return entry

    def _too_big(self, size: int) -> None:
        now = self._clock()
        if now < self._quiet_until:
            return
        self._quiet_until = now + WARN_EVERY
        self._log.warning(
            "a response of %d bytes was not stored: it is larger than [responses] max_mb "
            "(logged once per %gs)", size, WARN_EVERY,
        )


def make_memory_store(*, options: ResponsesConfig, services: Services) -> MemoryResponseStore:
    shelf = services.lasting.get(SHELF_KEY)
    if not isinstance(shelf, Shelf):
        shelf = services.lasting[SHELF_KEY] = Shelf()
    return MemoryResponseStore(
        services.clock, ttl=options.ttl, max_entries=options.max_entries,
        max_bytes=max(1, int(options.max_mb * MIB)), max_chain=options.max_chain, shelf=shelf, log=services.log,
    )


@hookimpl
def register_response_stores(register):
    # The [responses] table (a core table) holds every key the memory store reads.
    register("memory", make_memory_store)
