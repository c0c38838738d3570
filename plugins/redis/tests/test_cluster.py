"""The Redis backends on a real three-node Redis Cluster (``redis+cluster://``), through two gateways:
one cache, one set of limits and shared breaker openings, with keys spread over the nodes."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest

from sluicegate.errors import ConfigError
from sluicegate.secrets import Secret
from sluicegate_redis.link import RedisLink, Unavailable, make_client, redis_url

MSG = [{"role": "user", "content": "hi"}]


def config(url: str) -> str:
    # Generous Redis timeouts: on a loaded test machine a slow first call must not be taken for
    # an outage (answered from local state), which is another test's subject.
    return f"""
[providers.mock]
type = "mock"
[providers.bad]
type = "mock"
fail_rate = 1.0
fail_status = 500
[models.cached]
targets = ["mock/a"]
[models.limited]
targets = ["mock/b"]
[retry]
attempts = 1
[cache]
backend = "redis"
url = "{url}"
redis_timeout = 5.0
[cache.models.limited]
enabled = false
[ratelimit]
backend = "redis"
url = "{url}"
redis_timeout = 5.0
[ratelimit.models.limited]
requests_per_minute = 3
[breaker]
policy = "redis"
url = "{url}"
redis_timeout = 5.0
failure_threshold = 2
cooldown = 30
sync_interval = 0.05
"""


async def post(http: aiohttp.ClientSession, server, model: str, content: str = "hi"):
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    async with http.post(server.base_url + "/v1/chat/completions", json=body) as response:
        return response.status, response.headers, await response.json()


def keys_per_node(cluster) -> list[int]:
    return [int(re.search(rb":(\d+)", node.command("DBSIZE")).group(1)) for node in cluster.nodes]


async def test_two_gateways_share_cache_limits_and_breakers_through_a_cluster(redis_cluster, gateway):
    one = await gateway(config(redis_cluster.url))
    two = await gateway(config(redis_cluster.url))
    try:
        async with aiohttp.ClientSession() as http:
            # The cache: answered through one, a hit through two.
            status, headers, _ = await post(http, one, "cached")
            assert (status, headers["x-sluicegate-cache"]) == (200, "miss")
            status, headers, _ = await post(http, two, "cached")
            assert (status, headers["x-sluicegate-cache"]) == (200, "hit")

            # One limit of 3 a minute for both gateways together.
            statuses = [(await post(http, server, "limited", f"q{i}"))[0]
                        for i, server in enumerate([one, two, one, two, one])]
            assert statuses == [200, 200, 200, 429, 429]

            # A breaker opened through one is open in two, which then makes no call.
            assert (await post(http, two, "bad/m"))[0] == 500  # two knows the target (still closed)
            assert (await post(http, one, "bad/m"))[0] == 500
            assert (await post(http, one, "bad/m"))[0] == 500  # one's breaker opens and publishes
            deadline = time.monotonic() + 5
            while (await post(http, two, "bad/m"))[2]["error"]["code"] != "circuit_open":
                assert time.monotonic() < deadline, "two never saw the opening"
                await asyncio.sleep(0.05)
        # The cache entry and the breaker's opening live in the cluster, on the nodes owning
        # their hash tags' slots (the client found them; KEYS on each node shows where).
        keys = b"".join(node.command("KEYS", "*") for node in redis_cluster.nodes)
        assert b"{sg:cache:" in keys and b"sg:br:{bad/m}" in keys, keys
        assert sum(keys_per_node(redis_cluster)) >= 2
    finally:
        for server in (one, two):
            await server.gateway.current.breakers.aclose()


async def test_a_cluster_url_makes_a_cluster_client_and_plain_urls_do_not(redis_cluster):
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

    cluster = make_client(redis_cluster.url, 0.25)
    plain = make_client(f"redis://127.0.0.1:{redis_cluster.nodes[0].port}/0", 0.25)
    try:
        assert isinstance(cluster, RedisCluster) and type(plain) is Redis
        await cluster.set("{sg:test}k", b"v")
        assert await cluster.get("{sg:test}k") == b"v"
    finally:
        await cluster.aclose()
        await plain.aclose()


def test_cluster_urls_are_accepted_and_other_schemes_refused(feature_options):
    assert redis_url(feature_options(url=Secret("rediss+cluster://h:7000/0"))) == "rediss+cluster://h:7000/0"
    with pytest.raises(ConfigError) as caught:
        redis_url(feature_options(url=Secret("cluster://h:7000?password=hunter2")))
    message = str(caught.value.problems[0])
    assert "redis+cluster://" in message and "hunter2" not in message


async def test_a_cluster_that_is_down_fails_open_quickly(services):
    link = RedisLink("redis+cluster://127.0.0.1:1/0", clock=services.clock, log=services.log, what="test")
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await link.call(link.client.get, "{sg:x}k")
    assert time.monotonic() - started < 1.0
    with pytest.raises(Unavailable):  # cooling down: not even tried
        await link.call(link.client.get, "{sg:x}k")
    await link.aclose()
