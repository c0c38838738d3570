"""Adapter conformance for ``type = "dashscope"``: the real gateway, the openai SDK, a fake DashScope."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web

from sluicegate.errors import InvalidRequest, UpstreamError, UpstreamUnavailable
from sluicegate.exchange import Reply, StreamReply, Target
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate.testing import MockResponse, MockTransport, json_response, make_ctx, make_request
from sluicegate_dashscope import DashScopeOptions, DashScopeProvider
from sluicegate_dashscope.fake import MULTIMODAL_PATH, SSE_HEADERS, TEXT_PATH, result_frame

KEY = "sk-dashscope-secret-0123456789"
TOKEN = "client-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHAT = "/v1/chat/completions"
FIXTURES = Path(__file__).parent / "fixtures"
MESSAGES = [{"role": "user", "content": "你好"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Current weather in a city.",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    }
]


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def config(url: str, provider_extra: str = "") -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.qwen]
type = "dashscope"
base_url = "{url}/api/v1"
api_key = "${{DASHSCOPE_KEY}}"
models = ["qwen-plus"]
{provider_extra}

# Adapter tests check one call at a time: no retries, no breaker (tests/test_resilience_*.py have those).
[retry]
attempts = 1

[breaker]
enabled = false

[models.chat]
targets = ["qwen/qwen-plus"]
"""


@pytest.fixture
async def start(gateway, fake_upstream):
    async def start(provider_extra: str = ""):
        return await gateway(config(fake_upstream.url, provider_extra), env={"DASHSCOPE_KEY": KEY})

    return start


@pytest.fixture
async def client():
    async with aiohttp.ClientSession() as session:
        yield session


def sdk(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def dashscope_stream(events: list, *, delay: float = 0, tail: bytes = b""):
    """A responder streaming recorded DashScope events framed as DashScope frames them."""
    frames = [result_frame(number, event) for number, event in enumerate(events, 1)]

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        for index, frame in enumerate(frames):
            if delay and index:
                await asyncio.sleep(delay)
            await response.write(frame)
        if tail:
            await response.write(tail)
        await response.write_eof()
        return response

    return respond


def sse_data(raw: bytes) -> list[bytes]:
    return [block[6:] for block in raw.split(b"\n\n") if block.startswith(b"data: ")]


# -- text -------------------------------------------------------------------------------------


async def test_text_answer_through_the_sdk(start, fake_upstream):
    fake_upstream.json(TEXT_PATH, fixture("text_response.json"))
    server = await start()
    before = int(time.time())
    answer = await sdk(server).chat.completions.create(
        model="chat",
        messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],
        temperature=0.2,
        max_completion_tokens=100,
        frequency_penalty=0.5,
        user="u-1",
    )
    assert answer.id == "chatcmpl-902fee3b-f7f0-9a8c-96a1-6b4ea25af114"
    assert answer.object == "chat.completion"
    assert answer.model == "qwen-plus"
    assert before <= answer.created <= int(time.time())
    assert answer.choices[0].message.content.startswith("我是通义千问")
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (22, 17, 39)
    assert answer.usage.prompt_tokens_details.cached_tokens == 16
    [sent] = fake_upstream.requests
    assert sent.method == "POST" and sent.path == TEXT_PATH
    assert sent.json() == {
        "model": "qwen-plus",
        "input": {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "你好"}]},
        "parameters": {"result_format": "message", "temperature": 0.2, "max_tokens": 100},
    }


async def test_images_go_to_the_multimodal_endpoint(start, fake_upstream):
    fake_upstream.json(MULTIMODAL_PATH, fixture("multimodal_response.json"))
    server = await start()
    answer = await sdk(server).chat.completions.create(
        model="qwen/qwen-vl-max",
        messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/dog_and_girl.jpeg"}},
            {"type": "text", "text": "这是什么?"},
        ]}],
    )
    assert answer.choices[0].message.content == "图中是一位女子和一只狗在沙滩上玩耍，狗正抬起前爪和她击掌。"
    assert answer.usage.total_tokens == 1299
    [sent] = fake_upstream.requests
    assert sent.path == MULTIMODAL_PATH
    body = sent.json()
    assert body["model"] == "qwen-vl-max"
    assert body["input"]["messages"] == [
        {"role": "user", "content": [{"image": "https://example.com/dog_and_girl.jpeg"}, {"text": "这是什么?"}]}
    ]


