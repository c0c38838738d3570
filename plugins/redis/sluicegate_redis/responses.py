"""Response store ``[responses] store = "redis"``: stored responses shared by every gateway process.

Each response is one hash, ``sg:resp:{<tenant digest>:<id>}``, expiring ``ttl`` seconds after it
was stored (Redis's own expiry): field ``v`` is the stored form (JSON), field ``c`` the ids of the
turns before it, oldest first (a JSON list; ``"!"`` once the conversation is longer than
``max_chain``, ``"?"`` when its ancestry could not be read). Keeping each turn's ancestry makes a
replay two round trips whatever its length: the named response's ``v`` and ``c``, then one
pipeline reading every earlier turn (a cluster client splits it per node). Storing a follow-up
reads its previous turn's ``c`` first: two round trips.

Unlike the cache, a store cannot fail open by answering from local state:

- ``put`` while Redis is down or slow stores nothing and does not raise, so the answer still
  reaches the client; it is logged (once a minute, with a count) and the failed call is counted
  (``sluicegate_backend_failures_total{backend="redis",feature="responses"}``).
- ``get``, ``history`` and ``delete`` raise ``StoreUnavailable``: a 503 ``store_unavailable`` with
  ``x-should-retry: true`` and a ``Retry-After`` of the link's cooldown left. Replaying an
  incomplete conversation, or calling an unknown id a 404, would be wrong answers.

Every call waits at most ``[responses] timeout`` (default 1 s: a replay may read megabytes).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import orjson

from sluicegate.features.response_store import (
    BrokenChain,
    ChainTooLong,
    StoredResponse,
    StoreUnavailable,
    chain_limit,
    checked_id,
    decode_stored,
    usable_id,
)
from sluicegate_redis.keys import response_key
from sluicegate_redis.link import RedisLink, Unavailable, redis_url
from sluicegate_redis.options import RedisStoreOptions

# A response not stored (Redis away) is logged at most this often, in seconds of the clock.
WARN_EVERY = 60.0

# Field ``c`` markers: past max_chain when stored (a replay is refused), or ancestry unreadable
# (a replay cannot be complete).
TOO_LONG = b"!"
UNKNOWN = b"?"

# One atomic step on one key: both fields and the expiry, so no entry can live without a TTL.
STORE = r"""
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'c', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisResponseStore:
    """``sluicegate.features.response_store.ResponseStore`` on Redis."""

    def __init__(
        self, link: RedisLink, *, ttl: float, max_chain: int, clock: Callable[[], float], log: logging.Logger
    ) -> None:
        self._link = link
        self._store = link.client.register_script(STORE)
        self._ttl_ms = max(1, math.ceil(ttl * 1000))
        self._max_chain = max_chain
        self._clock = clock
        self._log = log
        self._quiet_until = -math.inf
        self._unlogged = 0
        # Responses this store could not keep since it was built (Redis away).
        self.not_stored = 0

    async def put(self, tenant: str | None, item: StoredResponse) -> None:
        response_id = checked_id(item)
        value = item.encode()
        previous = item.previous_response_id
        try:
            ancestry = b"[]"
            if previous is not None:
                before = await self._link.call(self._link.client.hget, response_key(tenant, previous), "c")
                ancestry = self._extend(before, previous, response_id)
            await self._link.call(
                self._store, keys=[response_key(tenant, response_id)], args=[value, ancestry, self._ttl_ms]
            )
        except Unavailable:
            self._lost()

    async def get(self, tenant: str | None, response_id: str) -> StoredResponse | None:
        if not usable_id(response_id):
            return None
        return decode_stored(await self._read(self._link.client.hget, response_key(tenant, response_id), "v"))

    async def delete(self, tenant: str | None, response_id: str) -> bool:
        if not usable_id(response_id):
            return False
        return bool(await self._read(self._link.client.unlink, response_key(tenant, response_id)))

    async def history(
        self, tenant: str | None, response_id: str, *, max_links: int | None = None
    ) -> list[StoredResponse] | None:
        if not usable_id(response_id):
            return None
        value, ancestry = await self._read(self._link.client.hmget, response_key(tenant, response_id), "v", "c")
        head = decode_stored(value)
        if head is None:
            return None
        limit = chain_limit(max_links, self._max_chain)
        if ancestry == TOO_LONG:
            raise ChainTooLong(response_id, limit)
        earlier = _parse(ancestry) if head.previous_response_id is not None else []
        if earlier is None:
            raise BrokenChain(response_id, head.previous_response_id or response_id)
        if len(earlier) + 1 > limit:
            raise ChainTooLong(response_id, limit)
        chain = []
        if earlier:
            values = await self._read(self._values, [response_key(tenant, link) for link in earlier])
            expected = None
            for link, data in zip(earlier, values, strict=True):
                item = decode_stored(data)
                # A turn stored again since (same id, another previous turn) no longer belongs
                # here: replaying it would splice two conversations.
                if item is None or item.previous_response_id != expected:
                    raise BrokenChain(response_id, link)
                chain.append(item)
                expected = link
        chain.append(head)
        return chain

    async def aclose(self) -> None:
        await self._link.aclose()

    def _extend(self, before: Any, previous: str, response_id: str) -> bytes:
        """The ancestry of a response following ``previous``, whose ancestry is ``before``."""
        if before is None:
            # The previous turn is gone (expired, deleted, never stored): a replay finds the
            # gap at ``previous`` and says so.
            earlier: list[str] | None = []
        elif before in (TOO_LONG, UNKNOWN):
            return bytes(before)
        else:
            earlier = _parse(before)
            if earlier is None:
                return UNKNOWN
        ancestry = [*earlier, previous]
        if len(ancestry) + 1 > self._max_chain or response_id in ancestry:
            # A loop (ids a vendor reused) could never be replayed either.
            return TOO_LONG
        return orjson.dumps(ancestry)

    async def _values(self, keys: list[str]) -> list[Any]:
        """Every key's ``v`` in one pipeline (per node on a cluster)."""
        async with self._link.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, "v")
            return await pipe.execute()

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await self._link.call(fn, *args)
        except Unavailable:
            raise StoreUnavailable(max(1.0, self._link.retry_in())) from None

    def _lost(self) -> None:
        self.not_stored += 1
        self._unlogged += 1
        now = self._clock()
        if now < self._quiet_until:
            return
        self._quiet_until = now + WARN_EVERY
        self._log.warning(
            "%d response(s) not stored: redis is unavailable, so a previous_response_id naming one "
            "gets a 404 (logged once per %gs)", self._unlogged, WARN_EVERY,
        )
        self._unlogged = 0


def _parse(ancestry: Any) -> list[str] | None:
    """Field ``c`` as a list of ids; None when it is missing or unreadable."""
    if ancestry is None:
        return None
    try:
        earlier = orjson.loads(ancestry)
    except orjson.JSONDecodeError:
        return None
    if type(earlier) is not list or not all(type(link) is str for link in earlier):
        return None
    return earlier



def make_response_store(*, options: RedisStoreOptions, services: Any) -> RedisResponseStore:
    """Factory for ``[responses] store = "redis"`` (``url``, ``ttl``, ``max_chain``, ``timeout``)."""
    link = RedisLink(
        redis_url(options), timeout=options.timeout, clock=services.clock, log=services.log,
        what="the response store", meanwhile="refuses reads (503) and stores nothing",
        telemetry=services.telemetry, feature="responses",
    )
    return RedisResponseStore(
        link, ttl=options.ttl, max_chain=options.max_chain, clock=services.clock, log=services.log,
    )
