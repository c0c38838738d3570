"""Resilience, the overall deadline of a request across its tries and targets;
the official SDKs through the real server to fake vendors, non-streaming requests
(streams: ``test_resilience_streams.py``; the shared harness and its rules: ``resilience_harness.py``).
"""

from __future__ import annotations

import time

import orjson
from resilience_harness import (
    RETRY,
    A,
    B,
    body,
    config,
    ok,
    server_error,
)

# -- the overall deadline --------------------------------------------------------------------------


async def test_deadline_cuts_off_slow_targets(h):
    h.up.on(A, ok("too late", delay=2))
    h.up.on(B, ok("too late", delay=2))
    await h.start(config(h.up.url, retry={**RETRY, "deadline": 0.5}))
    started = time.monotonic()
    status, headers, raw = await h.post(body())
    elapsed = time.monotonic() - started
    assert status == 504
    assert 0.45 <= elapsed < 1.0
    assert headers["x-should-retry"] == "false"
    error = orjson.loads(raw)["error"]
    assert error["code"] == "upstream_timeout"
    assert "deadline" in error["message"]
    assert h.calls(A) + h.calls(B) <= 2
    assert h.waits == []


async def test_deadline_stops_retries_whose_wait_would_overrun_it(h):
    # a fails fast; a Retry-After of 2 s would end past the 0.5 s deadline, so b is tried instead.
    h.up.on(A, server_error(503, {"Retry-After": "2"}))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry={**RETRY, "deadline": 0.5}))
    assert await h.chat() == "from b"
    assert h.waits == []
    assert (h.calls(A), h.calls(B)) == (1, 1)


async def test_deadline_holds_when_the_gateway_clock_lags_the_event_loop_clock(h):
    """The deadline's timer runs on the event loop's clock, the check whether the deadline has
    passed on ``services.clock``. They disagree whenever the clock is injected (here: frozen),
    and in production too: ``sluicegate serve`` runs uvloop, whose ``loop.time()`` is cached per
    loop iteration, so the timer can fire a fraction of a millisecond before
    ``time.monotonic()`` reaches the deadline. Either way the client must get the 504."""
    h.up.on(A, ok("too late", delay=2))
    await h.start(config(h.up.url, retry={**RETRY, "deadline": 0.3}), clock=lambda: 1000.0)
    status, headers, raw = await h.post(body("a/m1"))
    assert status == 504, raw
    assert orjson.loads(raw)["error"]["code"] == "upstream_timeout"
    assert h.calls(A) == 1
