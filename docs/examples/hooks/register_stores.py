"""A governance store, chosen by ``[store] backend = "audited"``: the SQL store of
sluicegate-governance, plus a log line for every key or team change (ids only, never a secret)."""

import logging

from sluicegate import hookimpl
from sluicegate_governance.options import SqlStoreOptions, store_url
from sluicegate_governance.sql.store import SqlStore

log = logging.getLogger("audited_store")


class AuditedStore(SqlStore):
    async def put_key(self, key):
        log.info("key %s changed (enabled: %s)", key.id, key.enabled)
        await super().put_key(key)

    async def put_team(self, team):
        log.info("team %s changed", team.id)
        await super().put_team(team)


def make_audited(*, options, services):
    # Stores get the whole [store] table: the SQL store's keys (url, migrate) included.
    return AuditedStore(store_url(options, services.config.source), migrate=options.migrate)


@hookimpl
def register_stores(register):
    register("audited", make_audited, options=SqlStoreOptions)