# -- tools ------------------------------------------------------------------------------------


async def test_tool_call_and_tool_result_round_trip(start, fake_upstream):
    fake_upstream.on(
        TEXT_PATH,
        fake_upstream.json_responder(fixture("tool_call_response.json")),
        fake_upstream.json_responder(fixture("text_response.json")),
    )
    server = await start()
    client = sdk(server)
    messages = [{"role": "user", "content": "杭州天气怎么样?"}]
    first = await client.chat.completions.create(model="chat", messages=messages, tools=TOOLS, tool_choice="auto")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert (call.id, call.function.name) == ("call_1e9c7d8f4a5b4c3d9e2f10", "get_current_weather")
    assert json.loads(call.function.arguments) == {"location": "杭州市"}

    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "24°C, sunny"}]
    await client.chat.completions.create(model="chat", messages=messages, tools=TOOLS)
    first_sent, second_sent = (request.json() for request in fake_upstream.requests)
    assert first_sent["parameters"]["tools"] == TOOLS
    assert first_sent["parameters"]["tool_choice"] == "auto"
    assert second_sent["input"]["messages"][1:] == [
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": call.id, "type": "function",
             "function": {"name": "get_current_weather", "arguments": call.function.arguments}}]},
        {"role": "tool", "content": "24°C, sunny", "tool_call_id": call.id, "name": "get_current_weather"},
    ]


async def test_streamed_tool_calls_are_assembled_by_the_sdk(start, fake_upstream):
    fake_upstream.on(TEXT_PATH, dashscope_stream(fixture("stream_tool_call.json")))
    server = await start()
    async with sdk(server).chat.completions.stream(
        model="chat", messages=[{"role": "user", "content": "杭州天气和时间?"}], tools=TOOLS
    ) as stream:
        final = await stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls] == [
        ("call_ec2ad9fd6f8a4a7c9b1d3e", "get_current_weather", {"location": "杭州市"}),
        ("call_5f1b0a9e2c3d4e6f8a7b9c", "get_current_time", {}),
    ]


# -- streams ----------------------------------------------------------------------------------


async def test_text_stream_with_include_usage(start, fake_upstream):
    fake_upstream.on(TEXT_PATH, dashscope_stream(fixture("stream_text.json")))
    server = await start()
    stream = await sdk(server).chat.completions.create(
        model="chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "你好！有什么我可以帮助你的吗？"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (22, 9)
    assert {c.id for c in chunks} == {"chatcmpl-71689cfc-1f42-9949-86e8-9563b7f832b1"}
    [sent] = fake_upstream.requests
    assert sent.json()["parameters"] == {"result_format": "message", "incremental_output": True}


async def test_stream_wire_format_without_usage(start, fake_upstream, client):
    fake_upstream.on(TEXT_PATH, dashscope_stream(fixture("stream_text.json")))
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        data = sse_data(await resp.read())
    assert data[-1] == b"[DONE]"
    chunks = [orjson.loads(item) for item in data[:-1]]
    assert all(chunk["choices"] and "usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_stream_without_a_finish_is_an_in_band_retryable_error(start, fake_upstream, client):
    fake_upstream.on(TEXT_PATH, dashscope_stream(fixture("stream_text.json")[:3]))
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 200
        data = sse_data(await resp.read())
    assert b"[DONE]" not in data
    assert orjson.loads(data[-1])["error"]["code"] == "upstream_unavailable"
    # An empty stream fails before the 200 and keeps the status.
    fake_upstream.on(TEXT_PATH, dashscope_stream([]))
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 502
        assert (await resp.json())["error"]["code"] == "upstream_unavailable"


async def test_error_event_mid_stream_ends_the_stream_in_band(start, fake_upstream):
    events = fixture("stream_text.json")[:2]
    tail = fixture("errors.json")["stream:DataInspectionFailed"]["sse"].encode()
    fake_upstream.on(TEXT_PATH, dashscope_stream(events, tail=tail))
    server = await start()
    stream = await sdk(server).chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    text = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            text.append(chunk.choices[0].delta.content or "")
    assert "".join(text) == "你好！"
    assert caught.value.code == "DataInspectionFailed"
    assert "inappropriate content" in caught.value.message


async def test_client_disconnect_closes_the_upstream(start, fake_upstream, client):
    events = [fixture("stream_text.json")[1]] * 200
    responder = dashscope_stream(events, delay=0.05)

    async def watched(request):
        try:
            return await responder(request)
        except (asyncio.CancelledError, ConnectionResetError):
            fake_upstream.aborted += 1
            fake_upstream.abort_event.set()
            raise

    fake_upstream.on(TEXT_PATH, watched)
    server = await start()
    resp = await client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES, "stream": True},
                             headers=AUTH)
    assert resp.status == 200
    await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 2)
    resp.close()
    await asyncio.wait_for(fake_upstream.abort_event.wait(), 3)
    assert fake_upstream.aborted == 1


