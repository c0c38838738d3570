"""Resilience, hedging: a second target started while the first is slow;
the official SDKs through the real server to fake vendors, non-streaming requests
(streams: ``test_resilience_streams.py``; the shared harness and its rules: ``resilience_harness.py``).
"""

from __future__ import annotations

import asyncio
import time

import openai
import orjson
import pytest
from aiohttp import web
from resilience_harness import (
    BAD_REQUEST,
    RETRY,
    TOO_LONG,
    A,
    B,
    body,
    config,
    oai_error,
    ok,
)

from sluicegate.testing import openai_chat_completion

# -- hedging ---------------------------------------------------------------------------------------


def _slow_and_watched(seconds: float, cancelled: asyncio.Event):
    async def respond(request: web.Request) -> web.StreamResponse:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return web.json_response(openai_chat_completion("from a, late"))

    return respond


async def test_hedge_answers_from_the_fast_target_and_cancels_the_slow_one(h):
    cancelled = asyncio.Event()
    h.up.on(A, _slow_and_watched(2, cancelled))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["a/m1", "b/m2"]\nhedge_after = 0.1\n'))
    started = time.monotonic()
    assert await h.chat() == "from b"
    elapsed = time.monotonic() - started
    assert 0.1 <= elapsed < 1.0
    await asyncio.wait_for(cancelled.wait(), 1.0)
    assert (h.calls(A), h.calls(B)) == (1, 1)
    stats = (await h.health())["targets"]
    assert stats["a/m1"]["in_flight"] == 0 and stats["b/m2"]["in_flight"] == 0


async def test_hedge_is_not_sent_when_the_first_target_is_fast(h):
    h.up.on(A, ok("from a"))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["a/m1", "b/m2"]\nhedge_after = 0.5\n'))
    assert await h.chat() == "from a"
    assert (h.calls(A), h.calls(B)) == (1, 0)


async def test_hedge_starts_the_next_target_at_once_when_the_first_fails(h):
    h.up.on(A, BAD_REQUEST)
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["a/m1", "b/m2"]\nhedge_after = 5\n'))
    with pytest.raises(openai.BadRequestError):  # a client error still ends the request
        await h.chat()
    assert h.calls(B) == 0
    h.up.on(A, oai_error(401, "bad key", "invalid_request_error", "invalid_api_key"))
    started = time.monotonic()
    assert await h.chat() == "from b"
    assert time.monotonic() - started < 1.0


async def test_hedged_request_still_ends_at_the_deadline(h):
    a_cancelled, b_cancelled = asyncio.Event(), asyncio.Event()
    h.up.on(A, _slow_and_watched(2, a_cancelled))
    h.up.on(B, _slow_and_watched(2, b_cancelled))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nhedge_after = 0.1\n'
    await h.start(config(h.up.url, retry={**RETRY, "deadline": 0.4}, models=models))
    started = time.monotonic()
    status, headers, raw = await h.post(body())
    assert time.monotonic() - started < 1.0
    assert status == 504 and orjson.loads(raw)["error"]["code"] == "upstream_timeout"
    await asyncio.wait_for(asyncio.gather(a_cancelled.wait(), b_cancelled.wait()), 1.0)
    assert (h.calls(A), h.calls(B)) == (1, 1)


async def test_hedged_route_uses_its_context_fallbacks(h):
    h.up.on(A, TOO_LONG)
    h.up.on(B, ok("from b/big"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nhedge_after = 0.1\ncontext_fallbacks = ["b/big"]\n'
    await h.start(config(h.up.url, models=models))
    assert await h.chat() == "from b/big"
    assert h.calls(A) == 1 and h.models(B) == ["big"]
