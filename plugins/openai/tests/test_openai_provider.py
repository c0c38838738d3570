"""Adapter conformance for ``type = "openai"``: the real gateway server in front of a FakeUpstream."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web

from sluicegate.errors import ProviderNotConfigured, UpstreamError
from sluicegate.exchange import Reply, StreamReply, Target
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate.testing import (
    MockTransport,
    json_response,
    make_ctx,
    make_request,
    openai_chat_completion,
    openai_chunks,
    sse_response,
)
from sluicegate_openai import OpenAIOptions, OpenAIProvider

KEY = "sk-upstream-secret-0123456789"
TOKEN = "client-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]


def config(url: str, provider_extra: str = "", key_line: str = 'api_key = "${UP_KEY}"') -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.up]
type = "openai"
base_url = "{url}/v1"
{key_line}
models = ["gpt-4o-mini"]
{provider_extra}

# Adapter tests check one call at a time: no retries, no breaker (tests/test_resilience_*.py have those).
[retry]
attempts = 1

[breaker]
enabled = false

[models.chat]
targets = ["up/gpt-4o-mini"]
"""


@pytest.fixture
async def client():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def start(gateway, fake_upstream):
    async def start(provider_extra: str = "", key_line: str = 'api_key = "${UP_KEY}"', env=None):
        return await gateway(
            config(fake_upstream.url, provider_extra, key_line),
            env={"UP_KEY": KEY} if env is None else env,
        )

    return start


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def sse_data(raw: bytes) -> list[bytes]:
    """The ``data:`` payloads of an SSE body, in order."""
    return [block[6:] for block in raw.split(b"\n\n") if block.startswith(b"data: ")]


def assert_openai_error(body: dict, code: str | None = None) -> dict:
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


# -- non-streaming pass-through --------------------------------------------------------------


async def test_alias_rewrites_only_the_model_and_relays_the_answer_bytes(start, fake_upstream, client):
    answer = b'{"id":"chatcmpl-1",  "object":"chat.completion", "choices":[], "x_vendor":{"k":[1,2]}}'
    fake_upstream.json(CHAT, answer)
    server = await start()
    body = {
        "model": "chat",
        "messages": MESSAGES,
        "custom_field": {"x": 1},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {}}},
        "temperature": 0.25,
    }
    async with client.post(server.base_url + CHAT, data=orjson.dumps(body), headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        assert await resp.read() == answer
    [sent] = fake_upstream.requests
    assert sent.method == "POST" and sent.path == CHAT
    # Same keys, same order, only the model changed.
    assert sent.body == orjson.dumps({**body, "model": "gpt-4o-mini"})


async def test_raw_request_bytes_go_upstream_when_the_model_is_unchanged(start, fake_upstream, client):
    fake_upstream.json(CHAT, openai_chat_completion("ok"))
    server = await start()
    raw = (
        b'{ "messages" : [ {"role":"user","content":"caf\\u00e9 \xe2\x98\x95"} ],\n'
        b'  "custom_field": {"x": 1}, "n": 1.50, "model": "gpt-4o-mini" }'
    )
    async with client.post(server.base_url + CHAT, data=raw, headers=AUTH) as resp:
        assert resp.status == 200
        assert (await resp.json())["choices"][0]["message"]["content"] == "ok"
    assert fake_upstream.requests[-1].body == raw


async def test_provider_prefixed_model_is_rewritten_to_the_bare_upstream_name(start, fake_upstream, client):
    fake_upstream.json(CHAT, openai_chat_completion())
    server = await start()
    body = {"model": "up/gpt-4.1", "messages": MESSAGES, "custom_field": {"x": 1}}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 200
    assert fake_upstream.requests[-1].body == orjson.dumps({**body, "model": "gpt-4.1"})


@pytest.mark.parametrize(
    "endpoint, body",
    [
        ("completions", {"model": "chat", "prompt": "Say hi", "max_tokens": 5, "echo": True}),
        ("embeddings", {"model": "chat", "input": ["a", "b"], "dimensions": 3}),
        ("moderations", {"model": "chat", "input": "text", "extra": [None]}),
    ],
)
async def test_other_endpoints_are_forwarded_to_the_same_path(start, fake_upstream, client, endpoint, body):
    answer = orjson.dumps({"object": endpoint, "data": [1, 2.5, "x"]})
    fake_upstream.json(f"/v1/{endpoint}", answer)
    server = await start()
    async with client.post(f"{server.base_url}/v1/{endpoint}", json=body, headers=AUTH) as resp:
        assert resp.status == 200
        assert await resp.read() == answer
    [sent] = fake_upstream.requests
    assert sent.path == f"/v1/{endpoint}"
    assert sent.body == orjson.dumps({**body, "model": "gpt-4o-mini"})
    assert lower(sent.headers)["authorization"] == f"Bearer {KEY}"


async def test_trailing_slash_in_base_url_is_tolerated(gateway, fake_upstream, client):
    fake_upstream.json(CHAT, openai_chat_completion())
    server = await gateway(config(fake_upstream.url).replace('/v1"', '/v1/"'), env={"UP_KEY": KEY})
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES},
                           headers=AUTH) as resp:
        assert resp.status == 200
    assert fake_upstream.requests[-1].path == CHAT


