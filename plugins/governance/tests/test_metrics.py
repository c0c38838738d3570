"""The governance series on ``/metrics`` through a real gateway (a fake OpenAI vendor reporting
usage, ``[pricing]``, ``[store]`` on a real SQLite file): spend and tokens per issued key and
team add up what the calls cost, budget headroom gauges show limit - spent, config-token
clients add no key series, the label set is bounded, and no secret reaches the scrape.

The scrape is parsed with prometheus_client's own parser. ``refresh_interval`` is an hour, so
the hub's refresh loop (which also updates the gauges every few seconds) never runs during a
test: the gauges are set by calling ``gauge_budgets()`` directly, at a known moment.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web
from attrs import define
from prometheus_client.parser import text_string_to_metric_families

from sluicegate.extensions.metrics_families import Families
from sluicegate.testing.upstream import openai_chat_completion
from sluicegate_governance import metrics as governance_metrics
from sluicegate_governance.issued import digest, new_id, new_secret, shown_prefix
from sluicegate_governance.model import Budget, LedgerRow, Period, Team, VirtualKey

CLIENT_TOKEN = "config-client-token-metrics-0123456789"
VENDOR_KEY = "sk-vendor-secret-metrics-0123456789"
CHAT = "/v1/chat/completions"
PROMPT_TOKENS = 3
COMPLETION_TOKENS = 5
#: Per million tokens: one input token costs 1, one output token 2.
PRICE_IN, PRICE_OUT = 1_000_000, 2_000_000
#: max_tokens of the request held in flight: its reservation is far above its real cost.
ALLOWANCE = 1000
COST = (PROMPT_TOKENS * PRICE_IN + COMPLETION_TOKENS * PRICE_OUT) / 1e6

CONFIG = """
[auth]
tokens = ["{client}"]

[providers.fake]
type = "openai"
base_url = "{upstream}/v1"
api_key = "{vendor}"

[models."m"]
targets = ["fake/gpt"]

[pricing.prices."fake/gpt"]
input = {price_in}
output = {price_out}

[store]
url = "{db}"
refresh_interval = 3600
"""


def _config(upstream, db: str) -> str:
    return CONFIG.format(client=CLIENT_TOKEN, upstream=upstream.url, vendor=VENDOR_KEY, price_in=PRICE_IN,
                         price_out=PRICE_OUT, db=db)


def _answer():
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
             "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}

    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response(openai_chat_completion("ok", usage=usage))

    return respond


def _key(name: str, *, team: str | None = None, budget: Budget | None = None) -> tuple[str, VirtualKey]:
    secret = new_secret()
    return secret, VirtualKey(id=new_id("key"), name=name, digest=digest(secret), prefix=shown_prefix(secret),
                              team_id=team, budget=budget)


def _hub(server):
    return server.gateway.current.extensions["store"]


@define
class Scrape:
    text: str
    samples: list[tuple[str, dict[str, str], float]]

    def value(self, name: str, **labels: str) -> float | None:
        for sample, found, value in self.samples:
            if sample == name and found == labels:
                return value
        return None

    def label_sets(self, name: str) -> list[dict[str, str]]:
        return [found for sample, found, _ in self.samples if sample == name]

    def total(self, name: str, **labels: str) -> float:
        return sum(value for sample, found, value in self.samples
                   if sample == name and all(found.get(k) == v for k, v in labels.items()))


async def _scrape(http: aiohttp.ClientSession, server) -> Scrape:
    async with http.get(server.base_url + "/metrics") as response:
        text = await response.text()
        assert response.status == 200, text
    samples = [(sample.name, dict(sample.labels), sample.value)
               for family in text_string_to_metric_families(text) for sample in family.samples]
    return Scrape(text, samples)


async def _chat(http: aiohttp.ClientSession, server, token: str, max_tokens: int = COMPLETION_TOKENS) -> int:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}
    async with http.post(server.base_url + CHAT, json=body, headers={"Authorization": f"Bearer {token}"}) as response:
        await response.read()
        return response.status


async def _finished(http: aiohttp.ClientSession, server, count: int, within: float = 10.0) -> Scrape:
    """The scrape once ``count`` chat requests were counted. The core metrics extension counts a
    request in the same ``request_finished`` call as the store extension (after it), so its
    count says the governance series have seen the request too."""
    deadline = time.monotonic() + within
    while True:
        scrape = await _scrape(http, server)
        if scrape.total("sluicegate_requests_total", route=CHAT) >= count:
            return scrape
        assert time.monotonic() < deadline, f"{count} requests were never counted"
        await asyncio.sleep(0.02)


async def _settled(hub) -> None:
    """Wait (at most 5 s) until every finished request's settlement ran."""
    for _ in range(500):
        if not (hub.pending or hub._settling):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("settlements still running")


async def _ledger_cost(hub, key_id: str, expected_rows: int, within: float = 15.0) -> float:
    """The summed cost of a key's ledger rows once they are written (in batches, every second)."""
    deadline = time.monotonic() + within
    while True:
        page = await hub.store.logs(key_id=key_id, limit=500)
        if len(page.rows) >= expected_rows:
            return sum(row.cost for row in page.rows)
        assert time.monotonic() < deadline, f"only {len(page.rows)} ledger rows"
        await asyncio.sleep(0.1)


def _assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
        assert secret[6:] not in text  # not even the random part without its prefix
        assert digest(secret) not in text


