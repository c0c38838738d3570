"""Retry hints through the real server: errors the gateway knows to be permanent carry
``x-should-retry: false``, so the official SDKs (which retry 429, 5xx and friends on their own)
send such a request once; where waiting helps, ``Retry-After`` says how long, and no ``false``.

The server's own count of requests (``/metrics``) says how many times a client really asked.
"""

from __future__ import annotations

import aiohttp
import anthropic
import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "client-token-retry-hints-01"
MSG = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"

CONFIG = f"""
[auth]
tokens = ["{TOKEN}"]

[server]
max_body_mb = 0.01

[providers.missing]
type = "openai"
api_key = "${{MISSING_KEY}}"

[providers.missing2]
type = "openai"
api_key = "${{MISSING_KEY_TOO}}"

[providers.up]
type = "openai"
base_url = "{{url}}/v1"
api_key = "sk-up-retry-hints-000000"

[models.unconfigured]
targets = ["missing/gpt-4o"]

[models.all-unconfigured]
targets = ["missing/gpt-4o", "missing2/gpt-4o"]

[models.flaky]
targets = ["up/gpt-4o-mini"]

[retry]
attempts = 1
"""


@pytest.fixture
async def server(gateway, fake_upstream):
    return await gateway(CONFIG.replace("{url}", fake_upstream.url))


async def received(server, route: str, status_class: str) -> int:
    """How many requests the server answered on ``route`` with a status of ``status_class``."""
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/metrics") as response:
        text = await response.text()
    return int(sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "sluicegate_requests_total"
        and sample.labels.get("route") == route and sample.labels.get("status_class") == status_class
    ))


@pytest.mark.parametrize("model", ["unconfigured", "all-unconfigured"])
async def test_the_openai_sdk_sends_a_request_for_an_unconfigured_provider_once(server, model):
    # The SDK's default: two retries of a 503 (the issue saw three calls for one request).
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=2) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model=model, messages=MSG)
    assert await received(server, CHAT, "5xx") == 1
    assert caught.value.status_code == 503
    assert caught.value.code == "provider_not_configured"
    assert caught.value.response.headers["x-should-retry"] == "false"


async def test_the_anthropic_sdk_sends_a_request_for_an_unconfigured_provider_once(server):
    async with anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=2) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await client.messages.create(model="unconfigured", max_tokens=100, messages=MSG)
    assert await received(server, MESSAGES, "5xx") == 1
    assert caught.value.status_code == 503
    assert caught.value.response.headers["x-should-retry"] == "false"


async def test_an_unknown_model_is_permanent_for_both_sdks(server):
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=2) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="no-such-model", messages=MSG)
    assert caught.value.response.headers["x-should-retry"] == "false"
    async with anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=2) as client:
        with pytest.raises(anthropic.NotFoundError) as caught_too:
            await client.messages.create(model="no-such-model", max_tokens=10, messages=MSG)
    assert caught_too.value.response.headers["x-should-retry"] == "false"


def _json(body) -> bytes:
    return orjson.dumps(body)


@pytest.mark.parametrize(
    "method, path, headers, body, status, code",
    [
        ("POST", CHAT, {}, b"{not json", 400, "invalid_json"),
        ("POST", CHAT, {}, _json({"model": "flaky", "messages": "hi"}), 400, None),
        ("POST", CHAT, {"Authorization": "Bearer wrong-token"}, _json({"model": "flaky"}), 401, "invalid_api_key"),
        ("POST", CHAT, {}, _json({"model": "no-such-model", "messages": MSG}), 404, "model_not_found"),
        ("GET", "/v1/no-such-route", {}, b"", 404, "not_found"),
        ("GET", CHAT, {}, b"", 405, "method_not_allowed"),
        ("POST", CHAT, {}, b"x" * 20000, 413, "request_too_large"),
        ("POST", CHAT, {"Content-Encoding": "br"}, b"{}", 415, "unsupported_encoding"),
        ("POST", MESSAGES, {}, _json({"model": "flaky", "messages": MSG}), 400, None),
    ],
    ids=["bad-json", "bad-field", "401", "unknown-model", "unknown-route", "405", "413", "415", "messages-400"],
)
async def test_the_gateways_own_refusals_say_do_not_retry(server, fake_upstream, method, path, headers, body, status,
                                                          code):
    sent = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", **headers}
    async with aiohttp.ClientSession() as http, http.request(
        method, server.base_url + path, data=body, headers=sent
    ) as response:
        raw = await response.read()
        assert response.status == status, raw
        assert response.headers["x-should-retry"] == "false"
        assert "Retry-After" not in response.headers
    error = orjson.loads(raw)["error"]
    if code is not None:
        assert error["code"] == code
    assert fake_upstream.requests == []


async def test_a_vendor_failure_that_may_pass_keeps_the_sdks_own_retry(server, fake_upstream):
    # One try configured: a vendor 503 is transient, so the gateway does not forbid the retry.
    error = {"error": {"message": "busy", "type": "server_error", "param": None, "code": None}}
    fake_upstream.json("/v1/chat/completions", error, status=503)
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=1) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="flaky", messages=MSG)
    assert "x-should-retry" not in caught.value.response.headers
    assert len(fake_upstream.requests) == 2


async def test_the_gateways_rate_limit_says_when_instead_of_never(gateway):
    server = await gateway(f"""
[auth]
tokens = ["{TOKEN}"]
[providers.mock]
type = "mock"
[models.echo]
targets = ["mock/echo-1"]
[ratelimit]
requests_per_minute = 1
""")
    body = _json({"model": "echo", "messages": MSG})
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.base_url + CHAT, data=body, headers=headers) as first:
            assert first.status == 200
        async with http.post(server.base_url + CHAT, data=body, headers=headers) as second:
            assert second.status == 429
            assert int(second.headers["Retry-After"]) >= 1
            assert "x-should-retry" not in second.headers
