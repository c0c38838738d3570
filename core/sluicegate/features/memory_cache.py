"""The in-process cache backend: an LRU of bytes, each entry expiring on the injected clock.

Also the default plugin ``sluicegate.memory_cache``, which registers it as cache backend
``memory`` (``[cache] backend = "memory"``, the default).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from sluicegate.exchange import sized
from sluicegate.features.cache import CacheOptions
from sluicegate.hookspecs import hookimpl
from sluicegate.services import Services


class MemoryCache:
    """A ``CacheBackend`` bounded by entry count and total bytes; one per process (workers do
    not share it).

    Expiry is lazy: an expired entry is dropped when it is read, or sooner if it becomes the
    least recently used. The bounds keep leftovers from growing without limit; the byte bound
    is what keeps memory predictable, since entries range from a few hundred bytes to
    ``max_entry_bytes``.
    """

    __slots__ = ("_entries", "_max_entries", "_max_bytes", "_clock", "size")

    def __init__(self, max_entries: int, clock: Callable[[], float], max_bytes: int | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        # key -> (expires at, value); the order is recency, least recent first.
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        self.size = 0  # bytes of values held

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            self.size -= len(value)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        entries = self._entries
        old = entries.pop(key, None)
        if old is not None:
            self.size -= len(old[1])
        if ttl <= 0 or (self._max_bytes is not None and len(value) > self._max_bytes):
            return
        # At its own size, so ``size`` is what the entries hold (orjson's bytes keep ~10 times
        # their length: exchange.sized).
        value = sized(value)
        entries[key] = (self._clock() + ttl, value)
        self.size += len(value)
        limit = self._max_bytes if self._max_bytes is not None else float("inf")
        while len(entries) > self._max_entries or self.size > limit:
            _, (_, evicted) = entries.popitem(last=False)
            self.size -= len(evicted)

    async def aclose(self) -> None:
        self._entries.clear()
        self.size = 0


def make_memory_backend(*, options: CacheOptions, services: Services) -> MemoryCache:
    return MemoryCache(options.max_entries, services.clock, int(options.max_memory_mb * 1024 * 1024))


@hookimpl
def register_cache_backends(register):
    # Its keys (max_entries, max_memory_mb) are in the [cache] table's own options.
    register("memory", make_memory_backend)
