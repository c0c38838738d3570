"""The in-process cache backend: an LRU of bytes, each entry expiring on the injected clock."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class MemoryCache:
    """A ``CacheBackend`` bounded by entry count; one per process (workers do not share it).

    Expiry is lazy: an expired entry is dropped when it is read, or sooner if it becomes the
    least recently used. The count bound keeps leftovers from growing without limit.
    """

    __slots__ = ("_entries", "_max_entries", "_clock")

    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        # key -> (expires at, value); the order is recency, least recent first.
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        entries = self._entries
        if ttl <= 0:
            entries.pop(key, None)
            return
        entries[key] = (self._clock() + ttl, value)
        entries.move_to_end(key)
        while len(entries) > self._max_entries:
            entries.popitem(last=False)

    async def aclose(self) -> None:
        self._entries.clear()
