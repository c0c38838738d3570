"""The typed plugin contract: what every kind of component the core builds must offer.

Plugin authors import from here. Each ``register_*`` hook hands the core a factory; the object
the factory returns must satisfy the Protocol of its kind below. The core checks that once per
assembly (``sluicegate.conformance``): a missing required method, an ``async`` method written as a
plain ``def`` (or the other way round), a method that cannot take the arguments the core passes,
and a public method whose name is close to a contract method the object lacks
(``request_finshed``: "did you mean request_finished?") are config problems naming the plugin
and its distribution. Nothing is looked up per request.

=================  =============================  ===========================================
kind               hook                           contract
=================  =============================  ===========================================
provider           ``register_providers``         ``sluicegate.provider.Provider`` (a base class)
middleware         ``register_middlewares``       ``Middleware`` (+ optional ``TargetGate``, ``aclose``)
extension          ``register_extensions``        ``Extension`` (every method optional)
authenticator      ``register_authenticators``    ``Authenticator``
breaker policy     ``register_breaker_policies``  ``BreakerBoard`` handing out ``Breaker`` s
cache backend      ``register_cache_backends``    ``CacheBackend``
rate limiter       ``register_rate_limiters``     ``RateLimiter``
response store     ``register_response_stores``   ``ResponseStore``
store              ``register_stores``            ``Store``
=================  =============================  ===========================================

Every component may also offer ``async aclose()``: the core calls it once when the assembly
that built the component is retired (a reload, shutdown) or when that assembly failed to build,
in the reverse order of building. A component built for another one through
``services.build(component, options)`` (the cache middleware's backend) belongs to the one that
asked: that one's ``aclose()`` closes it; the core closes it only when the asking factory
raised or returned ``None``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import orjson
from attrs import define

from sluicegate.exchange import GatewayRequest, Handler, RequestContext, Result

# Who is calling: defined with the request context that carries it, offered here with the
# Authenticator contract that makes it.
from sluicegate.exchange import Identity as Identity
from sluicegate.telemetry import EVENTS, RequestRecord

#: What ``TargetGate.gate_target`` may return: run once when that upstream call ends.
Release = Callable[[], Awaitable[None]]


@runtime_checkable
class Closeable(Protocol):
    """Holds resources: ``aclose()`` runs once, when the assembly that built it is retired."""

    async def aclose(self) -> None: ...


# -- request chain -------------------------------------------------------------------------


@runtime_checkable
class Middleware(Protocol):
    """Runs around every proxied API call: ``await call_next(ctx, req)`` continues the chain.

    It may return without calling ``call_next`` (a short-circuit), raise a
    ``sluicegate.errors.GatewayError`` (the client gets that error) or wrap the reply's stream.
    A plain function is a middleware; an object with ``__call__`` may also be a ``TargetGate``
    and ``Closeable``.
    """

    def __call__(self, ctx: RequestContext, req: GatewayRequest, call_next: Handler) -> Awaitable[Result]: ...


class TargetGate(Protocol):
    """Optional on a middleware object: guards each upstream call (retries and fallbacks too)."""

    async def gate_target(self, ctx: RequestContext, req: GatewayRequest, target: Any) -> Release | None:
        """Raise a ``GatewayError`` to refuse ``target`` (a ``sluicegate.exchange.Target``; the
        router moves on as for a vendor's 429), or return a ``Release`` run when the call ends."""


# -- watching ------------------------------------------------------------------------------


class Extension(Protocol):
    """Watches the gateway work. Every method is optional; implement the ones you need.

    The event methods are plain and synchronous: they run on the request path (be quick, never
    block, never do I/O inline). One that raises is logged and skipped.
    """

    def request_started(self, record: RequestRecord) -> None:
        """An HTTP request arrived; ``record`` holds its id, method, path and route."""

    def request_finished(self, record: RequestRecord) -> None:
        """The response is complete (a stream's last byte sent, or its client left)."""

    def breaker_changed(self, target: str, old: str, new: str) -> None:
        """A circuit breaker of ``target`` (a bounded "provider/model" label) changed state."""

    def backend_failed(self, backend: str, feature: str) -> None:
        """A shared backend (``"redis"``) failed a call for ``feature`` (cache, ratelimit, ...)."""

    def config_reloaded(self, ok: bool) -> None:
        """A reload was tried; ``ok`` is False when it was refused (the old config serves on)."""

    async def start(self) -> None:
        """Run once the assembly serves (e.g. to start a background task)."""

    async def aclose(self) -> None:
        """Run once when the assembly is retired."""


#: The extension event methods the core calls, each found once at assembly.
EXTENSION_EVENTS: tuple[str, ...] = EVENTS


# -- authentication ------------------------------------------------------------------------


@runtime_checkable
class Authenticator(Protocol):
    """Decides who a request comes from, before anything else reads it."""

    async def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        """The caller's ``Identity`` when this authenticator recognises the credentials;
        ``None`` when they are not its kind (the next authenticator decides); raise
        ``sluicegate.errors.AuthenticationFailed`` when they are its kind and wrong."""


# -- resilience ----------------------------------------------------------------------------


class Breaker(Protocol):
    """One target's circuit breaker; every method runs on the request path and must not block.

    Every successful ``acquire()`` is followed by exactly one of ``record_success()``,
    ``record_failure(retry_after)`` or ``release()`` (the call ended with no verdict).
    """

    def acquire(self) -> bool: ...

    def record_success(self) -> None: ...

    def record_failure(self, retry_after: float | None = None) -> None: ...

    def release(self) -> None: ...

    def retry_in(self) -> float:
        """Seconds until a call may be tried again (0 when closed)."""

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state, ``"state"`` one of ``closed``, ``open``, ``half_open``."""


@runtime_checkable
class BreakerBoard(Protocol):
    """What a breaker policy builds: the breakers of every (provider, model) target."""

    def get(self, provider: str, model: str) -> Breaker:
        """That target's breaker, made on first use."""

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every breaker's ``snapshot()`` keyed "provider/model", for ``/health``."""


# -- storage -------------------------------------------------------------------------------


@runtime_checkable
class CacheBackend(Protocol):
    """Bytes by key with a time to live. Errors count as misses (the cache fails open)."""

    async def get(self, key: str) -> bytes | None:
        """The stored value, or None when absent or expired."""

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (replacing any previous value)."""

    async def aclose(self) -> None:
        """Release connections; called when the assembly is retired."""


@define(frozen=True, slots=True)
class Decision:
    """A rate-limit verdict. ``retry_after`` is exact (seconds until the cost would fit)."""

    allowed: bool
    limit: float  # the burst capacity, in the limit's unit (requests or tokens)
    remaining: float  # what could still be spent now, after this decision
    retry_after: float  # 0 when allowed
    reset_after: float  # seconds until the bucket is full again


@runtime_checkable
class RateLimiter(Protocol):
    """GCRA / token-bucket limits and in-flight counters, keyed by strings the caller builds.

    Errors raised by a limiter are caught by the rate-limit feature, which then fails open.
    """

    async def acquire(self, key: str, cost: float, rate: float, burst: float) -> Decision:
        """Spend ``cost`` from the bucket ``key`` refilling at ``rate`` per second up to
        ``burst``; nothing is spent when the answer is no. A negative ``cost`` gives back
        (reconciliation of a token estimate) and is always allowed."""

    async def enter(self, key: str, limit: int, ttl: float) -> bool:
        """Take an in-flight slot of ``key`` if fewer than ``limit`` are taken; slots expire
        after ``ttl`` seconds so a crashed process cannot hold them for ever."""

    async def leave(self, key: str) -> None:
        """Give back a slot taken by ``enter``."""

    async def aclose(self) -> None:
        """Release connections; called when the assembly is retired."""


@define(frozen=True, slots=True)
class StoredResponse:
    """One turn of a Responses API conversation as the gateway answered it."""

    # The Response object as the client received it (id, output, usage, ...).
    response: dict[str, Any]
    # This turn's input items, normalised, each with an "id".
    input_items: list[dict[str, Any]]
    # The turn before, or None for a conversation's first: replay walks this chain back.
    previous_response_id: str | None = None

    @property
    def id(self) -> str:
        return self.response["id"]

    def encode(self) -> bytes:
        """The stored form (JSON); its length is what the memory store's byte bound counts."""
        return orjson.dumps({
            "response": self.response,
            "input_items": self.input_items,
            "previous_response_id": self.previous_response_id,
        })


@runtime_checkable
class ResponseStore(Protocol):
    """Stored responses by (tenant, response id), each with a time to live.

    Every method keeps tenants apart: another tenant's response is unknown (``None``).
    """

    async def put(self, tenant: str | None, item: StoredResponse) -> None:
        """Store ``item`` under ``item.response["id"]``, replacing one stored before. Never
        raises for an outage (the answer still reaches the client): it is logged instead.
        ValueError for an item without a usable id."""

    async def get(self, tenant: str | None, response_id: str) -> StoredResponse | None:
        """The stored response, or None when unknown, expired or another tenant's;
        ``StoreUnavailable`` when the store cannot answer."""

    async def delete(self, tenant: str | None, response_id: str) -> bool:
        """Remove it; False when there was nothing (of this tenant's) to remove."""

    async def history(
        self, tenant: str | None, response_id: str, *, max_links: int | None = None
    ) -> list[StoredResponse] | None:
        """The conversation ending with ``response_id``, oldest first, that response last;
        None when ``response_id`` itself is unknown. Raises ``BrokenChain`` (404) when an
        earlier turn is gone, ``ChainTooLong`` (400) beyond ``max_links`` responses (default and
        ceiling: ``[responses] max_chain``), ``StoreUnavailable`` (503)."""

    async def aclose(self) -> None:
        """Release connections; called when the assembly is retired (entries stay stored)."""


@runtime_checkable
class Store(Protocol):
    """Issued keys, teams and the spend ledger in a database (``[store]``, governance).

    The values it takes and gives (``Team``, ``VirtualKey``, ``Snapshot``, ``LedgerRow``,
    ``UsagePoint``, ``LogPage``) are those of ``sluicegate_governance.model``, which defines
    the full contract (``sluicegate_governance.protocols.GovernanceStore``); the core checks the
    methods when it builds one. Nothing here runs on the request path.
    """

    async def open(self) -> None:
        """Connect, and bring the schema to the newest revision when it migrates on start."""

    async def version(self) -> int:
        """A number that grows with every change to a key or team (a cheap poll)."""

    async def snapshot(self) -> Any:
        """Every key and team with the version they are at."""

    async def put_team(self, team: Any) -> None: ...

    async def delete_team(self, team_id: str) -> bool: ...

    async def put_key(self, key: Any) -> None: ...

    async def delete_key(self, key_id: str) -> bool: ...

    async def record(self, rows: Any) -> None:
        """Append ledger rows (and add them to the rollups) in one transaction."""

    async def spend(self, *, since: Mapping[str, float]) -> dict[str, float]:
        """Cost per owner since a time each, from the rollups (never a ledger scan)."""

    async def usage(self, *, start: float, end: float, granularity: Any, group_by: Any = None,
                    key_id: str | None = None, team_id: str | None = None, alias: str | None = None,
                    provider: str | None = None) -> Any:
        """Usage buckets in ``[start, end)`` from the rollups, oldest first."""

    async def logs(self, *, start: float | None = None, end: float | None = None, key_id: str | None = None,
                   team_id: str | None = None, alias: str | None = None, provider: str | None = None,
                   status: int | None = None, cursor: str | None = None, limit: int = 50) -> Any:
        """Ledger rows newest first, a page at a time."""

    async def purge(self, *, ledger_before: float, rollups_before: float) -> int: ...

    async def aclose(self) -> None:
        """Close every connection."""
