"""Client connections through the real server: read timeouts, connection caps, protocol errors.

Timeouts here are short ([server] header_timeout = 1 ...) so a test sees the behaviour (the
connection answered and closed) quickly, yet long enough that a normal client sending its whole
request at once never meets them; every wait has a generous bound and nothing asserts how long
anything took.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings

import orjson
import pytest
from aiohttp import web

from sluicegate.server.keys import ASSEMBLY, RECORD, REQUEST_ID

#: How long a test waits for the server to do something before calling it a failure.
BOUND = 10.0
CHAT = b'{"model": "echo", "messages": [{"role": "user", "content": "hi"}]}'


def config(server: str = "") -> str:
    return f"""
[server]
{server}

[providers.mock]
type = "mock"

[models.echo]
targets = ["mock/echo-1"]
"""


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def read_all(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes the connection (a test failure if it never does)."""
    return await asyncio.wait_for(reader.read(), BOUND)


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def chat_request(body: bytes = CHAT, *, extra: str = "") -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


async def ask(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await connect(port)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
        status, headers, _ = parse(head)
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), BOUND)
        return status, headers, body
    finally:
        writer.close()


def error_of(body: bytes) -> dict:
    error = orjson.loads(body)["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    return error


# -- read timeouts -----------------------------------------------------------------------------


async def test_slowloris_connections_are_closed_after_the_header_timeout(gateway):
    server = await gateway(config("header_timeout = 1"))
    dribblers = [await connect(server.port) for _ in range(5)]
    silent = [await connect(server.port) for _ in range(3)]
    for _, writer in dribblers:
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n")

    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes | None:
        """One more header byte now and then, never the end of the head (the timer is not reset
        by it); what the server sent before closing, None if it never closed."""
        received = b""
        for _ in range(int(BOUND / 0.05)):
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.05)
            except TimeoutError:
                writer.write(b"X")
                continue
            except ConnectionError:  # our byte met the closed socket: closed all the same
                return received
            if not chunk:
                return received
            received += chunk
        return None

    answers = await asyncio.gather(*(dribble(r, w) for r, w in dribblers))
    for raw in answers:
        assert raw is not None, "a slowloris connection was never closed"
        if raw:  # the 408 is on its way unless a dribbled byte crossed the close
            status, headers, body = parse(raw)
            assert status == 408
            assert headers["content-type"] == "application/json"
            assert headers["connection"] == "close"
            assert error_of(body)["code"] == "request_timeout"
    # A connection that never sent a byte is closed too, without an answer to a question never asked.
    for reader, _ in silent:
        assert await read_all(reader) == b""
    # Clients that send their request at once are not affected.
    status, _, body = await ask(server.port, chat_request())
    assert status == 200 and orjson.loads(body)["choices"][0]["message"]["content"] == "hi"


async def test_a_kept_alive_connection_may_idle_but_a_started_head_must_finish(gateway):
    server = await gateway(config("header_timeout = 1"))
    reader, writer = await connect(server.port)
    writer.write(chat_request())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
    status, headers, _ = parse(head)
    await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), BOUND)
    assert status == 200
    # Idle between requests: the header timer starts with the next request's first byte only,
    # so the connection outlives several header timeouts and still serves.
    await asyncio.sleep(2.5)
    assert not reader.at_eof()
    writer.write(chat_request())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
    assert parse(head)[0] == 200
    await asyncio.wait_for(reader.readexactly(int(parse(head)[1]["content-length"])), BOUND)
    # Half a request line, then nothing: 408 and closed.
    writer.write(b"POST /v1/chat/compl")
    status, _, body = parse(await read_all(reader))
    assert status == 408 and error_of(body)["code"] == "request_timeout"
    writer.close()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_that_goes_silent_gets_a_408_and_the_connection_closes(gateway, framing):
    server = await gateway(config("body_idle_timeout = 0.3"))
    reader, writer = await connect(server.port)
    if framing == "chunked":
        head = "Transfer-Encoding: chunked\r\n"
        start = b"10\r\n" + CHAT[:10]  # a 16-byte chunk announced, 10 bytes sent
    else:
        head = f"Content-Length: {len(CHAT)}\r\n"
        start = CHAT[:10]
    writer.write(
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n{head}\r\n".encode()
        + start
    )
    status, headers, body = parse(await read_all(reader))
    assert status == 408
    assert headers["connection"] == "close"
    error = error_of(body)
    assert error["code"] == "request_timeout" and error["type"] == "invalid_request_error"
    writer.close()


async def test_a_slow_but_steady_body_is_read_whole(gateway):
    server = await gateway(config("body_idle_timeout = 2"))
    reader, writer = await connect(server.port)
    writer.write(
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(CHAT)}\r\n\r\n".encode()
    )
    for index in range(0, len(CHAT), 16):  # silence shorter than the idle timeout each time
        writer.write(CHAT[index:index + 16])
        await writer.drain()
        await asyncio.sleep(0.05)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
    status, headers, _ = parse(head)
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), BOUND)
    assert status == 200 and orjson.loads(body)["choices"][0]["message"]["content"] == "hi"
    writer.close()


