"""``/health`` per provider (breakers, recent errors, latency), ``/health/live``, ``/health/ready``
and the optional active checks, through the real server."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from resilience_harness import ONE_TRY, config, ok, server_error

from sluicegate.testing import FakeUpstream


async def get(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def test_live_and_ready_probes(h, fake_upstream):
    await h.start(config(fake_upstream.url))
    base = h.server.base_url
    assert await get(base + "/health/live") == (200, {"status": "ok"})
    status, body = await get(base + "/health/ready")
    assert status == 200
    # a, b, c and dead have keys; nothing else is configured in the harness.
    assert body == {"status": "ready", "configured_providers": 4}
    # Shutting down: the balancer must stop sending before the listener closes.
    h.server.gateway.accepting = False
    assert await get(base + "/health/ready") == (503, {"status": "draining"})
    assert (await get(base + "/health/live"))[0] == 200


async def test_health_shows_each_providers_recent_errors_breaker_and_latency(h, fake_upstream):
    # a fails every call (500), b answers: each request falls back from a to b.
    fake_upstream.on("/a/v1/chat/completions", *[server_error()] * 3)
    fake_upstream.on("/b/v1/chat/completions", *[ok("fine")] * 3)
    await h.start(config(fake_upstream.url, retry=ONE_TRY,
                         extra="[breaker]\nfailure_threshold = 3\ncooldown = 60\n"))
    for _ in range(3):
        assert await h.chat() == "fine"
    health = await h.health()
    a, b = health["providers"]["a"], health["providers"]["b"]
    assert (a["calls_1m"], a["errors_1m"], a["error_rate_1m"]) == (3, 3, 1.0)
    assert a["breaker"] == "open" and a["open_targets"] == 1
    assert "returned HTTP 500" in a["last_error"]
    assert a["last_error_at"] == pytest.approx(time.time(), abs=30)
    assert a["ewma_ttfb_ms"] is None  # failures are not latency samples
    assert (b["calls_1m"], b["errors_1m"], b["error_rate_1m"]) == (3, 0, 0.0)
    assert b["breaker"] == "closed" and "last_error" not in b
    assert b["ewma_ttfb_ms"] >= 0
    # Unused providers are idle, not unknown.
    assert health["providers"]["c"]["calls_1m"] == 0
    assert health["targets"]["a/m1"]["breaker"] == "open"
    # No secret in the page, though the error messages came from the vendor.
    assert "sk-a-000000000000" not in str(health)


async def test_recent_errors_age_out_of_the_window(h, fake_upstream):
    now = [1000.0]
    fake_upstream.on("/a/v1/chat/completions", server_error())
    fake_upstream.on("/b/v1/chat/completions", ok("fine"))
    await h.start(config(fake_upstream.url, retry=ONE_TRY), clock=lambda: now[0])
    assert await h.chat() == "fine"
    assert (await h.health())["providers"]["a"]["errors_1m"] == 1
    now[0] += 61
    a = (await h.health())["providers"]["a"]
    assert (a["calls_1m"], a["errors_1m"], a["error_rate_1m"]) == (0, 0, None)
    assert "last_error" in a  # the last error stays on show; only the counts age


async def test_health_answers_at_once_while_a_vendor_hangs(h, fake_upstream):
    fake_upstream.on("/a/v1/chat/completions", ok("late", delay=5))
    await h.start(config(fake_upstream.url, retry=ONE_TRY, models='[models.chat]\ntargets = ["a/m1"]\n'))
    hanging = asyncio.create_task(h.chat())
    await asyncio.sleep(0.2)
    started = time.monotonic()
    health = await h.health()
    assert time.monotonic() - started < 1.0
    assert health["providers"]["a"]["calls_1m"] == 0
    assert health["targets"]["a/m1"]["in_flight"] == 1
    hanging.cancel()


async def test_active_checks_probe_each_configured_provider(h, fake_upstream):
    fake_upstream.on("/a/v1/models", FakeUpstream.json_responder({"object": "list", "data": []}))
    fake_upstream.on("/b/v1/models", FakeUpstream.json_responder(
        {"error": {"message": "Incorrect API key provided: sk-b-000000000000", "type": "invalid_request_error",
                   "code": "invalid_api_key"}}, 401))
    await h.start(config(fake_upstream.url, extra="[health_checks]\ninterval = 3600\ntimeout = 2\n"))
    checks = h.server.gateway.current.extensions["health_checks"]
    deadline = time.monotonic() + 10
    while checks.rounds < 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    providers = (await h.health())["providers"]
    assert providers["a"]["probe"]["ok"] is True
    assert providers["b"]["probe"]["ok"] is False
    assert "HTTP 401" in providers["b"]["probe"]["error"]
    assert "sk-b-000000000000" not in providers["b"]["probe"]["error"]
    assert providers["dead"]["probe"]["ok"] is False
    assert "could not connect" in providers["dead"]["probe"]["error"]
    # c (Anthropic) has no /models on the fake: a 404 still means the vendor answers.
    assert providers["c"]["probe"]["ok"] is True
    # The probe went out with the provider's key, the way real calls do.
    assert fake_upstream.calls("/a/v1/models")[0].headers["Authorization"] == "Bearer sk-a-000000000000"


async def test_active_checks_are_off_by_default_and_validate_their_table(h, fake_upstream, gateway):
    await h.start(config(fake_upstream.url))
    assert "probe" not in (await h.health())["providers"]["a"]
    assert fake_upstream.calls("/a/v1/models") == []
    from sluicegate.errors import ConfigError
    with pytest.raises(ConfigError) as caught:
        await gateway(config(fake_upstream.url, extra='[health_checks]\ninterval = 0\n'))
    assert [str(p) for p in caught.value.problems] == ["health_checks.interval: must be greater than 0, got 0"]
    with pytest.raises(ConfigError) as caught:
        await gateway(config(fake_upstream.url, extra='[health_checks]\nproviders = ["a", "nope"]\n'))
    assert [str(p) for p in caught.value.problems] == ["health_checks.providers[1]: unknown provider 'nope'"]


async def test_recent_numbers_survive_a_config_reload(h, fake_upstream):
    fake_upstream.on("/a/v1/chat/completions", server_error())
    fake_upstream.on("/b/v1/chat/completions", ok("fine"))
    await h.start(config(fake_upstream.url, retry=ONE_TRY))
    assert await h.chat() == "fine"
    assert await h.server.gateway.reload() is True
    providers = (await h.health())["providers"]
    assert (providers["a"]["calls_1m"], providers["a"]["errors_1m"]) == (1, 1)
    assert providers["b"]["calls_1m"] == 1 and providers["b"]["ewma_ttfb_ms"] is not None
