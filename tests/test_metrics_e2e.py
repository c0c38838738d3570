"""Prometheus metrics through the real server: the official openai SDK calls fake vendors, then
``/metrics`` is scraped and parsed, and every counter is checked for its exact value per label
set. Also: no client string ever becomes a label, breakers, cache, rate limits, cost from an
earlier extension, Redis failures, reloads, the scrape token, and ``enabled = false``."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sluicegate import __version__, hookimpl
from sluicegate.gateway import GatewaySource
from sluicegate.testing import FakeUpstream, openai_chat_completion, openai_chunks

TOKEN = "client-token-metrics-0001"
MSG = [{"role": "user", "content": "hi"}]
A = "/a/v1/chat/completions"
B = "/b/v1/chat/completions"
CHAT = "/v1/chat/completions"
DASHBOARD = Path(__file__).resolve().parents[1] / "contrib" / "grafana" / "sluicegate.json"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(url: str, extra: str = "") -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.a]
type = "openai"
base_url = "{url}/a/v1"
api_key = "sk-a-metrics-000000000"

[providers.b]
type = "openai"
base_url = "{url}/b/v1"
api_key = "sk-b-metrics-000000000"

[models.chat]
targets = ["a/m1", "b/m2"]

[models.solo]
targets = ["a/m1"]

[retry]
attempts = 1

{extra}
"""


def ok():
    return FakeUpstream.json_responder(openai_chat_completion("fine"))


def server_error():
    body = {"error": {"message": "The server had an error.", "type": "server_error", "param": None, "code": None}}
    return FakeUpstream.json_responder(body, 500)


class Samples(dict):
    """A parsed scrape: (sample name, labels) -> value."""

    def get_value(self, name: str, **labels: str) -> float | None:
        return self.get((name, frozenset(labels.items())))

    def labels(self) -> set[str]:
        return {value for _, items in self for _, value in items}


async def scrape(server, headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/metrics", headers=headers or {}) as r:
        return r.status, await r.text(), r.headers


async def samples(server, headers: dict[str, str] | None = None) -> Samples:
    status, text, _ = await scrape(server, headers)
    assert status == 200, text
    return Samples({
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    })


@pytest.fixture
async def client_for():
    made: list[openai.AsyncOpenAI] = []

    def make(server, key: str = TOKEN) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def test_exact_counts_after_calls_a_stream_a_401_and_a_fallback(gateway, fake_upstream, client_for):
    up = fake_upstream
    stream = up.sse_responder(openai_chunks(["a ", "stream"], usage=True))
    up.on(A, ok(), ok(), ok(), stream, server_error())
    up.json(B, openai_chat_completion("from b"))
    server = await gateway(config(up.url))
    client = client_for(server)
    for _ in range(3):
        assert (await client.chat.completions.create(model="chat", messages=MSG)).choices[0].message.content == "fine"
    chunks = [c async for c in await client.chat.completions.create(model="chat", messages=MSG, stream=True)]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a stream"
    with pytest.raises(openai.AuthenticationError):
        await client_for(server, "wrong-token").chat.completions.create(model="chat", messages=MSG)
    assert (await client.chat.completions.create(model="chat", messages=MSG)).choices[0].message.content == "from b"

    s = await samples(server)
    requests = "sluicegate_requests_total"
    assert s.get_value(requests, route=CHAT, model="chat", provider="a", status_class="2xx") == 4
    assert s.get_value(requests, route=CHAT, model="chat", provider="b", status_class="2xx") == 1
    assert s.get_value(requests, route=CHAT, model="", provider="", status_class="4xx") == 1
    assert sum(v for (name, labels), v in s.items() if name == requests and ("route", CHAT) in labels) == 6
    assert s.get_value("sluicegate_request_errors_total", route=CHAT, model="", error_class="invalid_request") == 1
    attempts = "sluicegate_upstream_attempts_total"
    assert s.get_value(attempts, provider="a", target="a/m1", outcome="ok") == 4
    assert s.get_value(attempts, provider="a", target="a/m1", outcome="overloaded") == 1
    assert s.get_value(attempts, provider="b", target="b/m2", outcome="ok") == 1
    assert s.get_value("sluicegate_fallbacks_total", model="chat") == 1
    assert s.get_value("sluicegate_retries_total", model="chat") is None
    # Usage as the fake vendor reported it (5 in, 2 out), the stream's included.
    assert s.get_value("sluicegate_tokens_total", model="chat", provider="a", direction="in") == 20
    assert s.get_value("sluicegate_tokens_total", model="chat", provider="a", direction="out") == 8
    assert s.get_value("sluicegate_tokens_total", model="chat", provider="b", direction="in") == 5
    assert s.get_value("sluicegate_time_to_first_token_seconds_count", model="chat", provider="a") == 1
    assert s.get_value("sluicegate_request_duration_seconds_count", route=CHAT, model="chat") == 5
    assert s.get_value("sluicegate_requests_in_flight", route=CHAT) == 0
    assert s.get_value("sluicegate_build_info", version=__version__) == 1
    # The scrape counts itself once it is answered.
    s = await samples(server)
    assert s.get_value(requests, route="/metrics", model="", provider="", status_class="2xx") == 1


async def test_made_up_models_and_paths_never_become_labels(gateway, fake_upstream, client_for):
    fake_upstream.json("/a/v1/chat/completions", openai_chat_completion("direct"))
    server = await gateway(config(fake_upstream.url))
    client = client_for(server)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="zzqx-made-up-model", messages=MSG)
    with pytest.raises(openai.NotFoundError):
        await client.get("/zzqx-made-up-path", cast_to=object)
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("zzqx-unknown")
    # A configured provider with a model nobody configured: labelled "a/*", not the model.
    reply = await client.chat.completions.create(model="a/zzqx-direct", messages=MSG)
    assert reply.choices[0].message.content == "direct"

    status, text, _ = await scrape(server)
    assert status == 200
    assert "zzqx" not in text
    s = await samples(server)
    requests = "sluicegate_requests_total"
    assert s.get_value(requests, route=CHAT, model="", provider="", status_class="4xx") == 1
    assert s.get_value(requests, route="unmatched", model="", provider="", status_class="4xx") == 1
    assert s.get_value(requests, route="/v1/models/{model}", model="", provider="", status_class="4xx") == 1
    assert s.get_value(requests, route=CHAT, model="a/*", provider="a", status_class="2xx") == 1
    assert s.get_value("sluicegate_upstream_attempts_total", provider="a", target="a/*", outcome="ok") == 1
    assert s.get_value("sluicegate_request_errors_total", route="unmatched", model="", error_class="invalid_request") == 1


