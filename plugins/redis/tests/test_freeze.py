"""A Redis freeze under concurrent streams, through the real gateway: no slot outlives its request.

The real redis-server is frozen (SIGSTOP) while eight streams hold every concurrency slot of
one client; meanwhile calls time out, the link cools down, the streams end, and Redis wakes
(SIGCONT). Afterwards no slot may be left taken in Redis and the client's next requests under
the limit must pass. The gateway runs on the test's clock, so the cooldown ends when the test
says; only Redis's timeouts and the freeze itself take real time.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
from aiohttp import web

from sluicegate_redis.link import COOLDOWN

ALICE = "tok-alice-0000000000"
BOB = "tok-bob-00000000000000"
LIMIT = 8
# Calls to the frozen Redis started at once, enough to make the link cool down.
STALLED = 3
# Seconds to wait for background releases once Redis is back: a bound, not a measurement
# (they are retried every half second), and shorter than a slot's lease (10 s), so a slot
# that merely ran out of lease does not pass for one given back.
SETTLE = 5.0
# Seconds Redis stays frozen, as in the report (at least: the steps inside take what they take).
FREEZE = 1.0

CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1730000000, "model": "m1",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": None}]}


def config(upstream: str, redis_url: str) -> str:
    return f"""
[auth]
tokens = ["{ALICE}", "{BOB}"]

[providers.a]
type = "openai"
base_url = "{upstream}/a/v1"
api_key = "sk-a-000000000000"

[providers.mock]
type = "mock"

[models.chat]
targets = ["a/m1"]

[models.echo]
targets = ["mock/echo-1"]

[ratelimit]
backend = "redis"
url = "{redis_url}"
concurrency = {LIMIT}
"""


class HeldStreams:
    """The fake vendor's streams: the first chunk at once, the rest when the test lets go."""

    def __init__(self) -> None:
        self.go = asyncio.Event()

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: " + orjson.dumps(CHUNK) + b"\n\n")
        await self.go.wait()
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


async def post(http: aiohttp.ClientSession, base: str, model: str, token: str = ALICE,
               stream: bool = False) -> aiohttp.ClientResponse:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return await http.post(base + "/v1/chat/completions", data=orjson.dumps(body),
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})


async def open_streams(http, base: str, count: int) -> list[aiohttp.ClientResponse]:
    """``count`` streams, each admitted (status and headers in) and held open by the vendor."""
    responses = await asyncio.gather(*(post(http, base, "chat", stream=True) for _ in range(count)))
    assert [r.status for r in responses] == [200] * count
    return responses


async def finish(responses: list[aiohttp.ClientResponse]) -> None:
    bodies = await asyncio.gather(*(r.read() for r in responses))
    for response, body in zip(responses, bodies, strict=True):
        assert body.endswith(b"data: [DONE]\n\n"), body
        response.release()


async def taken(raw) -> dict[str, int]:
    """Every concurrency key in Redis with the slots taken in it (expired ones not counted)."""
    seconds, micros = await raw.time()
    now_ms = seconds * 1000 + micros // 1000
    counts = {}
    async for key in raw.scan_iter(match="sg:rl:*:inflight"):
        live = await raw.zcount(key, f"({now_ms}", "+inf")
        if live:
            counts[key.decode()] = live
    return counts


async def settled(raw) -> dict[str, int]:
    """What ``taken`` shows once it is empty, or after SETTLE seconds (what is left then)."""
    deadline = time.monotonic() + SETTLE
    while True:
        left = await taken(raw)
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.05)


async def test_a_redis_freeze_under_streams_leaves_no_slot_taken(gateway, fake_upstream, redis_server, raw,
                                                                  clock):
    held = HeldStreams()
    fake_upstream.on("/a/v1/chat/completions", held)
    server = await gateway(config(fake_upstream.url, redis_server.url), services={"clock": clock})
    base = server.base_url
    async with aiohttp.ClientSession() as http:
        streams = await open_streams(http, base, LIMIT)
        slots = await taken(raw)
        assert list(slots.values()) == [LIMIT]  # one key, Alice's, full
        full = await post(http, base, "echo")
        assert full.status == 429 and (await full.json())["error"]["code"] == "concurrency_limit_exceeded"

        redis_server.pause()
        frozen = time.monotonic()
        try:
            # Another client's requests reach the frozen Redis: each waits its timeout and is let
            # through (fail open); their slot scripts sit in Redis's sockets and run when it wakes.
            others = await asyncio.gather(*(post(http, base, "echo", token=BOB) for _ in range(STALLED)))
            assert [r.status for r in others] == [200] * STALLED
            for response in others:
                response.release()
            # The streams end while the link is cooling down after those timeouts.
            held.go.set()
            await finish(streams)
            await asyncio.sleep(FREEZE - (time.monotonic() - frozen))
        finally:
            redis_server.resume()
        # Awake, and done with the scripts that waited in its sockets, before the link (cooling
        # down until the clock moves) may send anything again.
        assert await raw.ping()
        clock.advance(COOLDOWN)

        # No request is in flight: no slot may stay taken, not Alice's, not Bob's.
        assert await settled(raw) == {}
        # And Alice gets her whole limit again, counted in Redis.
        held.go.clear()
        again = await open_streams(http, base, LIMIT)
        assert await taken(raw) == slots
        refused = await post(http, base, "echo")
        assert refused.status == 429
        refused.release()
        held.go.set()
        await finish(again)
        assert await taken(raw) == {}

