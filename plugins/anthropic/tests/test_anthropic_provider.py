"""Adapter conformance for ``type = "anthropic"``: the real gateway server in front of a FakeUpstream."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import anthropic
import openai
import orjson
import pytest

from sluicegate.config.loader import load_config_text
from sluicegate.errors import ConfigError, UpstreamError, UpstreamUnavailable
from sluicegate.exchange import Endpoint, Reply, StreamReply, Target
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate.testing import (
    MockResponse,
    MockTransport,
    json_response,
    make_ctx,
    make_request,
    sse_response,
)
from sluicegate_anthropic import AnthropicOptions, AnthropicProvider

FIXTURES = Path(__file__).with_name("fixtures")
KEY = "sk-ant-api03-upstream-secret-0123456789"
TOKEN = "client-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHAT = "/v1/chat/completions"
UPSTREAM = "/v1/messages"
VENDOR_MODEL = "claude-sonnet-4-5-20250929"
MESSAGES = [{"role": "user", "content": "hi"}]


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def events(name: str) -> list[tuple[str, dict]]:
    """A recorded stream as FakeUpstream plays it: (event name, data) pairs."""
    return [(event, data) for event, data in load(name)]


def config(url: str, provider_extra: str = "", key_line: str = 'api_key = "${UP_KEY}"') -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.claude]
type = "anthropic"
base_url = "{url}/v1"
{key_line}
models = ["{VENDOR_MODEL}"]
{provider_extra}

# Adapter tests check one call at a time: no retries, no breaker (tests/test_resilience_*.py have those).
[retry]
attempts = 1

[breaker]
enabled = false

[models.chat]
targets = ["claude/{VENDOR_MODEL}"]
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


@pytest.fixture
async def sdk():
    """``sdk(server)``: an official OpenAI client for the gateway, closed after the test."""
    made: list[openai.AsyncOpenAI] = []

    def make(server) -> openai.AsyncOpenAI:
        made.append(openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0))
        return made[-1]

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def claude():
    """``claude(server)``: an official Anthropic client for the gateway, closed after the test."""
    made: list[anthropic.AsyncAnthropic] = []

    def make(server, **kwargs) -> anthropic.AsyncAnthropic:
        made.append(anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=0, **kwargs))
        return made[-1]

    yield make
    for client in made:
        await client.close()


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def sse_data(raw: bytes) -> list[bytes]:
    return [block[6:] for block in raw.split(b"\n\n") if block.startswith(b"data: ")]


def play_stream(fake_upstream, name_or_events, **kwargs) -> None:
    recorded = events(name_or_events) if isinstance(name_or_events, str) else name_or_events
    fake_upstream.sse(UPSTREAM, recorded, done=False,
                      headers={"Content-Type": "text/event-stream; charset=utf-8"}, **kwargs)


# -- translated chat: requests ------------------------------------------------------------------


async def test_text_answer_and_the_request_that_produced_it(start, fake_upstream, sdk):
    fake_upstream.json(UPSTREAM, load("message_text.json"))
    server = await start()
    before = int(time.time())
    answer = await sdk(server).chat.completions.create(
        model="chat",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who are you?"}],
        temperature=0.3,
        stop=["\n\n"],
        user="u-1",
    )
    assert answer.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert answer.model == VENDOR_MODEL
    assert before <= answer.created <= time.time()
    assert answer.choices[0].message.content == "Hi! My name is Claude."
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (10, 12, 22)
    [sent] = fake_upstream.requests
    assert (sent.method, sent.path) == ("POST", UPSTREAM)
    assert sent.json() == {
        "model": VENDOR_MODEL,
        "max_tokens": 4096,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Who are you?"}],
        "stop_sequences": ["\n\n"],
        "temperature": 0.3,
        "metadata": {"user_id": "u-1"},
    }


async def test_default_max_tokens_option_and_client_limit(start, fake_upstream, sdk):
    fake_upstream.json(UPSTREAM, load("message_text.json"))
    server = await start("default_max_tokens = 333")
    await sdk(server).chat.completions.create(model="chat", messages=MESSAGES)
    await sdk(server).chat.completions.create(model="chat", messages=MESSAGES, max_completion_tokens=20)
    assert [r.json()["max_tokens"] for r in fake_upstream.requests] == [333, 20]


async def test_images_land_upstream_as_image_blocks(start, fake_upstream, sdk):
    fake_upstream.json(UPSTREAM, load("message_text.json"))
    server = await start()
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
    await sdk(server).chat.completions.create(model="chat", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Compare these."},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
    ]}])
    assert fake_upstream.requests[-1].json()["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Compare these."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": pixel}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.webp"}},
    ]}]


async def test_tool_calls_and_results_round_trip(start, fake_upstream, sdk):
    fake_upstream.json(UPSTREAM, load("message_tool_use.json"))
    server = await start()
    client = sdk(server)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}, {"type": "function", "function": {
            "name": "get_time", "description": "Local time."}}]
    history = [{"role": "user", "content": "Weather and time in Paris?"}]
    first = await client.chat.completions.create(model="chat", messages=history, tools=tools, tool_choice="auto")
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("toolu_01A09q90qw90lq917835lq9", "get_weather", {"city": "Paris", "unit": "celsius"}),
        ("toolu_01BvXyRaKcQ7kL4xS2vEoN3m", "get_time", {}),
    ]
    assert fake_upstream.requests[0].json()["tools"] == [
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "get_time", "description": "Local time.", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert fake_upstream.requests[0].json()["tool_choice"] == {"type": "auto"}

    # The SDK's own assistant message goes back, followed by the tool results.
    fake_upstream.json(UPSTREAM, load("message_text.json"))
    history += [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_01BvXyRaKcQ7kL4xS2vEoN3m", "content": "14:05"},
    ]
    await client.chat.completions.create(model="chat", messages=history, tools=tools)
    assert fake_upstream.requests[1].json()["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "text", "text": "I'll check the weather and the time in Paris."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
             "input": {"city": "Paris", "unit": "celsius"}},
            {"type": "tool_use", "id": "toolu_01BvXyRaKcQ7kL4xS2vEoN3m", "name": "get_time", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_01BvXyRaKcQ7kL4xS2vEoN3m", "content": "14:05"},
        ]},
    ]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"n": 2}, "n"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": "hologram"}]}]}, "messages[0].content[0].type"),
        ({"messages": [*MESSAGES, {"role": "tool", "content": "42"}]}, "messages[1].tool_call_id"),
        ({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}]}, "messages[0].content[0].image_url.url"),
        ({"messages": [*MESSAGES, {"role": "assistant", "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]},
         "messages[1].tool_calls[0].function.arguments"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_untranslatable_input_is_400_and_nothing_goes_upstream(start, fake_upstream, client, body, param, stream):
    fake_upstream.json(UPSTREAM, load("message_text.json"))
    server = await start()
    request = {"model": "chat", "messages": MESSAGES, "stream": stream, **body}
    async with client.post(server.base_url + CHAT, json=request, headers=AUTH) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert fake_upstream.requests == []


# -- headers ------------------------------------------------------------------------------------


async def test_vendor_headers_and_no_client_credentials(start, fake_upstream, client):
    fake_upstream.json(UPSTREAM, load("message_text.json"))
    server = await start('version = "2024-01-01"\nbeta = ["prompt-caching-2024-07-31", "output-128k-2025-02-19"]\n'
                         'headers = { "X-Team" = "search" }')
    sent_headers = {**AUTH, "x-api-key": "client-x-api-key", "anthropic-version": "1999-01-01",
                    "anthropic-beta": "client-chosen-beta", "X-Trace": "t-1", "X-Request-Id": "req-client-7"}
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES},
                           headers=sent_headers) as resp:
        assert resp.status == 200
    headers = lower(fake_upstream.requests[-1].headers)
    assert headers["x-api-key"] == KEY
    assert headers["anthropic-version"] == "2024-01-01"
    # On the OpenAI entrance the client cannot switch Anthropic features on (the translation
    # would not know their answers); the configured ones are sent.
    assert headers["anthropic-beta"] == "prompt-caching-2024-07-31,output-128k-2025-02-19"
    assert headers["content-type"] == "application/json"
    assert headers["x-team"] == "search"
    assert headers["x-trace"] == "t-1"
    assert headers["x-request-id"] == "req-client-7"
    assert "authorization" not in headers
    assert TOKEN not in repr(headers) and "client-x-api-key" not in repr(headers)


async def test_default_version_and_no_beta_header(start, fake_upstream, sdk):
    fake_upstream.json(UPSTREAM, load("message_text.json"))
    server = await start()
    await sdk(server).chat.completions.create(model="chat", messages=MESSAGES)
    headers = lower(fake_upstream.requests[-1].headers)
    assert headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in headers
    assert headers["x-api-key"] == KEY
    assert TOKEN not in " ".join(headers.values())


async def test_missing_key_is_503_not_configured(start, fake_upstream, client):
    server = await start(env={})
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES},
                           headers=AUTH) as resp:
        assert resp.status == 503
        assert (await resp.json())["error"]["code"] == "provider_not_configured"
    assert fake_upstream.requests == []


def test_default_max_tokens_must_be_positive():
    with pytest.raises(ConfigError, match="default_max_tokens"):
        load_config_text(config("http://127.0.0.1:1", "default_max_tokens = 0"), env={"UP_KEY": KEY})


# -- translated chat: streams -------------------------------------------------------------------


async def test_stream_text_with_usage(start, fake_upstream, sdk):
    play_stream(fake_upstream, "stream_text.json")
    server = await start()
    stream = await sdk(server).chat.completions.create(
        model="chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello! How can I help?"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (1225, 15)
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 1200
    assert {c.id for c in chunks} == {"msg_01PPTB1VfAYm5zB6hT3hLW8y"}
    assert {c.model for c in chunks} == {VENDOR_MODEL}
    assert fake_upstream.requests[-1].json()["stream"] is True
    assert "stream_options" not in fake_upstream.requests[-1].json()


async def test_stream_wire_format_is_openai_chunks_then_done(start, fake_upstream, client):
    play_stream(fake_upstream, "stream_text.json")
    server = await start()
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    async with client.post(server.base_url + CHAT, json=body, headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        raw = await resp.read()
    assert b"event:" not in raw
    data = sse_data(raw)
    assert data[-1] == b"[DONE]"
    chunks = [orjson.loads(d) for d in data[:-1]]
    assert len(chunks) == 4  # role, two pieces, finish; no usage chunk unless asked for
    assert all(c["object"] == "chat.completion.chunk" and set(c) == {"id", "object", "created", "model", "choices"}
               for c in chunks)


async def test_stream_tool_calls_are_assembled_by_the_sdk(start, fake_upstream, sdk):
    play_stream(fake_upstream, "stream_tool_use.json")
    server = await start()
    tools = [{"type": "function", "function": {"name": "get_weather"}},
             {"type": "function", "function": {"name": "get_time"}}]
    async with sdk(server).chat.completions.stream(model="chat", messages=MESSAGES, tools=tools) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls] == [
        ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", {"city": "Paris"}),
        ("toolu_01BvXyRaKcQ7kL4xS2vEoN3m", "get_time", {"timezone": "Europe/Paris"}),
    ]


OVERLOADED = ("error", {"type": "error", "error": {"type": "overloaded_error", "message": f"Overloaded ({KEY})"}})


async def test_error_mid_stream_is_reported_in_band(start, fake_upstream, client, sdk):
    recorded = events("stream_text.json")
    play_stream(fake_upstream, [*recorded[:4], OVERLOADED])
    server = await start()
    stream = await sdk(server).chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    text = []
    with pytest.raises(openai.APIError, match="overloaded_error"):
        async for chunk in stream:
            text.append(chunk.choices[0].delta.content or "")
    assert "".join(text) == "Hello"

    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES, "stream": True},
                           headers=AUTH) as resp:
        assert resp.status == 200
        raw = await resp.read()
    error = orjson.loads(sse_data(raw)[-1])["error"]
    assert error["code"] == "overloaded_error"
    assert "Overloaded" in error["message"] and KEY not in raw.decode()
    assert b"[DONE]" not in raw


async def test_error_as_the_first_event_keeps_its_status(start, fake_upstream, client):
    play_stream(fake_upstream, [OVERLOADED])
    server = await start()
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES, "stream": True},
                           headers=AUTH) as resp:
        assert resp.status == 503
        error = (await resp.json())["error"]
    assert (error["code"], error["type"]) == ("overloaded_error", "upstream_error")


async def test_stream_without_message_stop_ends_with_an_in_band_error(start, fake_upstream, client):
    play_stream(fake_upstream, events("stream_text.json")[:-1])
    server = await start()
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES, "stream": True},
                           headers=AUTH) as resp:
        assert resp.status == 200
        data = sse_data(await resp.read())
    assert orjson.loads(data[-1])["error"]["code"] == "upstream_unavailable"
    assert b"[DONE]" not in data


async def test_client_disconnect_mid_stream_closes_the_upstream(start, fake_upstream):
    recorded = events("stream_text.json")
    delta = recorded[3]
    play_stream(fake_upstream, [*recorded[:3], *[delta] * 200, *recorded[5:]], delay=0.05)
    server = await start()
    async with aiohttp.ClientSession() as session:
        resp = await session.post(server.base_url + CHAT, headers=AUTH,
                                  json={"model": "chat", "messages": MESSAGES, "stream": True})
        assert resp.status == 200
        await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 2)
        resp.close()
    await asyncio.wait_for(fake_upstream.abort_event.wait(), 2)
    assert fake_upstream.aborted == 1


# -- errors -------------------------------------------------------------------------------------

ERROR_EXPECTATIONS = {  # vendor status: (client status, OpenAI type, Anthropic type as code)
    400: (400, "invalid_request_error", "invalid_request_error"),
    401: (401, "authentication_error", "authentication_error"),
    403: (403, "permission_error", "permission_error"),
    404: (404, "invalid_request_error", "not_found_error"),
    413: (413, "invalid_request_error", "request_too_large"),
    429: (429, "rate_limit_error", "rate_limit_error"),
    500: (500, "upstream_error", "api_error"),
    529: (503, "upstream_error", "overloaded_error"),
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("vendor_status", list(ERROR_EXPECTATIONS))
async def test_vendor_errors(start, fake_upstream, client, vendor_status, stream):
    status, kind, code = ERROR_EXPECTATIONS[vendor_status]
    body = load("errors.json")[str(vendor_status)]
    body["error"]["message"] += f" (key {KEY})"
    retry = {"retry-after": "7"} if vendor_status in (429, 529) else {"retry-after": "9"}
    fake_upstream.json(UPSTREAM, body, status=vendor_status, headers=retry)
    server = await start()
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES, "stream": stream},
                           headers=AUTH) as resp:
        assert resp.status == status
        raw = await resp.read()
        retry_after = resp.headers.get("Retry-After")
    error = orjson.loads(raw)["error"]
    assert (error["type"], error["code"]) == (kind, code)
    assert error["message"].startswith(f"provider 'claude' returned HTTP {vendor_status}: ")
    assert body["error"]["message"].split(" (key")[0] in error["message"]
    assert KEY not in raw.decode()
    assert retry_after == ("7" if vendor_status in (429, 529) else None)


async def test_sdk_sees_overload_as_retryable_503(start, fake_upstream, sdk):
    fake_upstream.json(UPSTREAM, load("errors.json")["529"], status=529)
    server = await start()
    with pytest.raises(openai.InternalServerError) as caught:
        await sdk(server).chat.completions.create(model="chat", messages=MESSAGES)
    assert caught.value.status_code == 503
    assert caught.value.code == "overloaded_error"


async def test_answer_that_is_not_a_message_is_502(start, fake_upstream, client):
    fake_upstream.json(UPSTREAM, b"<html>gateway hiccup</html>")
    server = await start()
    async with client.post(server.base_url + CHAT, json={"model": "chat", "messages": MESSAGES},
                           headers=AUTH) as resp:
        assert resp.status == 502
        assert (await resp.json())["error"]["code"] == "upstream_invalid_response"


# -- native /v1/messages pass-through -------------------------------------------------------------


async def test_native_message_is_relayed_byte_for_byte(start, fake_upstream, client):
    answer = (FIXTURES / "message_tool_use.json").read_bytes()
    fake_upstream.json(UPSTREAM, answer)
    server = await start()
    raw = (b'{"max_tokens": 64, "model": "' + VENDOR_MODEL.encode() + b'",\n'
           b' "messages": [{"role": "user", "content": "caf\\u00e9"}], "top_k": 3}')
    async with client.post(server.base_url + UPSTREAM, data=raw, headers=AUTH) as resp:
        assert resp.status == 200
        assert await resp.read() == answer
    assert fake_upstream.requests[-1].body == raw


async def test_native_alias_rewrites_only_the_model(start, fake_upstream, claude):
    fake_upstream.json(UPSTREAM, load("message_tool_use.json"))
    server = await start()
    message = await claude(server).messages.create(
        model="chat", max_tokens=64, system="Be brief.", messages=[{"role": "user", "content": "Weather?"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert [block.type for block in message.content] == ["thinking", "text", "text", "tool_use", "tool_use"]
    assert message.usage.cache_read_input_tokens == 2048
    assert fake_upstream.requests[-1].json() == {
        "max_tokens": 64, "messages": [{"role": "user", "content": "Weather?"}], "model": VENDOR_MODEL,
        "system": "Be brief.", "thinking": {"type": "enabled", "budget_tokens": 1024},
    }


async def test_native_headers_merge_the_clients_beta(start, fake_upstream, claude):
    fake_upstream.json(UPSTREAM, load("message_text.json"))
    server = await start('beta = ["prompt-caching-2024-07-31"]\nversion = "2023-01-01"')
    await claude(server, default_headers={
        "anthropic-beta": "token-efficient-tools-2025-02-19, prompt-caching-2024-07-31"}).messages.create(
        model="chat", max_tokens=8, messages=MESSAGES)
    headers = lower(fake_upstream.requests[-1].headers)
    assert headers["anthropic-beta"] == "prompt-caching-2024-07-31,token-efficient-tools-2025-02-19"
    assert headers["anthropic-version"] == "2023-01-01"
    assert headers["x-api-key"] == KEY
    assert TOKEN not in " ".join(headers.values())


async def test_native_stream_events_are_relayed_unchanged(start, fake_upstream, client, claude):
    play_stream(fake_upstream, "stream_tool_use.json")
    server = await start()
    body = {"model": "chat", "max_tokens": 64, "messages": MESSAGES, "stream": True}
    async with client.post(server.base_url + UPSTREAM, json=body, headers=AUTH) as resp:
        assert resp.status == 200
        raw = await resp.read()
    expected = b"".join(fake_upstream.frame(event) for event in events("stream_tool_use.json"))
    assert raw == expected

    async with claude(server).messages.stream(model="chat", max_tokens=64, messages=MESSAGES) as stream:
        message = await stream.get_final_message()
    assert message.stop_reason == "tool_use"
    assert [block.input for block in message.content if block.type == "tool_use"] == [
        {"city": "Paris"}, {"timezone": "Europe/Paris"}]


async def test_native_stream_error_and_cut_off(start, fake_upstream, client, claude):
    recorded = events("stream_text.json")
    play_stream(fake_upstream, [*recorded[:4], OVERLOADED])
    server = await start()
    texts = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with claude(server).messages.stream(model="chat", max_tokens=64, messages=MESSAGES) as stream:
            async for text in stream.text_stream:
                texts.append(text)
    assert texts == ["Hello"]
    assert caught.value.body["error"]["type"] == "overloaded_error"

    play_stream(fake_upstream, recorded[:-1])
    body = {"model": "chat", "max_tokens": 64, "messages": MESSAGES, "stream": True}
    async with client.post(server.base_url + UPSTREAM, json=body, headers=AUTH) as resp:
        raw = await resp.read()
    *relayed, last = raw.split(b"\n\n")[:-1]
    assert len(relayed) == len(recorded) - 1
    assert last.startswith(b"event: error\ndata: ")


async def test_native_vendor_error_keeps_anthropic_type(start, fake_upstream, claude):
    fake_upstream.json(UPSTREAM, load("errors.json")["529"], status=529, headers={"retry-after": "3"})
    server = await start()
    with pytest.raises(anthropic.APIStatusError) as caught:
        await claude(server).messages.create(model="chat", max_tokens=8, messages=MESSAGES)
    assert caught.value.status_code == 503
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert caught.value.response.headers["retry-after"] == "3"


# -- the adapter on its own ---------------------------------------------------------------------


def make_provider(url: str, http, transport: MockTransport | None = None, **options) -> AnthropicProvider:
    """The adapter on the shared session ``http``, or on ``transport`` (no sockets)."""
    services = Services(http=http, config=None, wall_clock=lambda: 1700000000.75, transport=transport)
    return AnthropicProvider(
        "claude", AnthropicOptions(type="anthropic", base_url=url + "/v1", api_key=Secret(KEY), **options), services
    )


def stream_answer(name_or_events) -> MockResponse:
    """``play_stream`` for a MockTransport: a recorded stream, or (event name, data) pairs."""
    recorded = events(name_or_events) if isinstance(name_or_events, str) else name_or_events
    return sse_response(recorded, done=False, headers={"Content-Type": "text/event-stream; charset=utf-8"})


async def test_created_comes_from_the_injected_clock(no_sockets):
    answers = iter([json_response(load("message_text.json")), stream_answer("stream_text.json")])
    transport = MockTransport(lambda sent: next(answers))
    provider = make_provider("http://vendor.invalid", None, transport)
    target = Target(provider, VENDOR_MODEL, f"claude/{VENDOR_MODEL}")
    reply = await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES}), target)
    assert type(reply) is Reply and reply.data["created"] == 1700000000
    reply = await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES, "stream": True}),
                                target)
    chunks = [event async for event in reply]
    await reply.aclose()
    assert [sent.path for sent in transport.requests] == [UPSTREAM, UPSTREAM]
    assert {event.json()["created"] for event in chunks[:-1]} == {1700000000}
    assert chunks[-1].data == b"[DONE]"


async def test_stream_close_closes_the_upstream_response_at_once(fake_upstream):
    recorded = events("stream_text.json")
    play_stream(fake_upstream, [*recorded[:3], *[recorded[3]] * 100], delay=0.05)
    async with aiohttp.ClientSession() as http:
        provider = make_provider(fake_upstream.url, http)
        responses: list[aiohttp.ClientResponse] = []
        post = provider.post

        async def recording_post(*args, **kwargs):
            response = await post(*args, **kwargs)
            responses.append(response)
            return response

        provider.post = recording_post
        for endpoint in (Endpoint.CHAT, Endpoint.MESSAGES):
            req = make_request({"model": VENDOR_MODEL, "max_tokens": 5, "messages": MESSAGES, "stream": True},
                               endpoint=endpoint)
            reply = await provider.send(make_ctx(), req, Target(provider, VENDOR_MODEL, "claude/x"))
            assert isinstance(reply, StreamReply)
            events_ = aiter(reply)
            await anext(events_)
            await anext(events_)
            await reply.aclose()
            # No event-loop turn in between: the connection is closed by aclose() itself.
            assert responses[-1].closed
        await asyncio.wait_for(fake_upstream.abort_event.wait(), 2)


async def test_in_stream_error_statuses(no_sockets):
    playing: list = []
    provider = make_provider("http://vendor.invalid", None, MockTransport(lambda sent: stream_answer(playing)))
    for kind, status in [("overloaded_error", 503), ("rate_limit_error", 429), ("api_error", 500),
                         ("invalid_request_error", 400), ("brand_new_error", 500)]:
        error_event = ("error", {"type": "error", "error": {"type": kind, "message": f"bad {KEY}"}})
        for endpoint in (Endpoint.CHAT, Endpoint.MESSAGES):
            playing[:] = [events("stream_text.json")[0], error_event]
            req = make_request({"model": "m", "max_tokens": 5, "messages": MESSAGES, "stream": True},
                               endpoint=endpoint)
            reply = await provider.send(make_ctx(), req, Target(provider, "m", "claude/m"))
            with pytest.raises(UpstreamError) as caught:
                async for _ in reply:
                    pass
            await reply.aclose()
            assert (caught.value.status, caught.value.code) == (status, kind)
            assert caught.value.retryable is (status >= 500 or status == 429)
            assert KEY not in caught.value.message


async def test_cut_off_stream_is_retryable_unavailable(no_sockets):
    transport = MockTransport(lambda sent: stream_answer(events("stream_text.json")[:-2]))
    provider = make_provider("http://vendor.invalid", None, transport)
    reply = await provider.send(
        make_ctx(), make_request({"model": "m", "messages": MESSAGES, "stream": True}), Target(provider, "m", "c/m")
    )
    with pytest.raises(UpstreamUnavailable) as caught:
        async for _ in reply:
            pass
    await reply.aclose()
    assert [sent.path for sent in transport.requests] == [UPSTREAM]
    assert caught.value.retryable and caught.value.status == 502