async def test_spend_tokens_and_budget_headroom_per_key_and_team(gateway, fake_upstream, sqlite_url):
    fake_upstream.on(CHAT, _answer())
    server = await gateway(_config(fake_upstream, sqlite_url))
    hub = _hub(server)
    team = Team(id=new_id("team"), name="ops", budget=Budget(amount=500, period=Period.DAY))
    await hub.put_team(team)
    secret, key = _key("bot", team=team.id, budget=Budget(amount=1000, period=Period.MONTH))
    await hub.put_key(key)
    calls = 3

    async with aiohttp.ClientSession() as http:
        assert [await _chat(http, server, secret) for _ in range(calls)] == [200] * calls
        assert [await _chat(http, server, CLIENT_TOKEN) for _ in range(2)] == [200, 200]
        scrape = await _finished(http, server, calls + 2)

        labels = {"key": key.id, "team": team.id}
        spent = scrape.value("sluicegate_key_spend_total", **labels)
        assert spent == pytest.approx(calls * COST)
        assert spent == pytest.approx(await _ledger_cost(hub, key.id, calls))  # the record agrees
        assert scrape.value("sluicegate_key_tokens_total", **labels, direction="in") == calls * PROMPT_TOKENS
        assert scrape.value("sluicegate_key_tokens_total", **labels, direction="out") == calls * COMPLETION_TOKENS
        # The config token's two calls were served and counted, and made no key series.
        assert scrape.label_sets("sluicegate_key_spend_total") == [labels]
        assert {(found["key"], found["team"]) for found in scrape.label_sets("sluicegate_key_tokens_total")} == {
            (key.id, team.id)}

        await _settled(hub)
        await hub.gauge_budgets()
        scrape = await _scrape(http, server)
    assert scrape.value("sluicegate_budget_remaining", owner=f"key:{key.id}") == pytest.approx(1000 - calls * COST)
    assert scrape.value("sluicegate_budget_remaining", owner=f"team:{team.id}") == pytest.approx(500 - calls * COST)
    assert len(scrape.label_sets("sluicegate_budget_remaining")) == 2
    _assert_no_secret(scrape.text, secret, CLIENT_TOKEN, VENDOR_KEY)


async def test_headroom_counts_what_is_in_flight(gateway, fake_upstream, sqlite_url):
    """A request still running holds its reservation: the gauge shows limit - spent - reserved,
    and the whole budget again once the request is settled with its (smaller) real cost."""
    release = asyncio.Event()
    answer = _answer()

    async def held(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return await answer(request)

    fake_upstream.on(CHAT, held)
    server = await gateway(_config(fake_upstream, sqlite_url))
    hub = _hub(server)
    secret, key = _key("slow", budget=Budget(amount=10_000, period=Period.TOTAL))
    await hub.put_key(key)
    owner = f"key:{key.id}"
    async with aiohttp.ClientSession() as http:
        call = asyncio.create_task(_chat(http, server, secret, max_tokens=ALLOWANCE))
        deadline = time.monotonic() + 10
        while not fake_upstream.calls(CHAT):  # past admission: its reservation is held
            assert time.monotonic() < deadline, "the request never reached the vendor"
            await asyncio.sleep(0.01)
        await hub.gauge_budgets()
        during = (await _scrape(http, server)).value("sluicegate_budget_remaining", owner=owner)
        release.set()
        assert await call == 200
        await _finished(http, server, 1)
        await _settled(hub)
        await hub.gauge_budgets()
        after = (await _scrape(http, server)).value("sluicegate_budget_remaining", owner=owner)
    assert after == pytest.approx(10_000 - COST)
    # The reservation holds at least the completion allowance at the output price.
    assert during is not None and during <= 10_000 - ALLOWANCE * PRICE_OUT / 1e6


async def test_key_and_team_labels_are_bounded_and_the_rest_is_other(gateway, fake_upstream, sqlite_url,
                                                                     monkeypatch):
    monkeypatch.setattr(governance_metrics, "MAX_OWNERS", 2)
    fake_upstream.on(CHAT, _answer())
    server = await gateway(_config(fake_upstream, sqlite_url))
    hub = _hub(server)
    made = [_key(name) for name in ("one", "two", "three")]
    for _, key in made:
        await hub.put_key(key)

    async with aiohttp.ClientSession() as http:
        for done, (secret, _) in enumerate(made, start=1):
            assert await _chat(http, server, secret) == 200
            scrape = await _finished(http, server, done)  # one at a time: the labels go in call order
        # One more call with the third key: still "other", no new series.
        assert await _chat(http, server, made[2][0]) == 200
        scrape = await _finished(http, server, 4)

    one, two, three = (key.id for _, key in made)
    spend = {found["key"]: value for name, found, value in scrape.samples if name == "sluicegate_key_spend_total"}
    assert spend == {one: pytest.approx(COST), two: pytest.approx(COST),
                     governance_metrics.OTHER: pytest.approx(2 * COST)}
    assert three not in scrape.text
    assert scrape.value("sluicegate_key_tokens_total", key=governance_metrics.OTHER, team="",
                        direction="out") == 2 * COMPLETION_TOKENS
    _assert_no_secret(scrape.text, *(secret for secret, _ in made))


def test_a_finished_request_reaches_the_counters_when_flushed():
    # The request path only sums; the counters move when the sums are handed over (before a
    # scrape, and every second for the other workers' scrapes), once, by what was summed.
    families = Families([1.0], [1.0], None)
    series = governance_metrics.GovernanceMetrics(families)
    for _ in range(3):
        series.finished(LedgerRow(at=0.0, request_id="r", key_id="key_a", team_id="team_a",
                                  tokens_in=2, tokens_out=7, cost=0.5))

    def spent() -> float | None:
        return families.registry.get_sample_value("sluicegate_key_spend_total", {"key": "key_a", "team": "team_a"})

    assert spent() is None
    families.flush()
    assert spent() == 1.5
    assert families.registry.get_sample_value(
        "sluicegate_key_tokens_total", {"key": "key_a", "team": "team_a", "direction": "out"}) == 21
    families.flush()  # nothing new: nothing added twice
    assert spent() == 1.5
