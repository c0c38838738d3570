"""Default plugin: the ``cache`` middleware (``[cache]``) and its in-process ``memory`` backend."""

from __future__ import annotations

from sluicegate.features.cache import CacheOptions, make_cache
from sluicegate.features.memory_cache import MemoryCache
from sluicegate.hookspecs import hookimpl
from sluicegate.pipeline import Order
from sluicegate.services import Services


def make_memory_backend(*, options: CacheOptions, services: Services) -> MemoryCache:
    return MemoryCache(options.max_entries, services.clock, int(options.max_memory_mb * 1024 * 1024))


@hookimpl
def register_middlewares(register):
    register("cache", make_cache, options=CacheOptions, order=Order.CACHE)


@hookimpl
def register_cache_backends(register):
    # Backends receive the whole [cache] table; they own no table of their own.
    register("memory", make_memory_backend, options=CacheOptions)
