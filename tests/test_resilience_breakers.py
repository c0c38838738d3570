"""Resilience, circuit breakers: opening, half-open probes, cooldowns, failure rates;
the official SDKs through the real server to fake vendors, non-streaming requests
(streams: ``test_resilience_streams.py``; the shared harness and its rules: ``resilience_harness.py``).
"""

from __future__ import annotations

import asyncio

import openai
import orjson
import pytest
from resilience_harness import (
    BAD_REQUEST,
    DEGRADE,
    DEGRADED,
    MSG,
    ONE_TRY,
    A,
    B,
    body,
    config,
    ok,
    rate_limited,
    server_error,
)

# -- circuit breakers ------------------------------------------------------------------------------

BREAKER = "[breaker]\nfailure_threshold = 2\ncooldown = 30\n"


async def test_breaker_opens_skips_the_target_and_closes_after_a_half_open_probe(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])

    assert await h.chat() == "from b"
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (2, 2)
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["breaker"] == "open"
    assert targets["a/m1"]["retry_in"] == 30.0
    assert targets["a/m1"]["opened"] == 1
    assert targets["b/m2"]["breaker"] == "closed"

    # Open: the third request makes no call to a at all.
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (2, 3)

    now[0] += 29.9
    assert await h.chat() == "from b"
    assert h.calls(A) == 2

    now[0] += 0.2  # past the cooldown: half-open, one probe goes to a, which has recovered
    h.up.on(A, ok("from a"))
    assert (await h.health())["targets"]["a/m1"]["breaker"] == "half_open"
    assert await h.chat() == "from a"
    assert (h.calls(A), h.calls(B)) == (3, 4)
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["breaker"] == "closed"
    assert targets["a/m1"]["consecutive_failures"] == 0
    assert await h.chat() == "from a"
    assert h.waits == []


async def test_a_failed_half_open_probe_opens_the_breaker_again(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    for _ in range(2):
        await h.chat()
    now[0] += 31
    assert await h.chat() == "from b"  # the probe to a failed
    assert h.calls(A) == 3
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["breaker"] == "open" and targets["a/m1"]["opened"] == 2
    assert await h.chat() == "from b"
    assert h.calls(A) == 3


async def test_every_breaker_open_is_a_503_circuit_open_without_upstream_calls(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(503))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    for _ in range(2):
        status, headers, raw = await h.post(body())
        assert status == 503
        assert orjson.loads(raw)["error"]["code"] == "upstream_overloaded"
        assert headers["x-should-retry"] == "false"
    assert (h.calls(A), h.calls(B)) == (2, 2)

    now[0] += 10
    status, headers, raw = await h.post(body())
    assert status == 503
    assert orjson.loads(raw)["error"]["code"] == "circuit_open"
    assert headers["Retry-After"] == "20"
    assert (h.calls(A), h.calls(B)) == (2, 2)

    with pytest.raises(openai.InternalServerError) as caught:
        await h.chat("a/m1")  # a direct target is guarded by the same breaker
    assert caught.value.status_code == 503 and caught.value.code == "circuit_open"
    assert (h.calls(A), h.calls(B)) == (2, 2)


async def test_client_errors_do_not_open_the_breaker(h):
    now = [1000.0]
    h.up.on(A, BAD_REQUEST, BAD_REQUEST, BAD_REQUEST, ok("from a"))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    for _ in range(3):
        with pytest.raises(openai.BadRequestError):
            await h.chat()
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["breaker"] == "closed"
    assert targets["a/m1"]["consecutive_failures"] == 0
    assert await h.chat() == "from a"
    assert (h.calls(A), h.calls(B)) == (4, 0)


async def test_a_success_resets_the_consecutive_count(h):
    now = [1000.0]
    h.up.on(A, server_error(500), ok("from a"), server_error(500), ok("from a"))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    answers = [await h.chat() for _ in range(4)]
    assert answers == ["from b", "from a", "from b", "from a"]
    assert (await h.health())["targets"]["a/m1"]["breaker"] == "closed"


async def test_a_long_retry_after_lengthens_the_cooldown(h):
    now = [1000.0]
    h.up.on(A, rate_limited({"Retry-After": "120"}))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, extra=BREAKER), clock=lambda: now[0])
    for _ in range(2):
        assert await h.chat() == "from b"
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["breaker"] == "open" and targets["a/m1"]["retry_in"] == 120.0
    now[0] += 60
    assert await h.chat() == "from b"
    assert h.calls(A) == 2


async def test_half_open_admits_one_probe_at_a_time(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    for _ in range(2):
        await h.chat()
    now[0] += 31
    h.up.on(A, ok("from a", delay=0.3))
    answers = await asyncio.gather(h.chat(), h.chat(), h.chat())
    assert sorted(answers) == ["from a", "from b", "from b"]
    assert h.calls(A) == 3  # two failures, one probe
    assert (await h.health())["targets"]["a/m1"]["breaker"] == "closed"


async def test_a_probe_abandoned_by_its_client_gives_its_slot_back(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    for _ in range(2):
        await h.chat()
    now[0] += 31
    h.up.on(A, ok("from a", delay=2))
    impatient = h.client.with_options(timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        await impatient.chat.completions.create(model="chat", messages=MSG)
    await asyncio.sleep(0.1)  # the gateway notices the hang-up and cancels the probe
    h.up.on(A, ok("from a"))
    assert await h.chat() == "from a"  # the next request may probe again
    assert h.calls(A) == 4


async def test_breaker_failure_rate_opens_on_a_flapping_target(h):
    now = [1000.0]
    h.up.on(A, ok("from a"), server_error(500), ok("from a"), server_error(500), ok("from a"))
    h.up.on(B, ok("from b"))
    breaker = "[breaker]\nfailure_threshold = 100\nfailure_rate = 0.5\nmin_calls = 4\nwindow = 60\n"
    await h.start(config(h.up.url, retry=ONE_TRY, extra=breaker), clock=lambda: now[0])
    answers = [await h.chat() for _ in range(4)]
    assert answers == ["from a", "from b", "from a", "from b"]
    assert (await h.health())["targets"]["a/m1"]["breaker"] == "open"  # 2 of 4 failed
    assert await h.chat() == "from b"
    assert h.calls(A) == 4


async def test_degrade_answers_when_every_breaker_is_open_without_calls(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(500))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER + DEGRADE), clock=lambda: now[0])
    for _ in range(2):
        assert await h.chat() == DEGRADED
    calls = (h.calls(A), h.calls(B))
    assert calls == (2, 2)
    status, headers, raw = await h.post(body())
    assert status == 200 and headers["x-sluicegate-degraded"] == "true"
    assert (h.calls(A), h.calls(B)) == calls