async def test_breaker_opening_shows_its_state_and_transitions(gateway, fake_upstream, client_for):
    fake_upstream.on(A, server_error())
    clock = Clock()
    server = await gateway(config(fake_upstream.url, "[breaker]\nfailure_threshold = 2\ncooldown = 30\n"),
                           services={"clock": clock})
    client = client_for(server)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="solo", messages=MSG)
    s = await samples(server)
    assert s.get_value("sluicegate_breaker_state", target="a/m1") == 2
    transitions = "sluicegate_breaker_transitions_total"
    assert s.get_value(transitions, target="a/m1", from_state="closed", to_state="open") == 1
    with pytest.raises(openai.InternalServerError) as refused:  # 503: skipped, no call made
        await client.chat.completions.create(model="solo", messages=MSG)
    assert refused.value.status_code == 503
    assert len(fake_upstream.calls(A)) == 2
    s = await samples(server)
    assert s.get_value("sluicegate_upstream_attempts_total", provider="a", target="a/m1", outcome="overloaded") == 2
    assert s.get_value("sluicegate_requests_total", route=CHAT, model="solo", provider="", status_class="5xx") == 1
    # The cooldown passes with no request: the scrape itself sees the breaker go half-open.
    clock.now += 31
    s = await samples(server)
    assert s.get_value("sluicegate_breaker_state", target="a/m1") == 1
    assert s.get_value(transitions, target="a/m1", from_state="open", to_state="half_open") == 1


async def test_cache_hits_and_misses(gateway, fake_upstream, client_for):
    fake_upstream.json(A, openai_chat_completion("cached"))
    server = await gateway(config(fake_upstream.url, "[cache]\nttl = 300\n"))
    client = client_for(server)
    for _ in range(3):
        assert (await client.chat.completions.create(model="solo", messages=MSG)).choices[0].message.content == "cached"
    await client.chat.completions.create(model="solo", messages=[{"role": "user", "content": "other"}])
    s = await samples(server)
    assert s.get_value("sluicegate_cache_results_total", model="solo", result="miss") == 2
    assert s.get_value("sluicegate_cache_results_total", model="solo", result="hit") == 2
    assert s.get_value("sluicegate_upstream_attempts_total", provider="a", target="a/m1", outcome="ok") == 2
    assert len(fake_upstream.calls(A)) == 2
    # Tokens count what the vendor processed: the two misses (5 in each), not the replays.
    assert s.get_value("sluicegate_tokens_total", model="solo", provider="a", direction="in") == 10
    assert s.get_value("sluicegate_requests_total", route=CHAT, model="solo", provider="", status_class="2xx") == 2