# -- connection caps ---------------------------------------------------------------------------


class FrozenClock:
    """The gateway's injected clock, standing still: log intervals never pass on their own."""

    def __call__(self) -> float:
        return 1000.0


async def test_one_client_cannot_hold_more_than_its_share_of_connections(gateway, caplog):
    caplog.set_level(logging.INFO, logger="sluicegate")
    server = await gateway(config("max_connections_per_client = 3"), services={"clock": FrozenClock()})
    held = [await connect(server.port) for _ in range(3)]
    refused = [await connect(server.port) for _ in range(4)]
    for reader, _ in refused:
        status, headers, body = parse(await read_all(reader))
        assert status == 429
        assert headers["connection"] == "close" and headers["retry-after"] == "1"
        error = error_of(body)
        assert error["code"] == "too_many_connections"
        assert "3 connections open" in error["message"]
    # The connections within the cap still serve.
    reader, writer = held[0]
    writer.write(chat_request())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
    assert parse(head)[0] == 200
    # Shedding is logged, once for the burst (the clock stands still, so no interval passed).
    shed = [r for r in caplog.records if r.getMessage().startswith("shedding connections")]
    assert len(shed) == 1, [r.getMessage() for r in shed]
    assert "max_connections_per_client = 3" in shed[0].getMessage()
    assert shed[0].levelno == logging.WARNING
    # A closed connection frees its place.
    for _, writer in held:
        writer.close()
    for _ in range(int(BOUND / 0.05)):
        status, _, body = await ask(server.port, chat_request())
        if status == 200:
            break
        await asyncio.sleep(0.05)
    assert status == 200
    await server.stop()
    # What was refused after the first line (3 above, and any refused while the closes were on
    # their way) is summed up when the server stops.
    shed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("shedding connections")]
    assert len(shed) == 2, shed
    assert int(re.search(r"refused (\d+) ", shed[1]).group(1)) >= 3


async def test_the_total_cap_refuses_with_a_503(gateway):
    server = await gateway(config("max_connections = 2\nmax_connections_per_client = 0"))
    held = [await connect(server.port) for _ in range(2)]
    reader, _ = await connect(server.port)
    status, headers, body = parse(await read_all(reader))
    assert status == 503 and headers["content-type"] == "application/json"
    assert error_of(body)["code"] == "too_many_connections"
    for _, writer in held:
        writer.close()


# -- protocol errors ---------------------------------------------------------------------------

SECRET = "sk-client-secret-0123456789abcdef"

MALFORMED = {
    "request line too long": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: gw\r\n\r\n",
    "header too long": b"GET /health HTTP/1.1\r\nX-Long: " + b"b" * 9000 + b"\r\n\r\n",
    "too many headers": b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n",
    "content-length with transfer-encoding": (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "two content-lengths": b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "control character in a header": (
        b"GET /health HTTP/1.1\r\nAuthorization: Bearer " + SECRET.encode() + b"\x01x\r\n\r\n"
    ),
    "not http": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_protocol_errors_are_json_400s_with_one_quiet_log_line(gateway, caplog, case):
    caplog.set_level(logging.DEBUG)
    server = await gateway(config())
    reader, writer = await connect(server.port)
    writer.write(MALFORMED[case])
    raw = await read_all(reader)
    writer.close()
    status, headers, body = parse(raw)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["x-should-retry"] == "false"
    assert headers["x-request-id"].startswith("req_")
    error = error_of(body)
    assert error["type"] == "invalid_request_error"
    assert error["code"] in ("invalid_http_request", "header_too_large")
    # Nothing of the request is echoed: a header may hold the client's key.
    assert SECRET[:8] not in raw.decode("latin-1")
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    refused = [r for r in records if "malformed HTTP request" in r.getMessage()]
    assert len(refused) == 1, [r.getMessage() for r in records]
    assert refused[0].levelno == logging.INFO
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in caplog.text
    assert SECRET[:8] not in caplog.text


# -- typed request keys ------------------------------------------------------------------------


async def test_request_state_uses_typed_keys_without_warnings(gateway, monkeypatch):
    assert all(isinstance(key, web.RequestKey) for key in (REQUEST_ID, ASSEMBLY, RECORD))
    # aiohttp warns once per string key per process: forget the keys already seen, so a string
    # key set while serving this request warns again.
    monkeypatch.setattr(web.BaseRequest, "_seen_str_keys", set())
    server = await gateway(config())
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        status, _, _ = await ask(server.port, chat_request())
    assert status == 200
    assert [str(w.message) for w in seen if issubclass(w.category, web.NotAppKeyWarning)] == []
