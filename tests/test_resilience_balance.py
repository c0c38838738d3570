"""Resilience, balancing strategies (weighted, least-busy, latency) and their fallback;
the official SDKs through the real server to fake vendors, non-streaming requests
(streams: ``test_resilience_streams.py``; the shared harness and its rules: ``resilience_harness.py``).
"""

from __future__ import annotations

import asyncio
import random

import aiohttp
import orjson
from aiohttp import web
from resilience_harness import (
    MSG,
    ONE_TRY,
    SEED,
    TOKEN,
    A,
    B,
    body,
    config,
    oai_error,
    ok,
    server_error,
)

from sluicegate.testing import FakeUpstream

# -- balancing strategies --------------------------------------------------------------------------


async def test_weighted_order_follows_the_seeded_rng_and_still_falls_back(h):
    weights = [1.0, 3.0]
    h.up.on(A, ok("a"))
    h.up.on(B, ok("b"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nstrategy = "weighted"\nweights = [1.0, 3.0]\n'
    await h.start(config(h.up.url, retry=ONE_TRY, models=models))
    ref = random.Random(SEED)

    def first_pick() -> str:
        keys = [ref.expovariate(w) for w in weights]
        return "a" if keys[0] < keys[1] else "b"

    expected = [first_pick() for _ in range(12)]
    assert set(expected) == {"a", "b"}  # the seed exercises both orders
    assert [await h.chat() for _ in range(12)] == expected

    # The drawn-first target failing: the other one still answers.
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(500))
    picks = [first_pick() for _ in range(6)]
    before = (h.calls(A), h.calls(B))
    for pick in picks:
        h.up.on(A if pick == "a" else B, server_error(500))
        h.up.on(B if pick == "a" else A, ok("other"))
        assert await h.chat() == "other"
    assert (h.calls(A) - before[0], h.calls(B) - before[1]) == (6, 6)


def _held_stream(release: asyncio.Event):
    """A stream that sends its first content, then waits for ``release`` to finish."""
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m1"}

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(FakeUpstream.frame({**base, "choices": [{"index": 0, "delta": {
            "role": "assistant", "content": "held"}, "finish_reason": None}]}))
        await release.wait()
        await response.write(FakeUpstream.frame({**base, "choices": [{"index": 0, "delta": {},
                                                                      "finish_reason": "stop"}]}))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    return respond


async def test_least_busy_prefers_the_idle_target(h):
    release = asyncio.Event()
    h.up.on(A, _held_stream(release), ok("a"))
    h.up.on(B, ok("b"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nstrategy = "least-busy"\n'
    await h.start(config(h.up.url, models=models))
    stream = await h.client.chat.completions.create(model="chat", messages=MSG, stream=True)
    first = await anext(aiter(stream))
    assert first.choices[0].delta.content == "held"
    assert (await h.health())["targets"]["a/m1"]["in_flight"] == 1
    # a is busy with the stream: b gets the next requests.
    assert [await h.chat() for _ in range(2)] == ["b", "b"]
    release.set()
    rest = [chunk async for chunk in stream]
    assert rest[-1].choices[0].finish_reason == "stop"
    await asyncio.sleep(0.05)
    assert (await h.health())["targets"]["a/m1"]["in_flight"] == 0
    assert await h.chat() == "a"  # a tie again: the configured order decides
    assert (h.calls(A), h.calls(B)) == (2, 2)


async def test_least_busy_keeps_working_after_clients_named_many_direct_models(h):
    """Clients may name any "provider/model"; the stats board forgets idle entries past 1024.
    The alias's balancer must still see the live numbers of its own targets afterwards."""
    release = asyncio.Event()
    h.up.on(A, ok("a"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nstrategy = "least-busy"\n'
    await h.start(config(h.up.url, models=models))
    limit = asyncio.Semaphore(64)

    async def direct(number: int) -> int:
        async with limit, http.post(h.server.base_url + "/v1/chat/completions",
                                    data=orjson.dumps(body(f"a/x{number}")), headers=auth) as response:
            await response.read()
            return response.status

    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        statuses = await asyncio.gather(*(direct(n) for n in range(1030)))
    assert set(statuses) == {200}

    h.up.on(A, _held_stream(release), ok("a"))
    h.up.on(B, ok("b"))
    stream = await h.client.chat.completions.create(model="chat", messages=MSG, stream=True)
    assert (await anext(aiter(stream))).choices[0].delta.content == "held"
    assert (await h.health())["targets"]["a/m1"]["in_flight"] == 1
    try:
        assert await h.chat() == "b"  # a is busy
    finally:
        release.set()
        [chunk async for chunk in stream]


async def test_latency_prefers_the_faster_target_after_warm_up(h):
    h.up.on(A, ok("a", delay=0.15))
    h.up.on(B, ok("b"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nstrategy = "latency"\n'
    await h.start(config(h.up.url, models=models))
    # Unmeasured targets go first so they get measured: a (configured first), then b.
    assert [await h.chat() for _ in range(2)] == ["a", "b"]
    assert [await h.chat() for _ in range(3)] == ["b", "b", "b"]
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["ewma_ttfb_ms"] >= 150
    assert targets["b/m2"]["ewma_ttfb_ms"] < targets["a/m1"]["ewma_ttfb_ms"]
    # The fast one failing: fallback to the slow one still works, and failures are not sampled.
    h.up.on(B, server_error(500))
    before = targets["b/m2"]["ewma_ttfb_ms"]
    assert await h.chat() == "a"
    assert (await h.health())["targets"]["b/m2"]["ewma_ttfb_ms"] == before


async def test_latency_does_not_keep_a_target_that_never_answers_first(h):
    """A 404 (the model name is wrong at that vendor) falls over to b and does not count for
    the breaker; failures are not sampled, so a never has a latency. It must still not be
    tried first on every request for ever."""
    h.up.on(A, oai_error(404, "The model `m1` does not exist", "invalid_request_error", "model_not_found"))
    h.up.on(B, ok("b"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nstrategy = "latency"\n'
    await h.start(config(h.up.url, models=models))
    assert [await h.chat() for _ in range(8)] == ["b"] * 8
    assert h.calls(A) <= 2, f"a was tried first on {h.calls(A)} of 8 requests"