# -- headers ----------------------------------------------------------------------------------


async def test_headers_key_sse_flag_and_client_credentials(start, fake_upstream, client):
    fake_upstream.json(TEXT_PATH, fixture("text_response.json"))
    server = await start('workspace = "ws-42"\nheaders = { "X-Team" = "search" }')
    client_headers = {**AUTH, "X-DashScope-SSE": "enable", "X-DashScope-WorkSpace": "ws-other",
                      "Cookie": "s=1", "X-Trace": "t-1"}
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES},
                           headers=client_headers) as resp:
        assert resp.status == 200
    headers = lower(fake_upstream.requests[-1].headers)
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["content-type"] == "application/json"
    assert "x-dashscope-sse" not in headers
    assert headers["x-dashscope-workspace"] == "ws-42"
    assert headers["x-team"] == "search"
    assert headers["x-trace"] == "t-1"
    assert "cookie" not in headers
    assert TOKEN not in repr(headers)

    fake_upstream.on(TEXT_PATH, dashscope_stream(fixture("stream_text.json")))
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES, "stream": True},
                           headers=AUTH) as resp:
        assert resp.status == 200
        await resp.read()
    headers = lower(fake_upstream.requests[-1].headers)
    assert headers["x-dashscope-sse"] == "enable"
    assert headers["accept"] == "text/event-stream"
    assert headers["authorization"] == f"Bearer {KEY}"
    assert TOKEN not in repr(headers)