async def test_rate_limit_rejections_by_scope(gateway, fake_upstream, client_for):
    fake_upstream.json(A, openai_chat_completion("ok"))
    fake_upstream.json(B, openai_chat_completion("ok"))
    limits = """
[ratelimit]
requests_per_minute = 4

[ratelimit.models.chat]
requests_per_minute = 1

[ratelimit.providers.a]
requests_per_minute = 1
"""
    # A test clock: no budget refills while the test runs.
    server = await gateway(config(fake_upstream.url, limits), services={"clock": Clock()})
    client = client_for(server)
    await client.chat.completions.create(model="solo", messages=MSG)  # client 1/4, provider a 1/1
    with pytest.raises(openai.RateLimitError):  # client 2/4; the only target's provider is spent
        await client.chat.completions.create(model="solo", messages=MSG)
    await client.chat.completions.create(model="chat", messages=MSG)  # client 3/4, model 1/1; a refused, b answers
    with pytest.raises(openai.RateLimitError):  # the model's own budget (the client's charge goes back)
        await client.chat.completions.create(model="chat", messages=MSG)
    with pytest.raises(openai.RateLimitError):  # client 4/4; provider a again
        await client.chat.completions.create(model="solo", messages=MSG)
    with pytest.raises(openai.RateLimitError):  # the client's budget is spent
        await client.chat.completions.create(model="solo", messages=MSG)
    s = await samples(server)
    rejections = "sluicegate_ratelimit_rejections_total"
    assert s.get_value(rejections, scope="provider") == 2
    assert s.get_value(rejections, scope="model") == 1
    assert s.get_value(rejections, scope="client") == 1
    assert s.get_value("sluicegate_requests_total", route=CHAT, model="chat", provider="b", status_class="2xx") == 1
    assert s.get_value("sluicegate_requests_total", route=CHAT, model="solo", provider="", status_class="4xx") == 3
    assert s.get_value("sluicegate_fallbacks_total", model="chat") is None  # a was refused, not called


async def test_concurrency_rejections(gateway, fake_upstream):
    fake_upstream.sse(A, openai_chunks(["slow "] * 5), delay=0.1)
    server = await gateway(config(fake_upstream.url, "[ratelimit]\nconcurrency = 1\n"))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = orjson.dumps({"model": "solo", "messages": MSG, "stream": True})
    async with aiohttp.ClientSession() as http:
        async with http.post(server.base_url + CHAT, data=body, headers=headers) as first:
            assert first.status == 200
            await first.content.readany()
            async with http.post(server.base_url + CHAT, data=body, headers=headers) as second:
                assert second.status == 429
            in_flight = (await samples(server)).get_value("sluicegate_requests_in_flight", route=CHAT)
            assert in_flight == 1
            await first.read()
    s = await samples(server)
    assert s.get_value("sluicegate_ratelimit_rejections_total", scope="concurrency") == 1
    assert s.get_value("sluicegate_requests_in_flight", route=CHAT) == 0


class FlatPrice:
    """An extension that prices each answer before metrics see it (as ``pricing`` does)."""

    @staticmethod
    @hookimpl
    def register_extensions(register):
        class Price:
            def request_finished(self, record):
                if record.tokens_out:
                    record.cost = record.tokens_out * 0.25
                    record.extras["currency"] = "EUR"

        register("flatprice", lambda options, services: Price(), order=100, always=True)


async def test_cost_set_by_an_earlier_extension(gateway, fake_upstream, client_for):
    fake_upstream.json(A, openai_chat_completion("priced"))
    server = await gateway(config(fake_upstream.url), extra_plugins=[("flatprice", FlatPrice)])
    client = client_for(server)
    for _ in range(3):
        await client.chat.completions.create(model="solo", messages=MSG)
    s = await samples(server)
    assert s.get_value("sluicegate_cost_total", model="solo", provider="a", currency="EUR") == 1.5


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_dead_redis_is_counted_once_per_cooldown(gateway, fake_upstream, client_for):
    fake_upstream.json(A, openai_chat_completion("ok"))
    breaker = f'[breaker]\npolicy = "redis"\nurl = "redis://127.0.0.1:{closed_port()}/0"\nsync_interval = 0.05\n'
    server = await gateway(config(fake_upstream.url, breaker))
    client = client_for(server)
    await client.chat.completions.create(model="solo", messages=MSG)  # the board starts syncing
    failures = None
    for _ in range(100):
        s = await samples(server)
        failures = s.get_value("sluicegate_backend_failures_total", backend="redis", feature="breaker")
        if failures:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # six more sync turns: skipped while the link cools down
    s = await samples(server)
    assert s.get_value("sluicegate_backend_failures_total", backend="redis", feature="breaker") == 1
    assert s.get_value("sluicegate_requests_total", route=CHAT, model="solo", provider="a", status_class="2xx") == 1


