"""The API's POST operations on the gateway's own connection protocol (server/api_protocol.py):
the same answers as aiohttp's server gives, and every other request on the connection handed to
aiohttp's server as it arrived."""

from __future__ import annotations

import asyncio
import contextlib
import re

import httptools
import orjson
import pytest

from sluicegate.server.api_protocol import ApiConnection
from sluicegate.server.protocol import GatewayProtocol

CONFIG = """
[server]
api_server = "{api_server}"
header_timeout = {header_timeout}
body_idle_timeout = {body_idle_timeout}
keepalive_timeout = {keepalive_timeout}
[server.cors]
allow_origins = ["https://app.example"]
[auth]
tokens = ["sk-test-token-0123456789"]
[providers.mock]
type = "mock"
[models.echo]
targets = ["mock/echo-1"]
"""
KEY = "sk-test-token-0123456789"
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hello world"}]}


def config(api_server: str = "gateway", *, header_timeout: float = 10, body_idle_timeout: float = 30,
           keepalive_timeout: float = 75) -> str:
    return CONFIG.format(api_server=api_server, header_timeout=header_timeout,
                         body_idle_timeout=body_idle_timeout, keepalive_timeout=keepalive_timeout)


def post(path: str, body: bytes, *, headers: dict[str, str] | None = None, key: str = KEY) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: gw", f"Authorization: Bearer {key}",
             "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n".encode()


class Answer:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


