"""Breaker policy "redis": an opening in one process holds the target open in the others."""

from __future__ import annotations

import asyncio
import time

import pytest

from sluicegate.config.loader import load_config_text
from sluicegate.errors import ConfigError
from sluicegate.resilience.breaker import BreakerState
from sluicegate.secrets import Secret
from sluicegate_redis.breakers import RedisBreakerOptions, make_board


def board_options(url: str, **overrides) -> RedisBreakerOptions:
    values = {"policy": "redis", "url": Secret(url), "failure_threshold": 2, "cooldown": 30.0,
              "sync_interval": 0.05}
    return RedisBreakerOptions(**{**values, **overrides})


@pytest.fixture
async def boards(redis_server, services):
    """``boards(**options)`` -> a new board (one per gateway process), all closed afterwards."""
    made = []

    def new(**overrides):
        board = make_board(options=board_options(redis_server.url, **overrides), services=services)
        made.append(board)
        return board

    yield new
    for board in made:
        await board.aclose()


async def wait_for(predicate, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def trip(breaker, times: int = 2) -> None:
    for _ in range(times):
        assert breaker.acquire()
        breaker.record_failure(None)


async def test_an_opening_is_published_with_its_end(boards, raw, services):
    a = boards()
    trip(a.get("openai", "gpt-4o"))
    assert a.get("openai", "gpt-4o").state is BreakerState.OPEN

    async def published():
        return await raw.exists("sg:br:{openai/gpt-4o}") == 1

    assert await wait_for(published)
    until_ms = int(await raw.get("sg:br:{openai/gpt-4o}"))
    assert until_ms == pytest.approx(services.wall_clock() * 1000 + 30_000, abs=1000)
    assert await raw.pttl("sg:br:{openai/gpt-4o}") == pytest.approx(30_000, abs=1000)


async def test_the_other_process_skips_the_target_after_a_sync(boards, raw):
    a, b = boards(), boards()
    theirs = b.get("openai", "gpt-4o")  # b routed to the target before: it is known there
    trip(a.get("openai", "gpt-4o"))
    assert await wait_for(lambda: _exists(raw, "sg:br:{openai/gpt-4o}"))
    assert theirs.acquire()  # not yet synced
    theirs.release()
    await b.sync()
    assert theirs.state is BreakerState.OPEN
    assert not theirs.acquire()
    assert theirs.retry_in() == pytest.approx(30, abs=1)
    snap = b.snapshot()["openai/gpt-4o"]
    assert snap["state"] == "open" and snap["opened"] == 0  # b's own count: it never failed
    # Other targets are left alone.
    assert b.get("openai", "gpt-4o-mini").state is BreakerState.CLOSED


async def test_the_background_sync_does_it_alone(boards, raw):
    a, b = boards(), boards()
    theirs = b.get("mock", "m")  # first get() starts b's sync task on this loop
    trip(a.get("mock", "m"))
    assert await wait_for(lambda: _is(theirs, BreakerState.OPEN))


async def test_half_open_after_the_shared_cooldown(boards, raw, clock):
    a, b = boards(cooldown=0.3), boards(cooldown=0.3)
    theirs = b.get("p", "m")
    trip(a.get("p", "m"))
    assert await wait_for(lambda: _exists(raw, "sg:br:{p/m}"))
    await b.sync()
    assert theirs.state is BreakerState.OPEN
    # The key expires with the cooldown (Redis's time); the boards' clock follows along.
    await asyncio.sleep(0.35)
    clock.advance(0.35)
    assert theirs.state is BreakerState.HALF_OPEN
    await b.sync()  # nothing left to force
    assert theirs.state is BreakerState.HALF_OPEN
    assert theirs.acquire()  # b probes the target itself
    theirs.record_success()
    assert theirs.state is BreakerState.CLOSED


async def test_a_shorter_opening_does_not_cut_a_longer_one(boards, raw):
    long_, short = boards(cooldown=60.0), boards(cooldown=5.0)
    trip(long_.get("p", "m"))
    assert await wait_for(lambda: _exists(raw, "sg:br:{p/m}"))
    trip(short.get("p", "m"))
    await asyncio.sleep(0.2)  # let short's publication land (or not)
    assert await raw.pttl("sg:br:{p/m}") == pytest.approx(60_000, abs=1000)
    await short.sync()
    assert short.get("p", "m").retry_in() == pytest.approx(60, abs=1)


async def test_redis_down_leaves_each_process_its_own_breakers(boards, redis_server, caplog):
    a, b = boards(), boards()
    theirs = b.get("p", "m")
    redis_server.stop()
    started = time.monotonic()
    trip(a.get("p", "m"))  # synchronous, never waits for Redis
    assert time.monotonic() - started < 0.05
    assert a.get("p", "m").state is BreakerState.OPEN
    await asyncio.wait_for(b.sync(), 1.0)
    assert theirs.state is BreakerState.CLOSED and theirs.acquire()
    theirs.release()


async def test_aclose_stops_the_sync_task(boards):
    board = boards()
    board.get("p", "m")
    task = board._sync_task
    assert task is not None and not task.done()
    await board.aclose()
    assert task.done()


def test_breaker_table_selects_the_policy(redis_server):
    loaded = load_config_text(f"""
[breaker]
policy = "redis"
url = "{redis_server.url}"
sync_interval = 0.5
failure_threshold = 3
[providers.m]
type = "mock"
""")
    options = loaded.config.breaker
    assert isinstance(options, RedisBreakerOptions)
    assert options.url == Secret(redis_server.url) and options.sync_interval == 0.5
    assert options.failure_threshold == 3 and options.redis_timeout == 0.25
    assert redis_server.url not in repr(options)

    with pytest.raises(ConfigError) as caught:
        load_config_text('[breaker]\npolicy = "redis"\nsync_intervall = 1\nsync_interval = 0\n')
    text = str(caught.value)
    assert "breaker.sync_intervall" in text and 'did you mean "sync_interval"' in text
    assert "breaker.sync_interval: must be greater than 0" in text


async def _exists(raw, key: str) -> bool:
    return await raw.exists(key) == 1


async def _is(breaker, state: BreakerState) -> bool:
    return breaker.state is state


async def test_through_two_gateways_a_target_one_tripped_is_skipped_by_the_other(redis_server, gateway):
    import aiohttp

    config = f"""
[providers.bad]
type = "mock"
fail_rate = 1.0
fail_status = 500

[retry]
attempts = 1

[breaker]
policy = "redis"
url = "{redis_server.url}"
failure_threshold = 2
cooldown = 30
sync_interval = 0.05
"""
    one, two = await gateway(config), await gateway(config)
    body = {"model": "bad/m", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:

        async def ask(server):
            async with http.post(f"http://127.0.0.1:{server.port}/v1/chat/completions", json=body) as resp:
                return resp.status, (await resp.json())["error"]["code"]

        assert (await ask(two))[0] == 500  # two knows the target now (one failure, still closed)
        assert (await ask(one))[0] == 500
        assert (await ask(one))[0] == 500  # one's breaker opens and says so in Redis
        assert await ask(one) == (503, "circuit_open")

        async def skipped_by_two():
            return await ask(two) == (503, "circuit_open")

        # Without the sharing, two would call the upstream again and get a 500.
        assert await wait_for(skipped_by_two)
    # Assembly.aclose() does not close the breaker board (yet): close ours so no connection is
    # left open when the test's loop ends.
    for server in (one, two):
        await server.gateway.current.breakers.aclose()
