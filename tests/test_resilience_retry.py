"""Resilience, retries on one target: backoff, Retry-After and its variants, the retry budget;
the official SDKs through the real server to fake vendors, non-streaming requests
(streams: ``test_resilience_streams.py``; the shared harness and its rules: ``resilience_harness.py``).
"""

from __future__ import annotations

import email.utils

import openai
import orjson
import pytest
from resilience_harness import (
    RETRY,
    A,
    B,
    backoffs,
    body,
    config,
    ok,
    rate_limited,
    server_error,
)

# -- retries on the same target --------------------------------------------------------------------


async def test_500_then_200_is_retried_on_the_same_target(h):
    h.up.on(A, server_error(500), ok("from a"))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from a"
    assert (h.calls(A), h.calls(B)) == (2, 0)
    assert h.waits == backoffs(RETRY, 0)


async def test_503_every_attempt_falls_over_to_the_next_target(h):
    h.up.on(A, server_error(503))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (3, 1)
    assert h.waits == backoffs(RETRY, 0, 1)
    assert h.models(A) == ["m1"] * 3 and h.models(B) == ["m2"]


async def test_backoff_is_capped_by_backoff_max(h):
    retry = {**RETRY, "attempts": 4, "backoff_base": 1.0, "backoff_max": 1.5}
    h.up.on(A, server_error(502))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=retry))
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (4, 1)
    assert h.waits == backoffs(retry, 0, 1, 2)
    assert all(wait <= 1.5 for wait in h.waits)


# -- Retry-After -----------------------------------------------------------------------------------


async def test_429_retry_after_is_waited_exactly(h):
    h.up.on(A, rate_limited({"Retry-After": "2"}), ok("from a"))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from a"
    assert h.waits == [2.0]
    assert (h.calls(A), h.calls(B)) == (2, 0)


async def test_429_retry_after_longer_than_max_retry_wait_falls_over_at_once(h):
    h.up.on(A, rate_limited({"Retry-After": "120"}))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from b"
    assert h.waits == []
    assert (h.calls(A), h.calls(B)) == (1, 1)


async def test_429_retry_after_too_long_with_no_other_target_reaches_the_client(h):
    h.up.on(A, rate_limited({"Retry-After": "120"}))
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["a/m1"]\n'))
    with pytest.raises(openai.RateLimitError) as caught:
        await h.chat()
    assert caught.value.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "120"
    assert caught.value.code == "rate_limit_exceeded"
    assert h.waits == []
    assert h.calls(A) == 1


async def test_retry_after_ms_is_preferred_to_retry_after(h):
    h.up.on(A, rate_limited({"retry-after-ms": "1500", "Retry-After": "7"}), ok("from a"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from a"
    assert h.waits == [1.5]
    assert h.calls(A) == 2


async def test_retry_after_as_an_http_date_uses_the_injected_wall_clock(h):
    now = 1_700_000_000.0
    h.up.on(A, rate_limited({"Retry-After": email.utils.formatdate(now + 3, usegmt=True)}), ok("from a"))
    await h.start(config(h.up.url), wall_clock=lambda: now)
    assert await h.chat() == "from a"
    assert h.waits == [3.0]


async def test_openai_ratelimit_reset_headers_are_waited_on_a_429(h):
    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "250ms"}
    h.up.on(A, rate_limited(headers), ok("from a"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from a"
    assert h.waits == [1.0]  # the later of the two buckets


async def test_retry_after_on_a_503_is_honoured_too(h):
    h.up.on(A, server_error(503, {"Retry-After": "4"}), ok("from a"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from a"
    assert h.waits == [4.0]


async def test_every_target_rate_limited_forwards_the_last_retry_after(h):
    h.up.on(A, rate_limited({"Retry-After": "90"}))
    h.up.on(B, rate_limited({"Retry-After": "60"}))
    await h.start(config(h.up.url))
    status, headers, raw = await h.post(body())
    assert status == 429
    assert headers["Retry-After"] == "60"
    assert headers["x-should-retry"] == "false"
    assert orjson.loads(raw)["error"]["code"] == "rate_limit_exceeded"
    assert (h.calls(A), h.calls(B)) == (1, 1)
    assert h.waits == []


# -- the retry budget ------------------------------------------------------------------------------


async def test_a_zero_retry_budget_means_no_retries_at_all(h):
    retry = {**RETRY, "budget_ratio": 0.0, "budget_min_per_second": 0.0}
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(503))
    await h.start(config(h.up.url, retry=retry, extra="[breaker]\nenabled = false\n"))
    for number in range(1, 4):
        status, _, _ = await h.post(body())
        assert status == 503
        assert (h.calls(A), h.calls(B)) == (number, number), f"request {number}"
    assert h.waits == []


async def test_the_budget_refills_with_time(h):
    now = [1000.0]
    retry = {**RETRY, "budget_ratio": 0.0, "budget_min_per_second": 1.0}
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=retry, extra="[breaker]\nenabled = false\n"), clock=lambda: now[0])
    # A fresh process holds ten seconds' worth (10 retries): five failing requests spend them.
    for _ in range(5):
        assert await h.chat() == "from b"
    assert h.calls(A) == 15
    assert await h.chat() == "from b"
    assert h.calls(A) == 16  # the budget is spent; no time has passed: no retry
    now[0] += 2.0  # two seconds' worth: two retries
    assert await h.chat() == "from b"
    assert h.calls(A) == 19


async def test_default_budget_on_a_cold_gateway_allows_every_retry(h):
    """The defaults (ratio 0.2, 1/s, starting with ten seconds' worth) let a fresh process retry
    at once: the first failing request gets all its attempts."""
    now = [1000.0]
    retry = {"attempts": 3}
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=retry), clock=lambda: now[0])
    assert await h.chat() == "from b"
    assert h.calls(A) == 3
    assert h.waits == backoffs(retry, 0, 1)