async def test_enable_search_option_reaches_every_request(start, fake_upstream):
    fake_upstream.json(TEXT_PATH, fixture("text_response.json"))
    server = await start("enable_search = true")
    await sdk(server).chat.completions.create(model="chat", messages=MESSAGES)
    assert fake_upstream.requests[-1].json()["parameters"]["enable_search"] is True


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "messages, param",
    [
        ([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}}]}],
         "messages[0].content[0]"),
        ([{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "https://x/v.mp4"}}]}],
         "messages[0].content[0]"),
        ([{"role": "function", "name": "f", "content": "x"}], "messages[0].role"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_untranslatable_input_is_400_with_no_upstream_call(start, fake_upstream, client, messages, param, stream):
    fake_upstream.json(TEXT_PATH, fixture("text_response.json"))
    server = await start()
    body = {"model": "chat", "messages": messages, "stream": stream}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert fake_upstream.requests == []


# -- vendor errors ----------------------------------------------------------------------------

ERROR_CASES = [
    # code, OpenAI type the client sees
    ("InvalidParameter", "invalid_request_error"),
    ("DataInspectionFailed", "invalid_request_error"),
    ("Arrearage", "insufficient_quota"),
    ("InvalidApiKey", "authentication_error"),
    ("AccessDenied", "permission_error"),
    ("ModelNotFound", "invalid_request_error"),
    ("Throttling.RateQuota", "rate_limit_error"),
    ("Throttling.AllocationQuota", "rate_limit_error"),
    ("PrepaidBillOverdue", "insufficient_quota"),
    ("InternalError", "upstream_error"),
    ("ModelUnavailable", "upstream_error"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("code, kind", ERROR_CASES)
async def test_vendor_errors_keep_status_and_code_and_lose_the_key(start, fake_upstream, client, code, kind, stream):
    recorded = fixture("errors.json")[code]
    status = recorded["status"]
    vendor_body = {**recorded["body"], "message": recorded["body"]["message"] + f" (key {KEY})"}
    headers = {"Retry-After": "7"}
    if stream:
        # Stream requests fail with the vendor's status and the error as an SSE event.
        frame = result_frame(1, vendor_body, event="error", status=status)
        fake_upstream.on(TEXT_PATH, fake_upstream_raw(frame, status, {**SSE_HEADERS, **headers}))
    else:
        fake_upstream.json(TEXT_PATH, vendor_body, status=status, headers=headers)
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": stream}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == status
        assert resp.headers["Content-Type"].startswith("application/json")
        raw = await resp.read()
        retry_after = resp.headers.get("Retry-After")
    error = orjson.loads(raw)["error"]
    assert error["code"] == code
    assert error["type"] == kind
    assert error["message"].startswith(f"provider 'qwen' returned HTTP {status}: {recorded['body']['message']}")
    assert KEY not in raw.decode() and "0123456789" not in raw.decode()
    # Retry-After only where a retry can help.
    retryable = code.startswith("Throttling") or status >= 500
    assert retry_after == ("7" if retryable else None)


def fake_upstream_raw(body: bytes, status: int, headers: dict[str, str]):
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, headers=headers)

    return respond


async def test_sdk_sees_rate_limit_with_retry_after(start, fake_upstream):
    recorded = fixture("errors.json")["Throttling.RateQuota"]
    fake_upstream.json(TEXT_PATH, recorded["body"], status=429, headers={"retry-after": "7"})
    server = await start()
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk(server).chat.completions.create(model="chat", messages=MESSAGES)
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "Throttling.RateQuota"


async def test_non_json_error_body_keeps_status(start, fake_upstream, client):
    fake_upstream.on(TEXT_PATH, fake_upstream_raw(b"<html>502 Bad Gateway</html>", 502, {"Content-Type": "text/html"}))
    server = await start()
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES}, headers=AUTH) as resp:
        assert resp.status == 502
        error = (await resp.json())["error"]
    assert error["code"] == "upstream_502"
    assert "Bad Gateway" in error["message"]


async def test_a_200_that_is_not_a_result_is_502(start, fake_upstream, client):
    fake_upstream.json(TEXT_PATH, b"[1, 2]")
    server = await start()
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES}, headers=AUTH) as resp:
        assert resp.status == 502
        assert (await resp.json())["error"]["code"] == "upstream_bad_response"


# -- the adapter on its own -------------------------------------------------------------------


def make_provider(http, url: str = "http://127.0.0.1:1", transport: MockTransport | None = None,
                  **extra) -> DashScopeProvider:
    """The adapter on the shared session ``http``, or on ``transport`` (no sockets)."""
    options = DashScopeOptions(type="dashscope", base_url=url + "/api/v1", api_key=Secret(KEY), **extra)
    services = Services(http=http, config=None, wall_clock=lambda: 1234.9, transport=transport)
    return DashScopeProvider("qwen", options, services)


def stream_answer(events: list) -> MockResponse:
    """``dashscope_stream`` for a MockTransport: the recorded events framed as DashScope frames them."""
    frames = [result_frame(number, event) for number, event in enumerate(events, 1)]
    return MockResponse(body=frames, headers=SSE_HEADERS)


@pytest.mark.parametrize("status", [400, 403, 429, 500, 503])
def test_map_error_arrears_and_moderation_are_never_retryable(status):
    provider = make_provider(None)
    for code in ("Arrearage", "DataInspectionFailed"):
        body = orjson.dumps({"code": code, "message": "no", "request_id": "r"})
        error = provider.map_error(status, body, {"retry-after": "3"})
        assert isinstance(error, UpstreamError)
        assert (error.status, error.code, error.retryable) == (status, code, False)
        assert "Retry-After" not in error.headers


