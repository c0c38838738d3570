"""Shutdown through the real server: one grace, the notice window, late keep-alive requests, and
streams still open at the end (in-band error events, as each API's SDK reads them).

The drain waits on the gateway's injected clock and sleep (``services``), so the grace passes
when the test says so; nothing asserts how long anything took.
"""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
from aiohttp import web

from sluicegate.server.drain import CUT_MARGIN, Phase
from sluicegate.testing import openai_chunks

BOUND = 10.0
MSG = [{"role": "user", "content": "hi"}]


class FakeTime:
    """The injected clock and sleep. A sleep advances the clock by what was asked and gives the
    event loop a moment (so handlers run as they would while real time passes); a sleep of
    ``hold_at`` seconds or more also waits for ``release`` (the test ends the notice window)."""

    def __init__(self, hold_at: float = float("inf")) -> None:
        self.now = 0.0
        self.hold_at = hold_at
        self.release = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds >= self.hold_at:
            await self.release.wait()
        self.now += seconds
        await asyncio.sleep(0.005)

    def services(self) -> dict:
        return {"clock": self.clock, "sleep": self.sleep}


def config(upstream_url: str, server: str = "") -> str:
    return f"""
[server]
{server}

[providers.v]
type = "openai"
base_url = "{upstream_url}/v1"
api_key = "sk-v-0000000000000000"

[providers.mock]
type = "mock"

[models.chat]
targets = ["v/m"]

[models.echo]
targets = ["mock/echo-1"]
"""


def stalling_stream(started: asyncio.Event):
    """A vendor stream that sends its first words and then never another byte."""
    chunks = openai_chunks(["Hel", "lo"])

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks[:2]))
        started.set()
        await asyncio.Event().wait()
        return response

    return respond


def stalling_answer(started: asyncio.Event, release: asyncio.Event | None = None):
    async def respond(request: web.Request) -> web.StreamResponse:
        started.set()
        await (release or asyncio.Event()).wait()
        return web.json_response({
            "id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "late"}, "finish_reason": "stop"}],
        })

    return respond


async def test_a_stream_open_at_the_end_of_the_grace_ends_with_an_openai_error_event(gateway, fake_upstream):
    time = FakeTime()
    started = asyncio.Event()
    fake_upstream.on("/v1/chat/completions", stalling_stream(started))
    server = await gateway(config(fake_upstream.url), shutdown_grace=4.0, services=time.services())
    async with aiohttp.ClientSession() as session:
        async with session.post(server.base_url + "/v1/chat/completions",
                                json={"model": "chat", "messages": MSG, "stream": True}) as response:
            assert response.status == 200
            first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), BOUND)
            await asyncio.wait_for(started.wait(), BOUND)
            stopping = asyncio.create_task(server.stop())
            rest = await asyncio.wait_for(response.content.read(), BOUND)
    await asyncio.wait_for(stopping, BOUND)
    text = first + rest
    assert b'"content":"Hel"' in text
    events = [frame for frame in text.split(b"\n\n") if frame]
    last = events[-1]
    assert last.startswith(b"data: {")  # an OpenAI SDK raises APIError on a data event with "error"
    error = orjson.loads(last[len(b"data: "):])["error"]
    assert error["code"] == "shutting_down" and error["type"] == "server_error"
    assert b"[DONE]" not in text
    # The grace was honoured once: the cut came near its end, and nothing waited past it.
    assert 4.0 - CUT_MARGIN <= time.now <= 4.0


async def test_a_messages_stream_open_at_the_end_of_the_grace_ends_with_an_error_event(gateway, fake_upstream):
    time = FakeTime()
    started = asyncio.Event()
    fake_upstream.on("/v1/chat/completions", stalling_stream(started))
    server = await gateway(config(fake_upstream.url), shutdown_grace=2.0, services=time.services())
    async with aiohttp.ClientSession() as session:
        async with session.post(server.base_url + "/v1/messages",
                                json={"model": "chat", "messages": MSG, "max_tokens": 10, "stream": True}) as response:
            assert response.status == 200
            await asyncio.wait_for(started.wait(), BOUND)
            first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), BOUND)
            stopping = asyncio.create_task(server.stop())
            rest = await asyncio.wait_for(response.content.read(), BOUND)
    await asyncio.wait_for(stopping, BOUND)
    events = [frame for frame in (first + rest).split(b"\n\n") if frame]
    assert events[0].startswith(b"event: message_start")
    last = events[-1]
    assert last.startswith(b"event: error\ndata: ")  # what the anthropic SDK turns into an APIError
    body = orjson.loads(last.split(b"data: ", 1)[1])
    assert body["type"] == "error" and "shut down" in body["error"]["message"]
    assert b"message_stop" not in first + rest