class Client:
    """A raw HTTP/1.1 connection: what is sent is exactly what the test wrote."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.left = b""

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self, within: float = 10.0) -> Answer:
        answer = Answer()
        parser = httptools.HttpResponseParser(answer)
        data, self.left = self.left, b""
        async with asyncio.timeout(within):
            while True:
                # Byte by byte, so the answers behind this one stay unread.
                for at in range(len(data)):
                    parser.feed_data(data[at:at + 1])
                    if answer.complete:
                        self.left = data[at + 1:]
                        break
                if answer.complete:
                    break
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("closed before the answer was complete")
        answer.status = parser.get_status_code()
        return answer

    async def closed(self, within: float = 5.0) -> bool:
        async with asyncio.timeout(within):
            return await self.reader.read(65536) == b""


@contextlib.asynccontextmanager
async def connect(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        yield Client(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def protocols(server) -> list[type]:
    gateway_server = server.runner.server
    return [type(conn) for conn in (*gateway_server.api_connections, *gateway_server._connections)]


async def test_an_api_call_is_served_on_the_gateways_own_connection(gateway):
    server = await gateway(config())
    async with connect(server) as client:
        await client.send(post("/v1/chat/completions", orjson.dumps(CHAT)))
        answer = await client.answer()
        assert answer.status == 200, answer.body
        assert orjson.loads(answer.body)["choices"][0]["message"]["content"]
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["x-request-id"].startswith("req_")
        assert "date" in answer.headers and "connection" not in answer.headers
        assert protocols(server) == [ApiConnection]
        # Kept alive: a second call on the same connection.
        await client.send(post("/v1/chat/completions", orjson.dumps(CHAT)))
        assert (await client.answer()).status == 200
        assert protocols(server) == [ApiConnection]


def comparable(answer: Answer) -> tuple[int, dict[str, str], object]:
    """What must be the same from either server: the status, the headers but the date, aiohttp's
    Server and the framing, and the body without its ids and times."""
    skip = {"date", "server", "content-length", "transfer-encoding", "x-request-id", "connection"}
    headers = {name: value for name, value in answer.headers.items() if name not in skip}
    body = re.sub(rb'"(chatcmpl-|msg_)?(req_)?[0-9a-f]{8,}"', b'"ID"', answer.body)
    body = re.sub(rb'"created":\d+', b'"created":0', body)
    return answer.status, headers, body


REQUESTS = [
    ("good", post("/v1/chat/completions", orjson.dumps(CHAT))),
    ("cors", post("/v1/chat/completions", orjson.dumps(CHAT), headers={"Origin": "https://app.example"})),
    ("stream", post("/v1/chat/completions", orjson.dumps({**CHAT, "stream": True}))),
    ("anthropic", post("/v1/messages", orjson.dumps(
        {"model": "echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))),
    ("bad json", post("/v1/chat/completions", b"{not json")),
    ("empty", post("/v1/chat/completions", b"")),
    ("no model", post("/v1/chat/completions", orjson.dumps({"messages": []}))),
    ("unknown model", post("/v1/chat/completions", orjson.dumps({**CHAT, "model": "nope"}))),
    ("bad key", post("/v1/chat/completions", orjson.dumps(CHAT), key="sk-wrong-key-000000000")),
    ("anthropic bad key", post("/v1/messages", b"{}", key="sk-wrong-key-000000000")),
    ("given id", post("/v1/chat/completions", orjson.dumps(CHAT), headers={"x-request-id": "mine-1"})),
]


@pytest.mark.parametrize("name,request_bytes", REQUESTS, ids=[name for name, _ in REQUESTS])
async def test_the_answers_are_aiohttps(gateway, name, request_bytes):
    answers = []
    for api_server in ("gateway", "aiohttp"):
        server = await gateway(config(api_server))
        async with connect(server) as client:
            await client.send(request_bytes)
            answer = await client.answer()
        answers.append(answer)
        assert protocols(server) == [ApiConnection if api_server == "gateway" else GatewayProtocol]
    ours, aiohttps = answers
    assert comparable(ours) == comparable(aiohttps)
    if name == "given id":
        assert ours.headers["x-request-id"] == "mine-1"


async def test_other_requests_on_the_connection_are_handed_to_aiohttps_server(gateway):
    server = await gateway(config())
    async with connect(server) as client:
        await client.send(post("/v1/chat/completions", orjson.dumps(CHAT)))
        assert (await client.answer()).status == 200
        assert protocols(server) == [ApiConnection]
        await client.send(get("/health/live"))
        answer = await client.answer()
        assert answer.status == 200 and orjson.loads(answer.body) == {"status": "ok"}
        assert protocols(server) == [GatewayProtocol]
        # It stays aiohttp's, and API calls on it are served there.
        await client.send(post("/v1/chat/completions", orjson.dumps(CHAT)))
        assert (await client.answer()).status == 200
        assert protocols(server) == [GatewayProtocol]


@pytest.mark.parametrize("extra", [
    {"Transfer-Encoding": "chunked"},
    {"Expect": "100-continue"},
    {"Content-Encoding": "gzip"},
], ids=["chunked", "expect", "gzip"])
async def test_unusual_bodies_are_served_by_aiohttps_server(gateway, extra):
    import gzip

    server = await gateway(config())
    body = orjson.dumps(CHAT)
    head = ["POST /v1/chat/completions HTTP/1.1", "Host: gw", f"Authorization: Bearer {KEY}",
            "Content-Type: application/json", *(f"{name}: {value}" for name, value in extra.items())]
    if "Transfer-Encoding" in extra:
        payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    else:
        payload = gzip.compress(body) if "Content-Encoding" in extra else body
        head.append(f"Content-Length: {len(payload)}")
    async with connect(server) as client:
        await client.send(("\r\n".join(head) + "\r\n\r\n").encode())
        if "Expect" in extra:
            continued = await client.reader.readuntil(b"\r\n\r\n")
            assert continued.startswith(b"HTTP/1.1 100")
        await client.send(payload)
        answer = await client.answer()
        assert answer.status == 200, answer.body
        assert protocols(server) == [GatewayProtocol]


@pytest.mark.parametrize("writes", [1, 7], ids=["one write", "seven writes"])
async def test_a_large_body_is_served_on_the_api_connection(gateway, writes):
    # An agent's request is often tens of KB: in the read that brings its head, or in many.
    server = await gateway(config())
    long_chat = {**CHAT, "messages": [{"role": "user", "content": "word " * 40_000}]}
    data = post("/v1/chat/completions", orjson.dumps(long_chat))
    async with connect(server) as client:
        step = -(-len(data) // writes)
        for at in range(0, len(data), step):
            await client.send(data[at:at + step])
            await asyncio.sleep(0.01)
        answer = await client.answer()
        assert answer.status == 200, answer.body
        assert protocols(server) == [ApiConnection]


async def test_a_head_too_long_for_the_api_connection_goes_to_aiohttps_server(gateway):
    server = await gateway(config())
    async with connect(server) as client:
        # Over 8,190 bytes in all, each line within aiohttp's limit: aiohttp's server serves it.
        await client.send(post("/v1/chat/completions", orjson.dumps(CHAT),
                               headers={"x-pad-1": "p" * 5000, "x-pad-2": "p" * 5000}))
        answer = await client.answer()
        assert answer.status == 200
        assert protocols(server) == [GatewayProtocol]


async def test_a_malformed_head_gets_aiohttps_json_400(gateway):
    server = await gateway(config())
    async with connect(server) as client:
        await client.send(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: x\r\n\r\n")
        answer = await client.answer()
        assert answer.status == 400
        assert orjson.loads(answer.body)["error"]["code"] == "invalid_http_request"


async def test_pipelined_requests_are_answered_in_order(gateway):
    server = await gateway(config())
    first = {**CHAT, "messages": [{"role": "user", "content": "first"}]}
    second = {**CHAT, "messages": [{"role": "user", "content": "second"}]}
    async with connect(server) as client:
        # Two calls and a GET in one write: the GET goes to aiohttp's server after both answers.
        await client.send(post("/v1/chat/completions", orjson.dumps(first))
                          + post("/v1/chat/completions", orjson.dumps(second)) + get("/health/live"))
        answers = [await client.answer() for _ in range(3)]
    contents = [orjson.loads(answer.body)["choices"][0]["message"]["content"] for answer in answers[:2]]
    assert "first" in contents[0] and "second" in contents[1]
    assert answers[2].status == 200 and orjson.loads(answers[2].body) == {"status": "ok"}


async def test_connection_close_is_honoured(gateway):
    server = await gateway(config())
    async with connect(server) as client:
        await client.send(post("/v1/chat/completions", orjson.dumps(CHAT), headers={"Connection": "close"}))
        answer = await client.answer()
        assert answer.status == 200 and answer.headers["connection"] == "close"
        assert await client.closed()


async def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(gateway):
    server = await gateway(config(keepalive_timeout=0.3))
    async with connect(server) as client:
        await client.send(post("/v1/chat/completions", orjson.dumps(CHAT)))
        assert (await client.answer()).status == 200
        assert await client.closed(within=3.0)


async def test_a_head_that_does_not_arrive_in_time_gets_a_408(gateway):
    server = await gateway(config(header_timeout=0.3))
    async with connect(server) as client:
        await client.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n")
        answer = await client.answer()
        assert answer.status == 408
        assert await client.closed()


async def test_a_body_that_stalls_gets_a_408_and_the_connection_closes(gateway):
    server = await gateway(config(body_idle_timeout=0.3))
    body = orjson.dumps(CHAT)
    async with connect(server) as client:
        await client.send(post("/v1/chat/completions", body)[: -len(body) // 2])
        assert protocols(server) == [ApiConnection]
        answer = await client.answer()
        assert answer.status == 408
        assert orjson.loads(answer.body)["error"]["code"] == "request_timeout"
        assert await client.closed()


async def test_a_body_over_the_limit_is_refused_by_aiohttps_path(gateway):
    server = await gateway(config().replace("[server]\n", "[server]\nmax_body_mb = 0.001\n", 1))
    async with connect(server) as client:
        await client.send(post("/v1/chat/completions", orjson.dumps({**CHAT, "pad": "x" * 2000})))
        answer = await client.answer()
        assert answer.status == 413


async def test_the_stream_of_an_api_connection_is_chunked_and_complete(gateway):
    server = await gateway(config())
    async with connect(server) as client:
        await client.send(post("/v1/chat/completions", orjson.dumps({**CHAT, "stream": True}),
                               headers={"Origin": "https://app.example"}))
        answer = await client.answer()
        assert answer.status == 200
        assert answer.headers["transfer-encoding"] == "chunked"
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        assert answer.body.endswith(b"data: [DONE]\n\n")
        assert protocols(server) == [ApiConnection]


async def test_a_client_that_leaves_cancels_its_request(gateway):
    server = await gateway(config())
    async with connect(server) as client:
        await client.send(post("/v1/chat/completions", orjson.dumps(CHAT))[:-5])
        await asyncio.sleep(0.05)
    for _ in range(100):
        if not server.runner.server.api_connections:
            break
        await asyncio.sleep(0.01)
    assert not server.runner.server.api_connections
    assert server.runner.server.guard.open == 0
