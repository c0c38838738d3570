"""Default plugin: the in-process ``memory`` store of the Responses API's stored responses."""

from __future__ import annotations

from sluicegate.config.responses import ResponsesConfig
from sluicegate.features.memory_response_store import MemoryResponseStore, Shelf
from sluicegate.hookspecs import hookimpl
from sluicegate.services import Services

#: Services.lasting key of the gateway's shelf: every assembly's memory store keeps its entries
#: there, so a config reload loses no stored response.
SHELF_KEY = "responses.memory"

MIB = 1024 * 1024


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
    # Stores receive the whole [responses] table (a core table): no options of their own.
    register("memory", make_memory_store)