async def test_a_request_waiting_for_its_answer_at_the_end_of_the_grace_gets_a_503(gateway, fake_upstream):
    time = FakeTime()
    started = asyncio.Event()
    fake_upstream.on("/v1/chat/completions", stalling_answer(started))
    server = await gateway(config(fake_upstream.url), shutdown_grace=3.0, services=time.services())
    async with aiohttp.ClientSession() as session:
        call = asyncio.create_task(session.post(server.base_url + "/v1/chat/completions",
                                                json={"model": "chat", "messages": MSG}))
        await asyncio.wait_for(started.wait(), BOUND)
        await asyncio.wait_for(server.stop(), BOUND)
        response = await asyncio.wait_for(call, BOUND)
        assert response.status == 503
        assert response.headers["Connection"] == "close"
        assert (await response.json())["error"]["code"] == "shutting_down"
    assert 3.0 - CUT_MARGIN <= time.now <= 3.0


async def test_a_request_on_a_kept_alive_connection_during_the_drain_gets_503_and_close(gateway, fake_upstream):
    started, release = asyncio.Event(), asyncio.Event()
    fake_upstream.on("/v1/chat/completions", stalling_answer(started, release))
    server = await gateway(config(fake_upstream.url), shutdown_grace=BOUND)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    ask = b"GET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n"
    writer.write(ask)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
    assert head.startswith(b"HTTP/1.1 200")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    await reader.readexactly(length)
    async with aiohttp.ClientSession() as session:
        # A request in flight keeps the server draining.
        call = asyncio.create_task(session.post(server.base_url + "/v1/chat/completions",
                                                json={"model": "chat", "messages": MSG}))
        await asyncio.wait_for(started.wait(), BOUND)
        stopping = asyncio.create_task(server.stop())
        for _ in range(int(BOUND / 0.02)):  # until the listener is closed
            if server.drain.phase >= Phase.DRAINING:
                break
            await asyncio.sleep(0.02)
        assert server.drain.phase is Phase.DRAINING
        writer.write(ask)  # on the connection kept alive from before
        answer = await asyncio.wait_for(reader.read(), BOUND)  # answered, then closed
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503")
        assert b"Connection: close" in head
        assert orjson.loads(body)["error"]["code"] == "shutting_down"
        # The request in flight finishes normally.
        release.set()
        response = await asyncio.wait_for(call, BOUND)
        assert response.status == 200
        assert (await response.json())["choices"][0]["message"]["content"] == "late"
    await asyncio.wait_for(stopping, BOUND)
    writer.close()


async def test_the_notice_window_says_not_ready_and_still_serves_then_the_listener_closes(gateway, fake_upstream):
    time = FakeTime(hold_at=5.0)
    server = await gateway(config(fake_upstream.url), shutdown_grace=30.0, services=time.services())
    url = server.base_url
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/health/ready") as response:
            assert response.status == 200
    stopping = asyncio.create_task(server.stop(drain_delay=5.0))
    for _ in range(int(BOUND / 0.02)):
        if server.drain.phase is Phase.NOTICE:
            break
        await asyncio.sleep(0.02)
    assert server.drain.phase is Phase.NOTICE
    # New connections are still accepted: readiness says 503 so balancers stop sending ...
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/health/ready") as response:
            assert response.status == 503
            assert (await response.json())["status"] == "draining"
        # ... and what still arrives is served, with Connection: close so the client moves on.
        async with session.post(url + "/v1/chat/completions", json={"model": "echo", "messages": MSG}) as response:
            assert response.status == 200
            assert response.headers["Connection"] == "close"
            assert (await response.json())["choices"][0]["message"]["content"] == "hi"
    time.release.set()  # the window ends
    await asyncio.wait_for(stopping, BOUND)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    except ConnectionRefusedError:
        pass
    else:
        writer.close()
        raise AssertionError("the listener is still open after the shutdown")
