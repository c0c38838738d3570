"""Streamed events that arrive in one network read leave in one socket write, and nothing waits."""

from __future__ import annotations

import asyncio
import contextlib

import openai
import orjson
import pytest
from aiohttp import web
from aiohttp.http_writer import StreamWriter

from sluicegate.server.api_protocol import ApiConnection
from sluicegate.testing import openai_chunks

PIECES = ["one ", "two ", "three ", "four ", "five"]
#: Both servers of the API's operations write streams the same way (server/api_protocol.py).
SERVERS = pytest.mark.parametrize("api_server", ["gateway", "aiohttp"])


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


async def vendor(answer) -> tuple[web.AppRunner, int]:
    """A vendor whose chat completions ``answer`` gives, started; its runner and port."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    return await serve(app)


def assert_one_write_with_its_end(sent: list[bytes], chunks) -> None:
    """The gateway's writes in ``sent``: the head, every event and the chunked body's end in one,
    none after it."""
    ours = [write for write in sent if b"x-request-id" in write.lower()]
    assert len(ours) == 1 and ours[0].count(b"data: ") == len(chunks) + 1
    assert ours[0].endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")
    assert sent[-1] is ours[0]


def frames(chunks) -> bytes:
    return b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks) + b"data: [DONE]\n\n"

def socket_writes(monkeypatch) -> list[bytes]:
    """Every socket write aiohttp and the API connections make from now on, the vendor's and the
    gateway's, in order."""
    sent: list[bytes] = []
    original_write, original_writelines = StreamWriter._write, StreamWriter._writelines
    original_send = ApiConnection._send

    def send(self, data):
        sent.append(bytes(data))
        return original_send(self, data)

    def write(self, chunk):
        sent.append(bytes(chunk))
        return original_write(self, chunk)

    def writelines(self, chunks):
        sent.append(b"".join(bytes(chunk) for chunk in chunks))
        return original_writelines(self, chunks)

    monkeypatch.setattr(StreamWriter, "_write", write)
    monkeypatch.setattr(StreamWriter, "_writelines", writelines)
    monkeypatch.setattr(ApiConnection, "_send", send)
    return sent


def stream_writes(monkeypatch, api_server: str) -> list[bytes]:
    """The data of each write of the gateway's stream (``StreamSink.write``) on ``api_server``."""
    writes: list[bytes] = []
    if api_server == "gateway":
        original_sink = ApiConnection.write

        async def sink(self, data):
            writes.append(bytes(data))
            return await original_sink(self, data)

        monkeypatch.setattr(ApiConnection, "write", sink)
        return writes
    original = web.StreamResponse.write

    async def counting(self, data):
        if self.content_type == "text/event-stream" and self.headers.get("x-request-id"):
            writes.append(bytes(data))
        return await original(self, data)

    monkeypatch.setattr(web.StreamResponse, "write", counting)
    return writes


@contextlib.asynccontextmanager
async def stream_through(gateway, vendor_port: int, api_server: str):
    """A chat stream through a gateway in front of the vendor app on ``vendor_port``; its client
    is closed at the end (an unclosed one fails later, on a closed loop, in another test)."""
    server = await gateway(f"""
[server]
api_server = "{api_server}"
[providers.v]
type = "openai"
base_url = "http://127.0.0.1:{vendor_port}/v1"
api_key = "sk-v-0000000000000"
[models.chat]
targets = ["v/m"]
""")
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0) as client:
        yield await client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "x"}], stream=True)



@SERVERS
async def test_one_upstream_read_is_one_write_and_a_pause_is_not_waited_out(gateway, monkeypatch, api_server):
    release = asyncio.Event()
    chunks = openai_chunks(PIECES)

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(frames(chunks[:3])[: -len(b"data: [DONE]\n\n")])  # role + 2 pieces at once
        await release.wait()  # then the vendor pauses
        await response.write(frames(chunks[3:]))
        await response.write_eof()
        return response

    runner, port = await vendor(answer)
    writes = stream_writes(monkeypatch, api_server)
    try:
        seen = []
        async with stream_through(gateway, port, api_server) as stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    seen.append(chunk.choices[0].delta.content)
                    if len(seen) == 2:
                        # What arrived before the pause reached the client without waiting for more.
                        release.set()
        assert "".join(seen) == "".join(PIECES)
        # The events of the first read went out in one write, not one each.
        assert writes[0].count(b"data: ") == 3
        assert len(writes) < len(chunks) + 1
    finally:
        await runner.cleanup()


async def writes_streaming_from(answer, gateway, monkeypatch, api_server: str) -> list[bytes]:
    """aiohttp's socket writes while the client reads a whole chat stream through the gateway
    from a vendor that answers with ``answer``."""
    runner, port = await vendor(answer)
    sent = socket_writes(monkeypatch)
    try:
        async with stream_through(gateway, port, api_server) as stream:
            text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
        assert text == "".join(PIECES)
    finally:
        await runner.cleanup()
    return sent


@SERVERS
async def test_the_head_leaves_with_the_first_events(gateway, monkeypatch, api_server):
    chunks = openai_chunks(PIECES)

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(frames(chunks))
        await response.write_eof()
        return response

    sent = await writes_streaming_from(answer, gateway, monkeypatch, api_server)
    # The gateway's head (it alone names the request) left in the same write as the events.
    head = next(write for write in sent if write.startswith(b"HTTP/1.1 200") and b"x-request-id" in write.lower())
    assert head.count(b"data: ") == len(chunks) + 1


@SERVERS
async def test_a_stream_read_whole_leaves_in_one_write_with_its_end(gateway, monkeypatch, api_server):
    chunks = openai_chunks(PIECES)

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write_eof(frames(chunks))  # every event and the body's end at once
        return response

    assert_one_write_with_its_end(await writes_streaming_from(answer, gateway, monkeypatch, api_server), chunks)


@SERVERS
async def test_a_stream_replayed_from_the_cache_leaves_in_one_write(gateway, monkeypatch, api_server):
    chunks = openai_chunks(PIECES)

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in chunks:  # one vendor write an event: the live relay writes as they come
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await response.write_eof(b"data: [DONE]\n\n")
        return response

    runner, port = await vendor(answer)
    try:
        server = await gateway(f"""
[server]
api_server = "{api_server}"
[cache]
[providers.v]
type = "openai"
base_url = "http://127.0.0.1:{port}/v1"
api_key = "sk-v-0000000000000"
[models.chat]
targets = ["v/m"]
""")
        async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0) as client:

            async def read() -> str:
                stream = await client.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": "x"}], stream=True)
                return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])

            assert await read() == "".join(PIECES)  # the miss fills the cache
            sent = socket_writes(monkeypatch)
            assert await read() == "".join(PIECES)  # the hit
        assert_one_write_with_its_end(sent, chunks)
    finally:
        await runner.cleanup()
