"""Budgets, revocation and the ledger end to end: real gateways on real PostgreSQL and Redis,
clients over HTTP, a fake OpenAI vendor reporting usage."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest
from aiohttp import web

from sluicegate.testing.upstream import openai_chat_completion, openai_chunks
from sluicegate_governance.issued import digest, new_id, new_secret, shown_prefix
from sluicegate_governance.model import Budget, Period, Team, VirtualKey

# One output token costs exactly 1 (input is free), so costs are whole numbers.
PRICED = """
[providers.fake]
type = "openai"
base_url = "{upstream}/v1"
api_key = "sk-vendor-secret-0123456789"

[models."m"]
targets = ["fake/gpt"]

[pricing.prices."fake/gpt"]
input = 0
output = 1000000

[store]
url = "{db}"
refresh_interval = 0.05
{extra}
"""

COMPLETION_TOKENS = 5


def _config(upstream, db, extra: str = "") -> str:
    return PRICED.format(upstream=upstream.url, db=db, extra=extra)


def _key(name: str, *, team: str | None = None, budget: Budget | None = None) -> tuple[str, VirtualKey]:
    secret = new_secret()
    return secret, VirtualKey(id=new_id("key"), name=name, digest=digest(secret), prefix=shown_prefix(secret),
                              team_id=team, budget=budget)


def _hub(server):
    return server.gateway.current.extensions["store"]


async def _chat(session, server, secret: str, *, stream: bool = False, max_tokens: int = COMPLETION_TOKENS):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}
    if stream:
        body["stream"] = True
    async with session.post(f"{server.base_url}/v1/chat/completions", json=body,
                            headers={"Authorization": f"Bearer {secret}"}) as response:
        return response.status, await response.read(), dict(response.headers)


def _answer(delay: float = 0.0):
    usage = {"prompt_tokens": 3, "completion_tokens": COMPLETION_TOKENS, "total_tokens": 3 + COMPLETION_TOKENS}

    async def respond(request: web.Request) -> web.StreamResponse:
        if delay:
            await asyncio.sleep(delay)
        return web.json_response(openai_chat_completion("ok", usage=usage))

    return respond


async def _ledger(hub, expected: int, within: float = 15.0):
    """The ledger's rows once ``expected`` were written (the writer flushes every second)."""
    deadline = time.monotonic() + within
    while True:
        rows, cursor = [], None
        while True:
            page = await hub.store.logs(cursor=cursor, limit=200)
            rows.extend(page.rows)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.1)


async def test_two_instances_share_one_budget(gateway, fake_upstream, postgres_url, redis_server):
    """100 concurrent requests through two gateways on a key whose budget covers 10: exactly 10
    are answered (each reserves exactly what it costs), the rest are 429 budget_exceeded, and the
    ledger's cost equals the usage the answers reported."""
    fake_upstream.on("/v1/chat/completions", _answer(delay=0.3))
    config = _config(fake_upstream, postgres_url, f'redis_url = "{redis_server.url}"')
    first = await gateway(config)
    second = await gateway(config)
    secret, key = _key("shared", budget=Budget(amount=10 * COMPLETION_TOKENS, period=Period.MONTH))
    await _hub(first).put_key(key)
    await _hub(second).refresh()

    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(
            _chat(session, first if i % 2 else second, secret) for i in range(100)))
    statuses = [status for status, _, _ in results]
    assert statuses.count(200) == 10, statuses
    refused = [(body, headers) for status, body, headers in results if status == 429]
    assert len(refused) == 90
    body, headers = refused[0]
    error = orjson.loads(body)["error"]
    assert error["code"] == "budget_exceeded"
    assert "renews at" in error["message"]
    assert headers["x-should-retry"] == "false"
    reported = sum(orjson.loads(body)["usage"]["completion_tokens"] for status, body, _ in results if status == 200)

    rows = await _ledger(_hub(first), 100)
    assert len(rows) == 100
    assert sum(row.cost for row in rows) == pytest.approx(reported)
    assert sum(1 for row in rows if row.status == 200) == 10
    assert all(row.key_id == key.id for row in rows)
    # Both instances see the whole budget spent.
    for server in (first, second):
        claim = _claims(server, key)[0]
        spent, reserved = await _hub(server).counters.state(claim)
        assert (spent, reserved) == (pytest.approx(reported), 0)


def _claims(server, key):
    from sluicegate_governance.periods import claims_for

    hub = _hub(server)
    grant = hub.index.by_id[key.id]
    return claims_for(grant.key, grant.team, time.time())


async def test_team_budget_binds_every_key_of_the_team(gateway, fake_upstream, sqlite_url):
    fake_upstream.on("/v1/chat/completions", _answer())
    server = await gateway(_config(fake_upstream, sqlite_url))
    hub = _hub(server)
    team = Team(id=new_id("team"), name="ops", budget=Budget(amount=2 * COMPLETION_TOKENS, period=Period.DAY))
    await hub.put_team(team)
    one, key_one = _key("one", team=team.id)
    two, key_two = _key("two", team=team.id)
    await hub.put_key(key_one)
    await hub.put_key(key_two)
    async with aiohttp.ClientSession() as session:
        assert (await _chat(session, server, one))[0] == 200
        await _settled(hub)
        assert (await _chat(session, server, two))[0] == 200
        await _settled(hub)
        status, body, _ = await _chat(session, server, one)
    assert status == 429
    assert "team's budget" in orjson.loads(body)["error"]["message"]


