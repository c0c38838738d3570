"""The ``redis`` response store against a real redis-server (and a real three-node cluster): the
memory store's behaviours (TTL, tenants, chains, delete), its keys, replay round trips, and what
a Redis outage does (a put is dropped and logged, reads are a retryable 503)."""

from __future__ import annotations

import asyncio
import hashlib
import logging

import aiohttp
import pytest

from sluicegate.errors import ConfigError
from sluicegate.features.response_store import BrokenChain, ChainTooLong, StoredResponse, StoreUnavailable
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate_redis.keys import response_key
from sluicegate_redis.link import COOLDOWN
from sluicegate_redis.responses import RedisResponseStore, RedisStoreOptions, make_response_store

A, B = "t-aaaaaaaaaaaa", "t-bbbbbbbbbbbb"  # two clients' tenant labels


def item(response_id: str, previous: str | None = None, text: str = "hi") -> StoredResponse:
    return StoredResponse(
        {"id": response_id, "object": "response", "output": [{"type": "message", "content": [{"text": text}]}]},
        [{"id": f"in_{response_id}", "type": "message", "role": "user", "content": text}],
        previous,
    )


def ids(chain):
    return None if chain is None else [entry.id for entry in chain]


async def chain_of(store, tenant, names):
    previous = None
    for name in names:
        await store.put(tenant, item(name, previous))
        previous = name


async def gone(raw, key: str) -> bool:
    """Wait (at most 2 s) for Redis's own clock to expire ``key``."""
    for _ in range(200):
        if not await raw.exists(key):
            return True
        await asyncio.sleep(0.01)
    return False


class Failures:
    """Telemetry that records ``backend_failed`` reports."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def backend_failed(self, backend: str, feature: str) -> None:
        self.seen.append((backend, feature))


@pytest.fixture
def failures() -> Failures:
    return Failures()


@pytest.fixture
async def make(redis_server, clock, failures):
    """``make(**[responses] keys)`` -> a store on the test's server and clock, closed afterwards."""
    made: list[RedisResponseStore] = []
    services = Services(http=None, config=None, clock=clock, telemetry=failures,
                        log=logging.getLogger("sluicegate.test-redis"))

    def build(**keys) -> RedisResponseStore:
        keys.setdefault("url", Secret(redis_server.url))
        store = make_response_store(options=RedisStoreOptions(store="redis", **keys), services=services)
        made.append(store)
        return store

    yield build
    for store in made:
        await store.aclose()


@pytest.fixture
def store(make):
    return make(ttl=60.0, max_chain=50)


# -- put / get, keys, TTL ----------------------------------------------------------------


async def test_round_trip_replace_and_delete(store):
    assert await store.get(A, "resp_1") is None
    await store.put(A, item("resp_1", text="first"))
    assert await store.get(A, "resp_1") == item("resp_1", text="first")
    await store.put(A, item("resp_1", text="second"))
    assert await store.get(A, "resp_1") == item("resp_1", text="second")
    assert await store.delete(A, "resp_1") is True
    assert await store.delete(A, "resp_1") is False
    assert await store.get(A, "resp_1") is None


async def test_keys_are_tenant_scoped_by_digest_and_expire_by_redis_ttl(store, raw):
    await store.put(A, item("resp_1"))
    await store.put(None, item("resp_1"))
    digest = hashlib.sha256(A.encode()).hexdigest()[:32]
    keys = sorted(await raw.keys("*"))
    assert keys == sorted([f"sg:resp:{{{digest}:resp_1}}".encode(), b"sg:resp:{open:resp_1}"])
    assert not any(A.encode() in key for key in keys)  # the tenant label itself is never in a key
    assert 59_000 < await raw.pttl(keys[0]) <= 60_000
    assert await raw.hget(f"sg:resp:{{{digest}:resp_1}}", "c") == b"[]"


async def test_a_response_is_gone_once_its_ttl_passes(make, raw):
    short = make(ttl=0.05)
    await short.put(A, item("resp_1"))
    key = response_key(A, "resp_1")
    assert 0 < await raw.pttl(key) <= 50
    assert await gone(raw, key)
    assert await short.get(A, "resp_1") is None
    assert await short.history(A, "resp_1") is None


async def test_an_expired_earlier_turn_breaks_the_chain(store, raw):
    await store.put(A, item("r1"))
    await store.put(A, item("r2", "r1"))
    await raw.pexpire(response_key(A, "r1"), 1)  # r1's TTL runs out
    assert await gone(raw, response_key(A, "r1"))
    with pytest.raises(BrokenChain) as caught:
        await store.history(A, "r2")
    assert caught.value.missing == "r1" and caught.value.status == 404