def test_map_error_throttling_invalid_key_and_server_errors():
    provider = make_provider(None)
    throttled = provider.map_error(429, b'{"code":"Throttling","message":"Requests throttling triggered."}',
                                   {"retry-after": "5"})
    assert (throttled.status, throttled.retryable, throttled.headers) == (429, True, {"Retry-After": "5"})
    bad_key = provider.map_error(401, b'{"code":"InvalidApiKey","message":"Invalid API-key provided."}', {})
    assert (bad_key.status, bad_key.type, bad_key.code, bad_key.retryable) == (
        401, "authentication_error", "InvalidApiKey", False)
    assert bad_key.message == "provider 'qwen' returned HTTP 401: Invalid API-key provided."
    internal = provider.map_error(500, b'{"code":"InternalError.Algo","message":"An internal error"}', {})
    assert (internal.status, internal.retryable, internal.type) == (500, True, "upstream_error")
    scrubbed = provider.map_error(400, orjson.dumps({"code": "InvalidParameter", "message": f"bad {KEY}"}), {})
    assert KEY not in scrubbed.message


async def test_unit_non_stream_reply_uses_the_injected_clock(no_sockets):
    transport = MockTransport(lambda sent: json_response(fixture("text_response.json")))
    provider = make_provider(None, transport=transport)
    req = make_request({"model": "qwen-plus", "messages": MESSAGES})
    reply = await provider.send(make_ctx(), req, Target(provider, "qwen-plus", "qwen/qwen-plus"))
    assert [sent.path for sent in transport.requests] == [TEXT_PATH]
    assert type(reply) is Reply
    assert reply.data["created"] == 1234
    assert reply.data["model"] == "qwen-plus"


async def test_unit_bad_input_raises_before_any_network_call(no_sockets):
    transport = MockTransport(lambda sent: json_response(fixture("text_response.json")))
    provider = make_provider(None, transport=transport)
    req = make_request({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]})
    with pytest.raises(InvalidRequest):
        await provider.send(make_ctx(), req, Target(provider, "m", "qwen/m"))
    assert transport.requests == []


async def test_unit_stream_close_closes_the_upstream_response_at_once(fake_upstream):
    fake_upstream.on(TEXT_PATH, dashscope_stream([fixture("stream_text.json")[1]] * 100, delay=0.05))
    async with aiohttp.ClientSession() as http:
        provider = make_provider(http, fake_upstream.url)
        responses: list[aiohttp.ClientResponse] = []
        post = provider.post

        async def recording_post(*args, **kwargs):
            response = await post(*args, **kwargs)
            responses.append(response)
            return response

        provider.post = recording_post
        req = make_request({"model": "qwen-plus", "messages": MESSAGES, "stream": True})
        reply = await provider.send(make_ctx(), req, Target(provider, "qwen-plus", "qwen/qwen-plus"))
        assert isinstance(reply, StreamReply)
        events = aiter(reply)
        first = await anext(events)
        assert first.json()["choices"][0]["delta"] == {"role": "assistant", "content": "你好！"}
        assert first.json()["created"] == 1234
        await reply.aclose()
        assert responses[0].closed


async def test_unit_stream_without_finish_raises_retryable_unavailable(no_sockets):
    transport = MockTransport(lambda sent: stream_answer(fixture("stream_text.json")[:2]))
    provider = make_provider(None, transport=transport)
    req = make_request({"model": "qwen-plus", "messages": MESSAGES, "stream": True})
    reply = await provider.send(make_ctx(), req, Target(provider, "qwen-plus", "qwen/qwen-plus"))
    with pytest.raises(UpstreamUnavailable) as caught:
        async for _ in reply:
            pass
    await reply.aclose()
    assert [sent.path for sent in transport.requests] == [TEXT_PATH]
    assert caught.value.retryable is True


def test_unconfigured_without_key():
    options = DashScopeOptions(type="dashscope", api_key=Secret("", ("DASHSCOPE_API_KEY",)))
    provider = DashScopeProvider("qwen", options, Services(http=None, config=None))
    assert not provider.configured
    assert provider.unconfigured_reason == "DASHSCOPE_API_KEY is not set"
    keyless = DashScopeProvider("qwen", DashScopeOptions(type="dashscope"), Services(http=None, config=None))
    assert keyless.unconfigured_reason == "api_key is not configured"
    assert keyless.base_url == "https://dashscope.aliyuncs.com/api/v1"
