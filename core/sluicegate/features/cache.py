"""The response cache middleware: canonical request keys, stored answers replayed, and coalescing.

A complete 200 answer (JSON, or a stream that ended cleanly) is stored under a key derived
from everything that shapes it: endpoint, requested model, its targets, the tenant (unless
``shared``), the stream flag and the body minus ``IGNORED_FIELDS``. A hit replays the same
kind of answer with the same bytes. Errors, broken or abandoned streams and degraded answers
are never stored. Identical requests in flight together share one upstream call.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
from attrs import Factory, define, field

from sluicegate.config.checks import at_least_one, optional_positive, positive
from sluicegate.config.converter import suggest
from sluicegate.contracts import CacheBackend
from sluicegate.errors import ConfigError, ConfigProblem, GatewayError
from sluicegate.exchange import (
    Endpoint,
    GatewayRequest,
    Handler,
    Reply,
    RequestContext,
    Result,
    SSEEvent,
    StreamReply,
)
from sluicegate.hookspecs import hookimpl
from sluicegate.pipeline import Order
from sluicegate.plugin_options import FeatureOptions
from sluicegate.registry import CACHE_BACKEND
from sluicegate.secrets import config_secrets, scrub
from sluicegate.services import Services

#: Operations whose answers depend only on the request; moderations are left out on purpose
#: (a policy verdict should be fresh when the policy model changes).
CACHEABLE = frozenset({Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS, Endpoint.MESSAGES})

#: Top-level body fields left out of the key: they steer logging, billing or transport, never
#: what the model answers. ``stream_options`` is NOT here: ``include_usage`` adds a usage chunk,
#: and ``parallel_tool_calls`` changes which tool calls come back.
IGNORED_FIELDS = frozenset({
    "stream",             # in the key as its own flag (a stream and a JSON answer differ)
    "user",               # an end-user id for the vendor's abuse monitoring
    "safety_identifier",  # OpenAI's successor to ``user``
    "metadata",           # tags the vendor stores (OpenAI); Anthropic's ``metadata.user_id``
    "store",              # whether OpenAI keeps the completion
    "service_tier",       # price and latency tier
    "prompt_cache_key",   # a routing hint for the vendor's own prompt cache
})

KEY_PREFIX = "sg:cache:"
# A failing backend (Redis down) is logged at most this often, in seconds of services.clock.
WARN_EVERY = 60.0

_REPLY = b"R"
_STREAM = b"S"


@define(kw_only=True)
class ModelCacheOptions:
    """``[cache.models."<requested model>"]``: turn the cache off or change its TTL per model."""

    # false: this model's answers are never cached.
    enabled: bool = True
    # Seconds, instead of [cache] ttl.
    ttl: float | None = field(default=None, validator=optional_positive)


@define(kw_only=True)
class CacheOptions(FeatureOptions):
    """The ``[cache]`` table; backends receive it whole. A backend with keys of its own (the
    Redis backend's ``url``) registers a subclass, which then structures the table."""

    # The cache backend plugin: "memory" (built in) or "redis" (sluicegate-redis).
    backend: str = "memory"
    # Seconds an answer stays cached.
    ttl: float = field(default=300.0, validator=positive)
    max_entries: int = field(default=10_000, validator=at_least_one)  # memory backend
    shared: bool = False  # entries cross client tokens only when true
    # Per requested model: [cache.models.<model>].
    models: dict[str, ModelCacheOptions] = Factory(dict)
    # Identical requests in flight at once share one upstream call.
    coalesce: bool = True
    # Answers larger than this are not stored.
    max_entry_bytes: int = field(default=1_048_576, validator=at_least_one)
    # Memory backend: all entries together, in MiB (the worst case is otherwise
    # max_entries x max_entry_bytes).
    max_memory_mb: float = field(default=256.0, validator=positive)


def cache_key(req: GatewayRequest, tenant: str | None) -> str:
    """``sg:cache:`` + the sha256 of the canonical request (keys sorted at every depth)."""
    body = req.body
    canonical = {
        "endpoint": req.endpoint.value,
        "model": req.model,
        "targets": [target.label for target in req.targets],
        "tenant": tenant,
        "stream": req.stream,
        "body": {name: value for name, value in body.items() if name not in IGNORED_FIELDS},
    }
    return KEY_PREFIX + hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def client_directives(headers: Any) -> tuple[bool, bool]:
    """(may read, may store) from the request's ``Cache-Control``: no-cache, no-store."""
    values = headers.getall("cache-control", ())
    if not values:
        return True, True
    directives = {part.strip().lower() for value in values for part in value.split(",")}
    if "no-store" in directives:
        return False, False
    if "no-cache" in directives:
        return False, True
    return True, True


def encode_reply(body: bytes) -> bytes:
    return _REPLY + body


def encode_stream(events: Iterable[SSEEvent]) -> bytes | None:
    """The stored form of a stream; None when an event's data is not UTF-8 (not storable)."""
    try:
        return _STREAM + orjson.dumps([[event.event, event.data.decode()] for event in events])
    except UnicodeDecodeError:
        return None


def decode(value: Any) -> Result | None:
    """A stored entry as the answer it was; None for anything unreadable (a miss)."""
    if not isinstance(value, bytes | bytearray):
        return None
    kind = value[:1]
    if kind == _REPLY:
        return Reply(bytes(value[1:]))
    if kind != _STREAM:
        return None
    try:
        events = orjson.loads(memoryview(value)[1:])
    except orjson.JSONDecodeError:
        return None
    if type(events) is not list or not all(_is_event(event) for event in events):
        return None
    return StreamReply(_replay(events))


def _is_event(item: Any) -> bool:
    return (
        type(item) is list and len(item) == 2
        and (item[0] is None or type(item[0]) is str) and type(item[1]) is str
    )


async def _replay(events: list[list[Any]]) -> AsyncIterator[SSEEvent]:
    # Every stored event is here at once and the end follows the last: marked ``more``, they
    # leave with the end in one write, not one write each (SSEEvent.more).
    for name, data in events:
        yield SSEEvent(data.encode(), name, True)


class ResponseCache:
    """The ``cache`` middleware; one per assembly. ``_inflight`` maps a key to the future its
    leader resolves with the stored form (share it), a GatewayError (raise it) or None (each
    follower asks upstream itself)."""

    def __init__(self, options: CacheOptions, backend: CacheBackend, services: Services) -> None:
        self.backend = backend
        self._ttl = options.ttl
        # Requested model -> its TTL, or None when the cache is off for it; resolved once here.
        self._model_ttl: dict[str, float | None] = {
            name: (model.ttl if model.ttl is not None else options.ttl) if model.enabled else None
            for name, model in options.models.items()
        }
        self._shared = options.shared
        self._coalesce = options.coalesce
        self._max_bytes = options.max_entry_bytes
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._clock = services.clock
        self._log = services.log
        self._quiet_until = -math.inf
        # Whatever secret the chosen backend's keys hold (a Redis URL's password).
        self._secrets = config_secrets(options)

    def _ttl_for(self, req: GatewayRequest) -> float | None:
        """The TTL for the requested name, else for its route (a glob alias's
        ``[cache.models."claude-*"]`` covers every name it matched); None: not cached."""
        ttls = self._model_ttl
        if not ttls:
            return self._ttl
        if req.model in ttls:
            return ttls[req.model]
        if req.route is not None and req.route.name in ttls:
            return ttls[req.route.name]
        return self._ttl

    async def __call__(self, ctx: RequestContext, req: GatewayRequest, call_next: Handler) -> Result:
        ttl = self._ttl_for(req) if req.endpoint in CACHEABLE else None
        read, write = client_directives(ctx.client_headers) if ttl is not None else (False, False)
        if not write:
            ctx.facts.cache = "bypass"
            return await call_next(ctx, req)
        key = cache_key(req, None if self._shared else ctx.tenant)
        if read:
            flight = self._inflight.get(key)
            if flight is None:
                value = await self._get(key)
                result = decode(value)
                if result is not None:
                    ctx.facts.cache = "hit"
                    return result
                # A leader may have started while a networked backend was answering.
                flight = self._inflight.get(key)
            if flight is not None:
                # Shielded: a follower that gives up must not cancel the future the others share.
                outcome = await asyncio.shield(flight)
                if isinstance(outcome, GatewayError):
                    raise outcome
                result = decode(outcome)
                if result is not None:
                    ctx.facts.cache = "coalesced"
                    return result
                # Nothing to share (a broken or abandoned stream, a degraded answer): ask
                # upstream alone rather than queue behind another leader that may fail alike.
                ctx.facts.cache = "miss"
                return await self._fetch(ctx, req, call_next, key, ttl, None)
        ctx.facts.cache = "miss"
        lead = None
        if self._coalesce and key not in self._inflight:
            lead = asyncio.get_running_loop().create_future()
            self._inflight[key] = lead
        return await self._fetch(ctx, req, call_next, key, ttl, lead)

    async def _fetch(self, ctx, req, call_next, key: str, ttl: float, lead) -> Result:
        """Call upstream, store a storable answer, and tell the followers (when leading)."""
        try:
            result = await call_next(ctx, req)
        except GatewayError as error:
            self._land(key, lead, error)
            raise
        except BaseException:
            self._land(key, lead, None)
            raise
        # The router's [degrade] message is not the model's answer.
        storable = not ctx.facts.degraded
        if isinstance(result, StreamReply):
            if not storable:
                self._land(key, lead, None)
                return result
            result.events = self._record(result.events, key, ttl, lead)
            if lead is not None:
                # Also when the stream is closed before it was ever read (the generator's own
                # cleanup only runs once it has started).
                result.also_on_close(lambda: self._land(key, lead, None))
            return result
        value = None
        try:
            if storable and result.status == 200:
                body = result.body
                value = encode_reply(body)
                if len(body) <= self._max_bytes:
                    await self._set(key, value, ttl)
        finally:
            self._land(key, lead, value)
        return result

    async def _record(self, events: AsyncIterator[SSEEvent], key: str, ttl: float, lead) -> AsyncIterator[SSEEvent]:
        """Relay the events, keeping them; only a stream that ends cleanly is stored."""
        kept: list[SSEEvent] | None = []
        size = 0
        value = None
        try:
            async for event in events:
                if kept is not None:
                    size += len(event.data)
                    if size > self._max_bytes:
                        kept = None  # too big to store: stop holding the events
                    else:
                        kept.append(event)
                yield event
            if kept is not None:
                value = encode_stream(kept)
                if value is not None:
                    await self._set(key, value, ttl)
        finally:
            # An error or an early close leaves value None: followers go upstream themselves.
            self._land(key, lead, value)

    def _land(self, key: str, lead: asyncio.Future[Any] | None, outcome: Any) -> None:
        if lead is None:
            return
        if not lead.done():
            lead.set_result(outcome)
        if self._inflight.get(key) is lead:
            del self._inflight[key]

    async def _get(self, key: str) -> Any:
        try:
            return await self.backend.get(key)
        except Exception as exc:  # the cache is an optimisation: never fail a request for it
            self._backend_failed("read", exc)
            return None

    async def _set(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self.backend.set(key, value, ttl)
        except Exception as exc:  # the answer is already good; losing the entry is fine
            self._backend_failed("write", exc)

    def _backend_failed(self, action: str, exc: Exception) -> None:
        now = self._clock()
        if now < self._quiet_until:
            return
        self._quiet_until = now + WARN_EVERY
        self._log.warning(
            "cache backend failed to %s (%s: %s); serving without the cache (logged once per %gs)",
            action, type(exc).__name__, scrub(str(exc), self._secrets), WARN_EVERY,
        )

    async def aclose(self) -> None:
        await self.backend.aclose()


def make_cache(*, options: CacheOptions, services: Services) -> ResponseCache | None:
    """The ``cache`` middleware factory: picks the backend by name, once per assembly."""
    registry = services.registry
    component = registry.get(CACHE_BACKEND, options.backend) if registry is not None else None
    if component is None:
        installed = sorted(registry.of_kind(CACHE_BACKEND)) if registry is not None else []
        raise ConfigError([ConfigProblem(
            "backend",
            f"unknown cache backend {options.backend!r}{suggest(options.backend, installed)}; "
            f"installed: {', '.join(installed) or 'none'}",
        )])
    backend = services.build(component, options)
    if backend is None:
        return None  # the backend left itself out: so does the cache
    return ResponseCache(options, backend, services)


# The default plugin ``sluicegate.cache``: this middleware, on when [cache] is present.
@hookimpl
def register_middlewares(register):
    register("cache", make_cache, options=CacheOptions, order=Order.CACHE)
