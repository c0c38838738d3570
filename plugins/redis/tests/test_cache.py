"""RedisCache against a real redis-server: bytes in and out, PX TTLs, per-key hash tags."""

from __future__ import annotations

import asyncio

import pytest
from redis.crc import key_slot

from sluicegate.errors import ConfigError
from sluicegate.secrets import Secret
from sluicegate_redis.cache import make_cache
from sluicegate_redis.keys import breaker_key, bucket_key, cache_key, slots_key, tag


@pytest.fixture
async def cache(options, services):
    backend = make_cache(options=options, services=services)
    try:
        yield backend
    finally:
        await backend.aclose()


async def test_binary_values_round_trip_and_replace(cache):
    value = bytes(range(256)) * 64  # every byte value, NUL and invalid UTF-8 included
    assert await cache.get("sg:cache:one") is None
    await cache.set("sg:cache:one", value, 60)
    assert await cache.get("sg:cache:one") == value
    await cache.set("sg:cache:one", b"\x00second", 60)
    assert await cache.get("sg:cache:one") == b"\x00second"
    assert await cache.get("sg:cache:two") is None


async def test_ttl_is_set_in_milliseconds_and_entries_expire(cache, raw):
    await cache.set("sg:cache:long", b"v", 2.5)
    assert 2400 <= await raw.pttl("{sg:cache:long}") <= 2500
    await cache.set("sg:cache:short", b"v", 0.15)
    assert 0 < await raw.pttl("{sg:cache:short}") <= 150
    await asyncio.sleep(0.25)
    assert await cache.get("sg:cache:short") is None
    assert await cache.get("sg:cache:long") == b"v"


async def test_a_ttl_of_zero_stores_nothing(cache, raw):
    await cache.set("sg:cache:gone", b"v", 0)
    assert await raw.exists("{sg:cache:gone}") == 0


async def test_keys_carry_the_feature_key_as_their_hash_tag(cache, raw):
    digest = "ab" * 32
    await cache.set(f"sg:cache:{digest}", b"v", 60)
    await cache.set("plain", b"v", 60)
    assert sorted(await raw.keys("*")) == [b"{sg:cache:" + digest.encode() + b"}", b"{sg:cache:plain}"]


def test_key_formats():
    assert cache_key("sg:cache:0f1e") == "{sg:cache:0f1e}"
    assert cache_key("0f1e") == "{sg:cache:0f1e}"
    assert bucket_key("rpm:t-123") == "sg:rl:{rpm:t-123}"
    assert slots_key("rpm:t-123") == "sg:rl:{rpm:t-123}:inflight"
    assert breaker_key("openai/gpt-4o") == "sg:br:{openai/gpt-4o}"
    # A brace would end the tag early, and {} is no tag: such text is replaced by its digest.
    for text in ("a{b", "a}b", "{x}", ""):
        assert tag(text).startswith("{#") and tag(text).endswith("}")
        assert tag(text).count("{") == 1 and len(tag(text)) == 67
    assert cache_key("sg:cache:a}b").startswith("{sg:cache:#")
    assert tag("a{b") != tag("a}b")


def test_tags_are_per_key_so_keys_spread_over_cluster_slots():
    # key_slot hashes only the tag, as Redis Cluster does: one slot per key family would mean
    # every key on one node.
    cache_slots = {key_slot(cache_key(f"sg:cache:{index:064x}").encode()) for index in range(200)}
    limit_slots = {key_slot(bucket_key(f"rpm:t-{index}").encode()) for index in range(200)}
    assert len(cache_slots) > 150 and len(limit_slots) > 150
    # A bucket and its in-flight set share a slot, so one script could touch both.
    assert key_slot(bucket_key("k").encode()) == key_slot(slots_key("k").encode())


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", ""])
def test_unusable_urls_are_config_errors_that_do_not_echo_the_url(url, services, feature_options):
    with pytest.raises(ConfigError) as caught:
        make_cache(options=feature_options(url=Secret(url)), services=services)
    assert caught.value.problems[0].path == "url"
    if url:
        assert url not in str(caught.value)


def test_an_unset_variable_is_named(services, feature_options):
    with pytest.raises(ConfigError, match="REDIS_URL is not set"):
        make_cache(options=feature_options(url=Secret("", ("REDIS_URL",))), services=services)


# -- the backends' own keys in their feature's table ----------------------------------------------


async def test_redis_timeout_is_a_key_of_the_redis_backends_and_reaches_their_link(services):
    # It used to be read with getattr from tables that never had it: it could not be set.
    from sluicegate.config.loader import load_config_text
    from sluicegate_redis.cache import RedisCacheOptions
    from sluicegate_redis.limiter import RedisLimitOptions, make_limiter
    from sluicegate_redis.responses import RedisStoreOptions, make_response_store

    text = ('[providers.mock]\ntype = "mock"\n'
            '[cache]\nbackend = "redis"\nurl = "redis://127.0.0.1:1/0"\nredis_timeout = 0.5\n'
            '[ratelimit]\nbackend = "redis"\nredis_timeout = 0.75\nrequests_per_minute = 5\n'
            '[responses]\nstore = "redis"\ntimeout = 2.5\n')
    config = load_config_text(text, env={}).config
    cache, limits = config.features["cache"], config.features["ratelimit"]
    assert isinstance(cache, RedisCacheOptions) and cache.redis_timeout == 0.5
    assert isinstance(limits, RedisLimitOptions) and limits.redis_timeout == 0.75
    assert isinstance(config.responses, RedisStoreOptions) and config.responses.timeout == 2.5
    made = [make_cache(options=cache, services=services), make_limiter(options=limits, services=services),
            make_response_store(options=config.responses, services=services)]
    try:
        assert [backend._link.timeout for backend in made] == [0.5, 0.75, 2.5]
    finally:
        for backend in made:
            await backend.aclose()


def test_a_redis_key_beside_another_backend_is_refused_with_its_path():
    from sluicegate.config.loader import load_config_text

    with pytest.raises(ConfigError) as caught:
        load_config_text('[providers.mock]\ntype = "mock"\n[cache]\nredis_timeout = 0.5\n', env={})
    assert [(p.path, p.message) for p in caught.value.problems] == [("cache.redis_timeout", "unknown key")]
    with pytest.raises(ConfigError) as caught:
        load_config_text('[providers.mock]\ntype = "mock"\n[cache]\nbackend = "redis"\nredis_timeout = "1s"\n',
                         env={})
    assert [(p.path, p.message) for p in caught.value.problems] == [("cache.redis_timeout", "expected a number, got a string")]