async def _settled(hub) -> None:
    """Wait (at most 5 s) until every finished request's settlement ran."""
    for _ in range(500):
        if not (hub.pending or hub._settling):
            return
        await asyncio.sleep(0.01)


async def test_a_broken_stream_settles_what_it_sent(gateway, fake_upstream, sqlite_url):
    """The vendor stops mid-stream (no usage, no [DONE]): the key is charged for the text that
    reached the client, not for nothing and not for the whole reservation."""
    pieces = ["abcd" * 10] * 4  # ~40 tokens of content
    fake_upstream.sse("/v1/chat/completions", openai_chunks(pieces), done=False)
    server = await gateway(_config(fake_upstream, sqlite_url))
    hub = _hub(server)
    secret, key = _key("streamer", budget=Budget(amount=1_000_000, period=Period.TOTAL))
    await hub.put_key(key)
    async with aiohttp.ClientSession() as session:
        await _chat(session, server, secret, stream=True, max_tokens=1000)
    await _settled(hub)
    rows = await _ledger(hub, 1)
    assert len(rows) == 1
    charged = rows[0].cost
    assert 20 <= charged <= 80, charged  # what was sent (about 40 tokens), far below the 1000 reserved
    spent, reserved = await hub.counters.state(_claims(server, key)[0])
    assert (spent, reserved) == (pytest.approx(charged), 0)


async def test_a_revocation_on_one_instance_refuses_the_key_on_the_other(gateway, fake_upstream, postgres_url):
    fake_upstream.on("/v1/chat/completions", _answer())
    config = _config(fake_upstream, postgres_url).replace("refresh_interval = 0.05", "")  # the default poll
    first = await gateway(config)
    second = await gateway(config)
    secret, key = _key("leaver")
    await _hub(first).put_key(key)
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 10
        while (await _chat(session, second, secret))[0] != 200:  # the other instance learns of it
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await _hub(first).put_key(_revoked(key))
        revoked_at = time.monotonic()
        while (status := (await _chat(session, second, secret))[0]) == 200:
            assert time.monotonic() - revoked_at < 10
            await asyncio.sleep(0.02)
        print(f"revocation reached the other instance after {time.monotonic() - revoked_at:.3f}s")
        assert status == 401
        status, body, _ = await _chat(session, second, secret)
    assert orjson.loads(body)["error"]["code"] == "revoked_api_key"


def _revoked(key: VirtualKey) -> VirtualKey:
    import attrs

    return attrs.evolve(key, enabled=False, revoked_at=time.time())


async def test_a_database_outage_fails_no_request(gateway, fake_upstream, postgres_server):
    """PostgreSQL stops: issued keys still work from memory, the ledger rows wait, and they
    are written once the database is back."""
    url = postgres_server.create_database("outage")
    fake_upstream.on("/v1/chat/completions", _answer())
    server = await gateway(_config(fake_upstream, url))
    hub = _hub(server)
    secret, key = _key("steady")
    await hub.put_key(key)
    postgres_server.stop()
    try:
        async with aiohttp.ClientSession() as session:
            statuses = [(await _chat(session, server, secret))[0] for _ in range(5)]
        assert statuses == [200] * 5
        await asyncio.sleep(1.5)  # the writer tries, fails, keeps the rows
        assert len(hub.writer.rows) == 5
    finally:
        postgres_server.start()
    rows = await _ledger(hub, 5, within=60)
    assert len(rows) == 5
    postgres_server.drop_database("outage")


async def test_issued_keys_wait_for_a_store_that_was_down_at_start(gateway, fake_upstream, postgres_server):
    """The database is down when the gateway starts: an issued key gets a retryable 503 (it may
    be valid), not a 401; once the database answers, the key works."""
    url = postgres_server.create_database("late")
    fake_upstream.on("/v1/chat/completions", _answer())
    secret, key = _key("early")
    from sluicegate_governance.sql.store import SqlStore

    store = SqlStore(url)
    await store.open()
    await store.put_key(key)
    await store.aclose()
    postgres_server.stop()
    try:
        server = await gateway(_config(fake_upstream, url))
        async with aiohttp.ClientSession() as session:
            status, body, headers = await _chat(session, server, secret)
        assert status == 503, body
        assert orjson.loads(body)["error"]["code"] == "key_store_unavailable"
        assert headers.get("Retry-After") == "5"
        assert fake_upstream.requests == []
    finally:
        postgres_server.start()
    async with aiohttp.ClientSession() as session:
        for _ in range(200):  # the refresh loop reconnects (every 0.05 s here)
            status, _, _ = await _chat(session, server, secret)
            if status == 200:
                break
            await asyncio.sleep(0.1)
    assert status == 200