# -- headers ---------------------------------------------------------------------------------


async def raw_post(base_url: str, path: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, bytes]:
    """POST with exactly these header lines (no client library adding or merging any)."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
             "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    payload = await reader.readexactly(length)
    writer.close()
    await writer.wait_closed()
    return status, payload


async def test_client_credentials_and_hop_by_hop_headers_never_reach_upstream(start, fake_upstream):
    fake_upstream.json(CHAT, openai_chat_completion())
    server = await start(
        'organization = "org-config"\nproject = "proj-config"\n'
        'headers = { "X-Vendor-Flag" = "on", "User-Agent" = "sluicegate-test" }'
    )
    status, _ = await raw_post(
        server.base_url,
        CHAT,
        [
            ("Authorization", f"Bearer {TOKEN}"),
            ("x-api-key", "client-x-api-key"),
            ("api-key", "client-azure-key"),
            ("Cookie", "session=client-cookie"),
            ("Connection", "keep-alive, X-Hop-Named"),
            ("X-Hop-Named", "must-not-pass"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"),
            ("OpenAI-Organization", "org-client"),
            ("X-Custom", "passes"),
            ("X-Request-Id", "req-client-42"),
        ],
        orjson.dumps({"model": "chat", "messages": MESSAGES}),
    )
    assert status == 200
    headers = lower(fake_upstream.requests[-1].headers)
    assert headers["authorization"] == f"Bearer {KEY}"
    for name in ("x-api-key", "api-key", "cookie", "x-hop-named", "keep-alive", "te", "upgrade",
                 "proxy-authorization"):
        assert name not in headers, name
    assert "X-Hop-Named" not in headers.get("connection", "")
    assert TOKEN not in repr(headers)
    assert headers["x-custom"] == "passes"
    assert headers["x-request-id"] == "req-client-42"
    assert headers["openai-organization"] == "org-config"
    assert headers["openai-project"] == "proj-config"
    assert headers["x-vendor-flag"] == "on"
    assert headers["user-agent"] == "sluicegate-test"
    assert headers["content-type"] == "application/json"
    assert headers["host"] == f"127.0.0.1:{fake_upstream.port}"


async def test_ordinary_client_headers_pass_and_request_id_is_forwarded(start, fake_upstream, client):
    fake_upstream.json(CHAT, openai_chat_completion())
    server = await start()
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES},
                           headers={**AUTH, "User-Agent": "my-app/1.0", "X-Trace": "t-1"}) as resp:
        assert resp.status == 200
        request_id = resp.headers["x-request-id"]
    headers = lower(fake_upstream.requests[-1].headers)
    assert headers["user-agent"] == "my-app/1.0"
    assert headers["x-trace"] == "t-1"
    assert headers["x-request-id"] == request_id


async def test_provider_without_api_key_sends_no_authorization(start, fake_upstream, client):
    fake_upstream.json(CHAT, openai_chat_completion("local"))
    server = await start(key_line="", env={})
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES},
                           headers=AUTH) as resp:
        assert resp.status == 200
    headers = lower(fake_upstream.requests[-1].headers)
    assert "authorization" not in headers


async def test_unset_key_variable_is_503_and_no_upstream_call(start, fake_upstream, client):
    fake_upstream.json(CHAT, openai_chat_completion())
    server = await start(env={})
    for stream in (False, True):
        body = {"model": "chat", "messages": MESSAGES, "stream": stream}
        async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
            assert resp.status == 503
            error = assert_openai_error(await resp.json(), "provider_not_configured")
            assert "UP_KEY" in error["message"]
    assert fake_upstream.requests == []


# -- streaming -------------------------------------------------------------------------------


async def test_stream_is_relayed_event_by_event(start, fake_upstream, client):
    chunks = openai_chunks(["Hel", "lo"])
    released = asyncio.Event()

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        # The role-only chunk and the first content; the gateway holds a stream back until its
        # first content (so it can still fail over), then relays event by event.
        await response.write(fake_upstream.frame(chunks[0]) + fake_upstream.frame(chunks[1]))
        await released.wait()
        for chunk in chunks[2:]:
            await response.write(fake_upstream.frame(chunk))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    fake_upstream.on(CHAT, respond)
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 2)
        second = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 2)
        assert not released.is_set()
        assert (first, second) == (fake_upstream.frame(chunks[0]), fake_upstream.frame(chunks[1]))
        released.set()
        rest = await asyncio.wait_for(resp.content.read(), 2)
    assert rest == b"".join(fake_upstream.frame(c) for c in chunks[2:]) + b"data: [DONE]\n\n"


async def test_stream_bytes_and_usage_chunk_pass_through(start, fake_upstream):
    chunks = openai_chunks(["Hel", "lo"], usage=True)
    chunks[1]["choices"][0]["delta"]["x_vendor"] = {"a": 1}
    fake_upstream.sse(CHAT, chunks)
    server = await start()
    sdk = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)
    stream = await sdk.chat.completions.create(
        model="chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    received = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "Hello"
    assert received[-1].choices == []
    assert received[-1].usage.model_dump() == {
        "prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
        "completion_tokens_details": None, "prompt_tokens_details": None,
    }
    sent = fake_upstream.requests[-1].json()
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


async def test_stream_frames_are_byte_identical(start, fake_upstream, client):
    chunks = openai_chunks(["a", "b c", "\u00e9"], usage=True)
    fake_upstream.sse(CHAT, chunks)
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        raw = await resp.read()
    assert raw == b"".join(fake_upstream.frame(c) for c in chunks) + b"data: [DONE]\n\n"


async def test_stream_without_done_ends_with_in_band_error(start, fake_upstream, client):
    chunks = openai_chunks(["Hel", "lo"])
    fake_upstream.sse(CHAT, chunks, done=False)
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 200
        data = sse_data(await resp.read())
    assert [orjson.loads(d) for d in data[:-1]] == chunks
    assert_openai_error(orjson.loads(data[-1]), "upstream_unavailable")
    assert b"[DONE]" not in data


async def test_error_event_mid_stream_ends_with_in_band_error_without_the_key(start, fake_upstream, client):
    chunks = openai_chunks(["Hel", "lo"])
    error = {"error": {"message": f"overloaded (key {KEY})", "type": "server_error", "code": "overloaded"}}
    fake_upstream.sse(CHAT, [chunks[0], chunks[1], error, chunks[2]])
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 200
        raw = await resp.read()
    data = sse_data(raw)
    assert [orjson.loads(d) for d in data[:2]] == chunks[:2]
    assert len(data) == 3
    relayed = assert_openai_error(orjson.loads(data[-1]), "overloaded")
    assert "overloaded" in relayed["message"]
    assert KEY not in raw.decode()
    assert "sk-" not in raw.decode()


async def test_error_as_the_first_stream_event_keeps_an_error_status(start, fake_upstream, client):
    error = {"error": {"message": f"quota gone for {KEY}", "type": "insufficient_quota", "code": "quota"}}
    fake_upstream.sse(CHAT, [error])
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 502
        assert resp.headers["Content-Type"].startswith("application/json")
        raw = await resp.read()
    relayed = assert_openai_error(orjson.loads(raw), "quota")
    assert relayed["type"] == "insufficient_quota"
    assert KEY not in raw.decode()


async def test_json_answer_to_a_stream_request_becomes_chunks(start, fake_upstream):
    fake_upstream.json(CHAT, openai_chat_completion("whole answer"))
    server = await start()
    sdk = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)
    stream = await sdk.chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert len(chunks) == 1
    assert chunks[0].object == "chat.completion.chunk"
    assert chunks[0].choices[0].delta.content == "whole answer"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].finish_reason == "stop"


async def test_json_answer_to_a_stream_request_wire_format(start, fake_upstream, client):
    fake_upstream.json(CHAT, openai_chat_completion("whole"))
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        data = sse_data(await resp.read())
    assert data[-1] == b"[DONE]"
    [chunk] = [orjson.loads(d) for d in data[:-1]]
    assert chunk["object"] == "chat.completion.chunk"
    assert "message" not in chunk["choices"][0]
    assert chunk["choices"][0]["delta"] == {"role": "assistant", "content": "whole", "refusal": None}


# -- upstream errors -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "status, code",
    [(400, "invalid_value"), (401, "invalid_api_key"), (404, "model_not_found"),
     (429, "rate_limit_exceeded"), (500, None), (503, "overloaded")],
)
async def test_upstream_errors_keep_their_status_and_lose_the_key(start, fake_upstream, client, status, code, stream):
    upstream_error = {"error": {
        "message": f"Incorrect API key provided: {KEY}. Also seen as sk-upstr*************6789.",
        "type": "invalid_request_error" if status < 500 else "server_error",
        "param": None,
        "code": code,
    }}
    extra_headers = {"Retry-After": "7"} if status == 429 else None
    fake_upstream.json(CHAT, upstream_error, status=status, headers=extra_headers)
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": stream}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == status
        assert resp.headers["Content-Type"].startswith("application/json")
        raw = await resp.read()
        retry_after = resp.headers.get("Retry-After")
    error = assert_openai_error(orjson.loads(raw), code or f"upstream_{status}")
    assert error["type"] == upstream_error["error"]["type"]
    assert "Incorrect API key provided" in error["message"]
    assert "sk-" not in raw.decode() and "0123456789" not in raw.decode()
    assert retry_after == ("7" if status == 429 else None)


async def test_non_json_upstream_error_body_keeps_status(start, fake_upstream, client):
    fake_upstream.on(CHAT, lambda request: _html_error())
    server = await start()
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES},
                           headers=AUTH) as resp:
        assert resp.status == 502
        error = assert_openai_error(await resp.json(), "upstream_502")
    assert "Bad Gateway" in error["message"]


async def _html_error() -> web.Response:
    return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")


async def test_sdk_sees_rate_limit_with_retry_after(start, fake_upstream):
    fake_upstream.json(CHAT, {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
                       status=429, headers={"Retry-After": "3"})
    server = await start()
    sdk = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk.chat.completions.create(model="chat", messages=MESSAGES)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.code == "rate_limit_exceeded"


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


async def test_connection_refused_is_502_upstream_unavailable(gateway, client):
    server = await gateway(config(f"http://127.0.0.1:{closed_port()}"), env={"UP_KEY": KEY})
    for stream in (False, True):
        body = {"model": "chat", "messages": MESSAGES, "stream": stream}
        async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
            assert resp.status == 502
            raw = await resp.read()
        assert_openai_error(orjson.loads(raw), "upstream_unavailable")
        assert KEY not in raw.decode()


async def test_timeout_is_504_upstream_timeout(start, fake_upstream, client):
    fake_upstream.json(CHAT, openai_chat_completion(), delay=1)
    server = await start("timeout = 0.2")
    started = time.monotonic()
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES},
                           headers=AUTH) as resp:
        assert resp.status == 504
        assert_openai_error(await resp.json(), "upstream_timeout")
    assert time.monotonic() - started < 0.9


async def test_stream_first_byte_timeout_is_504(start, fake_upstream, client):
    fake_upstream.on(CHAT, fake_upstream.sse_responder(openai_chunks(["a"]), first_delay=1))
    server = await start("timeout = 0.2")
    started = time.monotonic()
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 504
        assert_openai_error(await resp.json(), "upstream_timeout")
    assert time.monotonic() - started < 0.9


async def test_stream_silence_mid_way_ends_with_in_band_timeout(start, fake_upstream, client):
    chunks = openai_chunks(["a", "b"])

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(fake_upstream.frame(chunks[0]) + fake_upstream.frame(chunks[1]))
        await asyncio.sleep(1)  # silent after the first content: past the idle timeout
        return response

    fake_upstream.on(CHAT, respond)
    server = await start("timeout = 0.2")
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    started = time.monotonic()
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 200
        data = sse_data(await resp.read())
    assert time.monotonic() - started < 0.9
    assert [orjson.loads(d) for d in data[:2]] == chunks[:2]
    assert len(data) == 3
    assert_openai_error(orjson.loads(data[2]), "upstream_timeout")


# -- connections -----------------------------------------------------------------------------


async def test_client_disconnect_mid_stream_closes_the_upstream(start, fake_upstream, client):
    fake_upstream.on(CHAT, fake_upstream.sse_responder(openai_chunks(["w"] * 200), delay=0.05))
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    resp = await client.post(server.base_url + CHAT, json=body, headers=AUTH)
    assert resp.status == 200
    await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 2)
    resp.close()
    await asyncio.wait_for(fake_upstream.abort_event.wait(), 2)
    assert fake_upstream.aborted == 1


async def test_one_shared_session_with_keep_alive(start, fake_upstream, client):
    peers: list[tuple[str, int]] = []

    def recording(responder):
        async def respond(request: web.Request) -> web.StreamResponse:
            peers.append(request.transport.get_extra_info("peername"))
            return await responder(request)
        return respond

    fake_upstream.on(CHAT, recording(fake_upstream.json_responder(openai_chat_completion())))
    fake_upstream.on("/v1/embeddings", recording(fake_upstream.json_responder({"error": {"message": "no"}},
                                                                            status=400)))
    server = await start()
    for _ in range(3):
        async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES},
                               headers=AUTH) as resp:
            assert resp.status == 200
            await resp.read()
    async with client.post(server.base_url + "/v1/embeddings", json={"model": "chat", "input": "x"},
                           headers=AUTH) as resp:
        assert resp.status == 400
    fake_upstream.on(CHAT, recording(fake_upstream.sse_responder(openai_chunks(["a"]))))
    for _ in range(2):
        async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES,
                                                              "stream": True}, headers=AUTH) as resp:
            assert (await resp.read()).endswith(b"data: [DONE]\n\n")
    assert len(peers) == 6
    assert len(set(peers)) == 1, peers
    provider = server.gateway.current.providers["up"]
    assert provider.services.http is server.gateway.http


# -- the adapter on its own ------------------------------------------------------------------


# make_request / make_ctx come from sluicegate.testing; the tests that run on its MockTransport
# (no sockets) check the adapter alone, the others what reaches a real connection.


async def test_stream_close_closes_the_upstream_response_at_once(fake_upstream):
    fake_upstream.on(CHAT, fake_upstream.sse_responder(openai_chunks(["w"] * 100), delay=0.05))
    async with aiohttp.ClientSession() as http:
        provider = OpenAIProvider(
            "up", OpenAIOptions(type="openai", base_url=fake_upstream.url + "/v1", api_key=Secret(KEY)),
            Services(http=http, config=None),
        )
        responses: list[aiohttp.ClientResponse] = []
        post = provider.post

        async def recording_post(*args, **kwargs):
            response = await post(*args, **kwargs)
            responses.append(response)
            return response

        provider.post = recording_post
        req = make_request({"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True})
        reply = await provider.send(make_ctx(), req, Target(provider, "gpt-4o-mini", "up/gpt-4o-mini"))
        assert isinstance(reply, StreamReply)
        events = aiter(reply)
        first = await anext(events)
        assert first.json()["choices"][0]["delta"]["role"] == "assistant"
        await anext(events)
        await reply.aclose()
        # No event-loop turn in between: the connection is closed by aclose() itself.
        assert responses[0].closed
        await asyncio.wait_for(fake_upstream.abort_event.wait(), 2)


async def test_unit_non_stream_reply_and_unconfigured_check(no_sockets):
    transport = MockTransport(lambda sent: json_response(b'{"ok":true}'))
    services = Services(http=None, config=None, transport=transport)
    provider = OpenAIProvider(
        "up", OpenAIOptions(type="openai", base_url="http://vendor.invalid/v1", api_key=Secret(KEY)), services
    )
    req = make_request({"model": "m", "messages": MESSAGES})
    reply = await provider.send(make_ctx(), req, Target(provider, "m", "up/m"))
    assert type(reply) is Reply and reply.body == b'{"ok":true}'
    assert transport.requests[-1].body == req.wire

    missing = OpenAIProvider(
        "miss", OpenAIOptions(type="openai", api_key=Secret("", ("MISSING_KEY",))), services
    )
    assert not missing.configured
    with pytest.raises(ProviderNotConfigured, match="MISSING_KEY is not set"):
        missing.check_request(req)
    keyless = OpenAIProvider("local", OpenAIOptions(type="openai", base_url="http://127.0.0.1:1"), services)
    assert keyless.configured
    keyless.check_request(req)
    assert "authorization" not in {k.lower() for k in keyless.base_headers()}


async def test_unit_stream_error_event_is_a_gateway_error(no_sockets):
    transport = MockTransport(lambda sent: sse_response([{"error": {"message": f"bad {KEY}", "code": "boom"}}]))
    provider = OpenAIProvider(
        "up", OpenAIOptions(type="openai", base_url="http://vendor.invalid/v1", api_key=Secret(KEY)),
        Services(http=None, config=None, transport=transport),
    )
    req = make_request({"model": "m", "messages": MESSAGES, "stream": True})
    reply = await provider.send(make_ctx(), req, Target(provider, "m", "up/m"))
    with pytest.raises(UpstreamError) as caught:
        async for _ in reply:
            pass
    await reply.aclose()
    assert caught.value.code == "boom"
    assert KEY not in caught.value.message


async def test_gzipped_client_body_reaches_upstream_decodable(start, fake_upstream, client):
    """aiohttp's server inflates a gzip request body; its Content-Encoding must not be forwarded."""
    fake_upstream.json(CHAT, openai_chat_completion())
    server = await start()
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": MESSAGES})
    async with client.post(server.base_url + CHAT, data=gzip.compress(body),
                           headers={**AUTH, "Content-Encoding": "gzip", "Content-Type": "application/json"}) as resp:
        assert resp.status == 200, await resp.text()
    [sent] = fake_upstream.requests
    assert sent.body == body


async def test_key_given_in_a_header_option_is_scrubbed_from_errors(start, fake_upstream, client):
    """Azure-style vendors take the key in a header (``headers = {"api-key" = ...}``)."""
    header_key = "azure-key-7f3a9c1e5b"
    fake_upstream.json(CHAT, {"error": {"message": f"Access denied for key {header_key}.", "code": "denied"}},
                       status=401)
    server = await start('headers = { "api-key" = "${AZ_KEY}" }', key_line="", env={"AZ_KEY": header_key})
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES},
                           headers=AUTH) as resp:
        assert resp.status == 401
        raw = await resp.read()
    assert lower(fake_upstream.requests[-1].headers)["api-key"] == header_key
    error = assert_openai_error(orjson.loads(raw), "denied")
    assert "Access denied for key" in error["message"]
    assert header_key not in raw.decode()
