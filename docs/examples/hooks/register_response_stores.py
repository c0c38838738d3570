"""A response store, chosen by ``[responses] store = "audit"``: the built-in memory store, plus
a log line for each response stored (its id and tenant label, never its content)."""

import logging

import attrs

from sluicegate import hookimpl
from sluicegate.features.response_store import build_response_store

log = logging.getLogger("audit_store")


class AuditedStore:
    def __init__(self, inner):
        self.inner = inner

    async def put(self, tenant, item):
        log.info("stored response %s for %s", item.id, tenant)
        await self.inner.put(tenant, item)

    async def get(self, tenant, response_id):
        return await self.inner.get(tenant, response_id)

    async def delete(self, tenant, response_id):
        return await self.inner.delete(tenant, response_id)

    async def history(self, tenant, response_id, *, max_links=None):
        return await self.inner.history(tenant, response_id, max_links=max_links)

    async def aclose(self):
        await self.inner.aclose()


def make_audited(options, services):
    # Stores get the whole [responses] table; build the memory store from the same settings.
    return AuditedStore(build_response_store(attrs.evolve(options, store="memory"), services))


@hookimpl
def register_response_stores(register):
    register("audit", make_audited)