# -- tenants -----------------------------------------------------------------------------


async def test_one_tenant_cannot_read_replay_or_delete_anothers_responses(store):
    await chain_of(store, A, ["r1", "r2"])
    for tenant in (B, None):
        assert await store.get(tenant, "r1") is None
        assert await store.history(tenant, "r2") is None
        assert await store.delete(tenant, "r2") is False
    assert ids(await store.history(A, "r2")) == ["r1", "r2"]
    await store.put(B, item("later", "r2"))  # B names A's response: a gap in B's conversation
    with pytest.raises(BrokenChain):
        await store.history(B, "later")


# -- chains ------------------------------------------------------------------------------


async def test_history_is_oldest_first_and_takes_two_round_trips_whatever_its_length(store, raw):
    names = [f"r{n}" for n in range(30)]
    await chain_of(store, A, names)
    await store.put(A, item("fork", "r1"))
    calls = 0
    real = store._link.call

    async def counted(*args, **kwargs):
        nonlocal calls
        calls += 1
        return await real(*args, **kwargs)

    store._link.call = counted
    chain = await store.history(A, "r29")
    assert ids(chain) == names and chain[5] == item("r5", "r4")
    assert calls == 2
    assert ids(await store.history(A, "fork")) == ["r0", "r1", "fork"]
    assert ids(await store.history(A, "r0")) == ["r0"]
    assert await store.history(A, "unknown") is None
    assert await raw.hget(response_key(A, "r3"), "c") == b'["r0","r1","r2"]'


async def test_a_deleted_turn_breaks_the_chain_with_a_404(store):
    await chain_of(store, A, ["r1", "r2", "r3"])
    assert await store.delete(A, "r2") is True
    with pytest.raises(BrokenChain) as caught:
        await store.history(A, "r3")
    error = caught.value
    assert (error.status, error.code, error.param, error.missing) == (
        404, "previous_response_not_found", "previous_response_id", "r2")
    assert error.headers == {"x-should-retry": "false"}
    assert await store.get(A, "r3") is not None


async def test_a_previous_turn_missing_when_stored_is_a_gap_at_replay(store):
    await store.put(A, item("r2", "never_stored"))
    with pytest.raises(BrokenChain) as caught:
        await store.history(A, "r2")
    assert caught.value.missing == "never_stored"


async def test_a_turn_stored_again_with_another_past_does_not_splice_conversations(store):
    await chain_of(store, A, ["r1", "r2", "r3"])
    await store.put(A, item("r2", "elsewhere"))  # same id, another conversation now
    with pytest.raises(BrokenChain) as caught:
        await store.history(A, "r3")
    assert caught.value.missing == "r2"


async def test_a_chain_longer_than_max_chain_is_refused_with_a_400(make, raw):
    store = make(max_chain=3)
    await chain_of(store, A, ["r1", "r2", "r3", "r4", "r5"])
    assert ids(await store.history(A, "r3")) == ["r1", "r2", "r3"]
    for name in ("r4", "r5"):  # r5 follows a conversation already too long
        with pytest.raises(ChainTooLong) as caught:
            await store.history(A, name)
        assert (caught.value.status, caught.value.code, caught.value.limit) == (
            400, "previous_response_chain_too_long", 3)
    assert await raw.hget(response_key(A, "r5"), "c") == b"!"  # nothing grows past the bound
    with pytest.raises(ChainTooLong) as caught:
        await store.history(A, "r2", max_links=1)
    assert caught.value.limit == 1
    assert ids(await store.history(A, "r2", max_links=2)) == ["r1", "r2"]
    with pytest.raises(ChainTooLong) as caught:
        await store.history(A, "r4", max_links=100)
    assert caught.value.limit == 3


async def test_unreadable_ancestry_is_never_replayed_as_a_shorter_chain(store, raw):
    await chain_of(store, A, ["r1", "r2"])
    await raw.hset(response_key(A, "r2"), "c", b"{garbage")
    with pytest.raises(BrokenChain):
        await store.history(A, "r2")
    await store.put(A, item("r3", "r2"))  # its ancestry cannot be known either
    assert await raw.hget(response_key(A, "r3"), "c") == b"?"
    with pytest.raises(BrokenChain):
        await store.history(A, "r3")


# -- Redis away --------------------------------------------------------------------------


