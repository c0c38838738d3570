"""sluicegate-governance: keys the gateway issues, teams, budgets and a spend ledger in a SQL
database (SQLite embedded, PostgreSQL for several instances).

Present when ``gateway.toml`` has a ``[store]`` table. Importing this module (which every gateway
does, to find its hooks) costs no database or Redis client: SQLAlchemy and Alembic (~47 MB) are
imported by the store's factory and redis-py by the counters', when a config asks for them. Three components share one
``Governance`` per assembly (``hub``), met through ``services.shared``:

- extension ``store`` (owns ``[store]``): opens the database, keeps the key index in memory,
  settles budgets and writes the ledger when requests finish;
- authenticator ``virtual_keys``: recognises ``sk-sg-…`` keys from memory;
- middleware ``governance``: model allow-lists, key and team limits, budget reservations.
"""

from __future__ import annotations

from typing import Any

from sluicegate.config.converter import suggest
from sluicegate.errors import ConfigError, ConfigProblem
from sluicegate.extensions.pricing import make_pricing
from sluicegate.hookspecs import hookimpl
from sluicegate.registry import RATE_LIMITER, STORE
from sluicegate_governance.api import gateway_app_created  # noqa: F401  (hookimpl: admin API, /v1/key/info)
from sluicegate_governance.authenticator import KeyAuthenticator
from sluicegate_governance.cli import register_commands  # noqa: F401  (hookimpl: sluicegate keys|teams|usage|db)
from sluicegate_governance.counters import MemoryCounters
from sluicegate_governance.guard import ORDER as GUARD_ORDER
from sluicegate_governance.guard import RESERVATION_TTL, Guard
from sluicegate_governance.hub import Governance
from sluicegate_governance.keycache import IndexBox
from sluicegate_governance.ledger import LedgerWriter
from sluicegate_governance.limits import KeyLimits
from sluicegate_governance.options import SqlStoreOptions, StoreOptions, store_url
from sluicegate_governance.protocols import GovernanceStore

#: ``services.shared`` key of the assembly's ``Governance``.
SHARED = "governance"
#: ``services.lasting`` key of the key index a reload starts from.
LASTING = "governance.index"
#: After the pricing extension (100), which sets the cost this one settles with.
EXTENSION_ORDER = 150
#: Before the ``[auth]`` tokens (100): an issued key is recognised by its prefix alone.
AUTH_ORDER = 90


def _limiter(services: Any) -> Any:
    """The rate-limiter backend ``[ratelimit]`` uses (memory when it names none)."""
    ratelimit = services.config.features.get("ratelimit")
    name = getattr(ratelimit, "backend", "memory")
    component = services.registry.get(RATE_LIMITER, name) if services.registry is not None else None
    return services.build(component, ratelimit) if component is not None else None


def make_sql_store(*, options: SqlStoreOptions, services: Any) -> GovernanceStore:
    """Factory of the store ``sql``: a bad URL is a config problem at ``store.url``."""
    from sluicegate_governance.sql.store import SqlStore  # SQLAlchemy and Alembic: only when asked for

    try:
        return SqlStore(store_url(options, getattr(services.config, "source", "")), migrate=options.migrate)
    except ValueError as exc:  # its message never repeats the URL
        raise ConfigError([ConfigProblem("url", str(exc))]) from None


def make_governance(*, options: StoreOptions, services: Any) -> Governance | None:
    config = services.config
    registry = services.registry
    component = registry.get(STORE, options.backend) if registry is not None else None
    if component is None:
        installed = sorted(registry.of_kind(STORE)) if registry is not None else []
        raise ConfigError([ConfigProblem(
            "backend", f"unknown store {options.backend!r}{suggest(options.backend, installed)}; "
                       f"installed stores: {', '.join(installed) or 'none'}")])
    store = services.build(component, options)
    if store is None:
        return None  # the store left itself out: so does governance
    if options.redis_url:
        from sluicegate_governance.redis_counters import RedisCounters  # redis-py: only when asked for

        counters: Any = RedisCounters.from_url(options.redis_url.reveal(), clock=services.clock,
                                               wall_clock=services.wall_clock, log=services.log)
    else:
        counters = MemoryCounters(clock=services.clock)
    pricing_options = config.features.get("pricing")
    pricing = make_pricing(options=pricing_options, services=services) if pricing_options is not None else None
    limits = KeyLimits(_limiter(services), ttl=RESERVATION_TTL, log=services.log, clock=services.clock)
    writer = LedgerWriter(store, batch_size=options.batch_size, limit=options.buffer_limit, log=services.log,
                          clock=services.clock, flush_every=options.flush_interval)
    box = services.lasting.setdefault(LASTING, IndexBox())
    governance = Governance(store, counters, limits, pricing, writer, box, services.lasting,
                            refresh_interval=options.refresh_interval, retention_days=options.retention_days,
                            default_max_tokens=options.default_max_tokens,
                            reserve_max_tokens=options.reserve_max_tokens,
                            wall_clock=services.wall_clock, clock=services.clock, log=services.log)
    services.shared[SHARED] = governance
    return governance


def make_authenticator(*, options: Any, services: Any) -> KeyAuthenticator | None:
    governance = services.shared.get(SHARED)
    if governance is None:
        return None  # no [store]: no issued keys
    box = governance.box
    return KeyAuthenticator(box, services.wall_clock)


def make_guard(*, options: Any, services: Any) -> Guard | None:
    governance = services.shared.get(SHARED)
    if governance is None:
        return None
    return Guard(governance.counters, governance.limits, governance.pricing, governance.pending,
                 default_max_tokens=governance.default_max_tokens,
                 reserve_max_tokens=governance.reserve_max_tokens, wall_clock=services.wall_clock)


@hookimpl
def register_stores(register):
    register("sql", make_sql_store, options=SqlStoreOptions)


@hookimpl
def register_extensions(register):
    register("store", make_governance, options=StoreOptions, order=EXTENSION_ORDER)


@hookimpl
def register_authenticators(register):
    register("virtual_keys", make_authenticator, order=AUTH_ORDER, always=True)


@hookimpl
def register_middlewares(register):
    register("governance", make_guard, order=GUARD_ORDER, always=True)