async def test_metrics_survive_reloads_and_count_them(gateway, fake_upstream, client_for):
    fake_upstream.json(A, openai_chat_completion("ok"))
    text = config(fake_upstream.url)
    server = await gateway(text)
    client = client_for(server)
    await client.chat.completions.create(model="solo", messages=MSG)
    assert await server.gateway.reload() is True
    await client.chat.completions.create(model="solo", messages=MSG)
    s = await samples(server)
    assert s.get_value("sluicegate_requests_total", route=CHAT, model="solo", provider="a", status_class="2xx") == 2
    assert s.get_value("sluicegate_config_reloads_total", result="ok") == 1
    assert s.get_value("sluicegate_config_last_reload_successful") == 1

    good = server.gateway.source
    server.gateway.source = GatewaySource(text="[server\nbroken", env={})
    assert await server.gateway.reload() is False
    s = await samples(server)
    assert s.get_value("sluicegate_config_reloads_total", result="refused") == 1
    assert s.get_value("sluicegate_config_last_reload_successful") == 0

    # Off by reload: the route answers 404; on again: the counts went on meanwhile.
    server.gateway.source = GatewaySource(text=text + "\n[metrics]\nenabled = false\n", env={})
    assert await server.gateway.reload() is True
    assert (await scrape(server))[0] == 404
    server.gateway.source = good
    assert await server.gateway.reload() is True
    await client.chat.completions.create(model="solo", messages=MSG)
    s = await samples(server)
    assert s.get_value("sluicegate_requests_total", route=CHAT, model="solo", provider="a", status_class="2xx") == 3
    # The reload that turned metrics off was not seen by them; the one that turned them on was.
    assert s.get_value("sluicegate_config_reloads_total", result="ok") == 2


async def test_disabled_metrics_answer_404_in_the_openai_shape(gateway, fake_upstream):
    server = await gateway(config(fake_upstream.url, "[metrics]\nenabled = false\n"))
    status, text, headers = await scrape(server)
    assert status == 404
    error = json.loads(text)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("invalid_request_error", "not_found")
    assert headers["x-request-id"]


async def test_a_scrape_token_guards_the_endpoint_and_never_shows(gateway, fake_upstream):
    secret = "metrics-scrape-secret-77"
    server = await gateway(config(fake_upstream.url, '[metrics]\ntoken = "${METRICS_TOKEN}"\npath = "/internal/m"\n'),
                           env={"METRICS_TOKEN": secret})
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {secret}"}):
            async with http.get(server.base_url + "/internal/m", headers=headers) as response:
                assert response.status == 401
                error = (await response.json())["error"]
                assert set(error) == {"message", "type", "param", "code"}
                assert secret not in json.dumps(error)
        async with http.get(server.base_url + "/internal/m", headers={"Authorization": f"Bearer {secret}"}) as r:
            assert r.status == 200
            text = await r.text()
        async with http.get(server.base_url + "/metrics") as response:
            assert response.status == 404  # the path moved
    assert secret not in text
    assert TOKEN not in text
    parsed = {f.name for f in text_string_to_metric_families(text)}
    assert "sluicegate_requests" in parsed


async def test_every_metric_the_grafana_dashboard_queries_is_exported(gateway, fake_upstream, client_for):
    """The dashboard cannot drift: each sluicegate_* name in its PromQL is in a real scrape."""
    fake_upstream.json(A, openai_chat_completion("ok"))
    server = await gateway(config(fake_upstream.url, "[cache]\nttl = 60\n"))
    await client_for(server).chat.completions.create(model="solo", messages=MSG)
    status, text, _ = await scrape(server)
    assert status == 200
    exported: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    for family in text_string_to_metric_families(text):
        exported.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        exported.update(sample.name for sample in family.samples)
    used = dashboard_metric_names(json.loads(DASHBOARD.read_text()))
    assert len(used) >= 10, used
    assert sorted(used - exported) == []


def dashboard_metric_names(dashboard: dict[str, Any]) -> set[str]:
    import re

    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "query", "definition") and isinstance(value, str):
                    names.update(re.findall(r"\bsluicegate_[a-z_]+", value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    return names


async def test_a_dead_redis_under_cache_and_limits_is_counted_per_feature(gateway, fake_upstream, client_for):
    fake_upstream.json(A, openai_chat_completion("ok"))
    url = f"redis://127.0.0.1:{closed_port()}/0"
    extra = (f'[cache]\nbackend = "redis"\nurl = "{url}"\n'
             f'[ratelimit]\nbackend = "redis"\nurl = "{url}"\nrequests_per_minute = 100\n')
    server = await gateway(config(fake_upstream.url, extra))
    client = client_for(server)
    for _ in range(3):  # the first call finds Redis down; the rest are skipped while it cools down
        answer = await client.chat.completions.create(model="solo", messages=MSG)
        assert answer.choices[0].message.content == "ok"
    s = await samples(server)
    assert s.get_value("sluicegate_backend_failures_total", backend="redis", feature="cache") == 1
    assert s.get_value("sluicegate_backend_failures_total", backend="redis", feature="ratelimit") == 1