async def test_while_redis_is_down_puts_are_dropped_and_logged_and_reads_are_a_retryable_503(
        store, redis_server, clock, caplog, failures):
    caplog.set_level(logging.INFO, logger="sluicegate.test-redis")
    await store.put(A, item("before"))
    redis_server.stop()

    await store.put(A, item("r1"))  # no exception: the answer still reaches the client
    assert store.not_stored == 1
    assert failures.seen == [("redis", "responses")]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2
    assert "the response store refuses reads (503) and stores nothing for 5 s" in warned[0]
    assert "1 response(s) not stored" in warned[1]

    clock.advance(2.0)
    for call in (store.get(A, "before"), store.history(A, "before"), store.delete(A, "before")):
        with pytest.raises(StoreUnavailable) as caught:
            await call
        error = caught.value
        assert (error.status, error.code, error.retryable) == (503, "store_unavailable", True)
        assert error.headers == {"x-should-retry": "true"} and error.retry_after == COOLDOWN - 2.0
    await store.put(A, item("r2"))  # cooling down: not even tried, still not raised
    assert store.not_stored == 2 and len(failures.seen) == 1
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2  # once a minute

    redis_server.start()  # empty: the test server keeps nothing on disk
    clock.advance(COOLDOWN)
    await store.put(A, item("after"))
    assert await store.get(A, "after") == item("after")
    assert store.not_stored == 2


async def test_a_frozen_redis_is_a_503_not_a_hang(make, redis_server):
    store = make(timeout=0.2)
    await store.put(A, item("r1"))
    redis_server.pause()
    try:
        with pytest.raises(StoreUnavailable):
            await store.get(A, "r1")
        await store.put(A, item("r2"))
        assert store.not_stored == 1
    finally:
        redis_server.resume()


# -- config and assembly -----------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", ""])
def test_an_unusable_url_is_a_config_error_at_responses_url(url):
    from sluicegate.config.loader import load_config_text
    from sluicegate.gateway import assemble

    loaded = load_config_text(f'[providers.m]\ntype = "mock"\n[responses]\nstore = "redis"\nurl = "{url}"\n', env={})
    with pytest.raises(ConfigError) as caught:
        assemble(loaded, lambda config, registry: Services(http=None, config=config, registry=registry))
    [problem] = caught.value.problems
    assert problem.path == "responses.url"
    if url:
        assert url not in str(caught.value)


async def test_two_gateways_share_stored_responses_and_a_reload_keeps_them(gateway, redis_server, raw):
    text = f"""
[server]
shutdown_grace = 0
[auth]
tokens = ["tok-one-0000000000"]
[providers.mock]
type = "mock"
[responses]
store = "redis"
url = "{redis_server.url}"
"""
    one = await gateway(text)
    two = await gateway(text)
    tenant = one.gateway.current.authenticators["auth"].identities["tok-one-0000000000"].tenant
    first = one.gateway.current.responses
    assert isinstance(first, RedisResponseStore)
    await chain_of(first, tenant, ["r1", "r2"])
    assert ids(await two.gateway.current.responses.history(tenant, "r2")) == ["r1", "r2"]
    assert await one.gateway.reload()
    assert one.gateway.current.responses is not first
    assert ids(await one.gateway.current.responses.history(tenant, "r2")) == ["r1", "r2"]
    await one.stop()  # the retired store's link is closed; the entries stay in Redis
    assert await raw.exists(response_key(tenant, "r1")) == 1
    async with aiohttp.ClientSession() as http, http.get(two.base_url + "/health") as response:
        assert response.status == 200


async def test_a_chain_spread_over_a_clusters_nodes_is_replayed(redis_cluster, services):
    # A generous timeout: a cluster's first call to each node (slots, a connection) on a busy CI
    # machine must not be taken for an outage here; outages have tests of their own.
    store = make_response_store(
        options=RedisStoreOptions(store="redis", url=Secret(redis_cluster.url), timeout=5.0),
        services=services)
    try:
        names = [f"c{n}" for n in range(40)]
        await chain_of(store, A, names)
        assert ids(await store.history(A, "c39")) == names
        per_node = [node.command("DBSIZE") for node in redis_cluster.nodes]
        assert sum(b":0\r\n" != count for count in per_node) >= 2, per_node  # keys on several nodes
        assert await store.delete(A, "c20") is True
        with pytest.raises(BrokenChain):
            await store.history(A, "c39")
    finally:
        await store.aclose()
