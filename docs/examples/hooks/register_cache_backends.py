"""A cache backend, chosen by ``[cache] backend = "dict"``: a plain dict with expiry times, on
the gateway's injected clock (so tests control time)."""

from sluicegate import hookimpl


class DictCache:
    def __init__(self, clock):
        self.clock = clock
        self.entries: dict[str, tuple[bytes, float]] = {}

    async def get(self, key):
        entry = self.entries.get(key)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    async def set(self, key, value, ttl):
        self.entries[key] = (value, self.clock() + ttl)

    async def aclose(self):
        self.entries.clear()


@hookimpl
def register_cache_backends(register):
    register("dict", lambda options, services: DictCache(services.clock))
