"""Issue 11 (3): an error an Anthropic(-compatible) vendor sends with a 200 is an error.

The native pass-through relayed a 200 body unparsed (so ``{"type": "error", ...}`` reached the
client as a message, key and all, and was cached), and a stream error event without its
``event: error`` line was relayed as content. Each test runs the real gateway (cache and
breaker on) in front of the fake Anthropic: error shape, no key, not cached, counted.
"""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from sluicegate.testing.vendor import json_answer
from sluicegate_anthropic.fake import AnthropicScript, error_body
from sluicegate_anthropic.inband import is_vendor_error

KEY = "sk-ant-api03-upstream-secret-0123456789"
TOKEN = "client-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UPSTREAM = "/v1/messages"
SCRIPT = AnthropicScript()
TARGET = f"claude/{SCRIPT.upstream_model}"
LEAK = f"Overloaded (key {KEY})"
MESSAGES = [{"role": "user", "content": "hi"}]


def config(url: str) -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.claude]
type = "anthropic"
base_url = "{url}/v1"
api_key = "${{UP_KEY}}"

[models.chat]
targets = ["{TARGET}"]

[retry]
attempts = 1

[breaker]
failure_threshold = 5

[cache]
ttl = 300
"""


@pytest.fixture
async def server(gateway, fake_upstream):
    return await gateway(config(fake_upstream.url), env={"UP_KEY": KEY})


async def twice(server, path: str, body: dict) -> list[tuple[int, str, bytes]]:
    seen = []
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(server.base_url + path, data=orjson.dumps(body), headers=AUTH) as resp:
                seen.append((resp.status, resp.content_type, await resp.read()))
    return seen


async def failures(server) -> int:
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/health") as resp:
        return (await resp.json())["targets"][TARGET]["consecutive_failures"]


def assert_no_key(raw: bytes) -> None:
    text = raw.decode()
    assert KEY not in text and "0123456789" not in text


@pytest.mark.parametrize("responder", [
    SCRIPT.answer_loose_error("overloaded_error", LEAK, stream=False),
    json_answer(error_body("overloaded_error", LEAK)),
], ids=["pretty-printed", "compact"])
async def test_native_error_answered_with_a_200_is_an_anthropic_error(server, fake_upstream, responder):
    fake_upstream.on(UPSTREAM, responder)
    seen = await twice(server, UPSTREAM, {"model": "chat", "max_tokens": 8, "messages": MESSAGES})
    for status, content_type, raw in seen:
        assert (status, content_type) == (503, "application/json")
        body = orjson.loads(raw)
        assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"
        assert "Overloaded" in body["error"]["message"]
        assert_no_key(raw)
    assert len(fake_upstream.calls(UPSTREAM)) == 2  # the first answer was not stored
    assert await failures(server) == 2  # overloaded: the target's fault, both counted


async def test_native_stream_error_without_its_event_line_is_an_in_band_error(server, fake_upstream):
    fake_upstream.on(UPSTREAM, SCRIPT.answer_loose_error("overloaded_error", LEAK, stream=True, pieces=("Hel",)))
    seen = await twice(server, UPSTREAM, {"model": "chat", "max_tokens": 8, "messages": MESSAGES, "stream": True})
    for status, content_type, raw in seen:
        assert (status, content_type) == (200, "text/event-stream")
        *_, last = raw.split(b"\n\n")[:-1]
        name, data = last.split(b"\n", 1)
        assert name == b"event: error"
        assert orjson.loads(data.removeprefix(b"data: "))["error"]["type"] == "overloaded_error"
        assert b'data: { "type": "error"' not in raw  # the vendor's own event was not relayed
        assert_no_key(raw)
    assert len(fake_upstream.calls(UPSTREAM)) == 2
    assert await failures(server) == 2


async def test_translated_chat_error_in_a_200_is_an_openai_error(server, fake_upstream):
    fake_upstream.on(UPSTREAM, SCRIPT.answer_loose_error("overloaded_error", LEAK, stream=False))
    seen = await twice(server, "/v1/chat/completions", {"model": "chat", "messages": MESSAGES})
    for status, _, raw in seen:
        assert status == 503
        assert orjson.loads(raw)["error"]["code"] == "overloaded_error"
        assert_no_key(raw)
    assert len(fake_upstream.calls(UPSTREAM)) == 2
    assert await failures(server) == 2


@pytest.mark.parametrize("raw, expected", [
    (b'{"type":"error","error":{"type":"api_error","message":"x"}}', True),
    (b'{\n  "type": "error",\n  "error": {"type": "api_error"}\n}', True),
    (b'{ "error": { "message": "x" } }', True),  # OpenAI's envelope, from a compatible server
    (b'{"type":"message","content":[{"type":"text","text":"\\"error\\""}],"error":null}', False),
    (b'{"type":"content_block_delta","delta":{"type":"text_delta","text":"error"}}', False),
    (b'{"input_tokens": 12}', False),
    (b'not json but "error"', False),
    (b'["error"]', False),
])
def test_is_vendor_error(raw, expected):
    assert is_vendor_error(raw) is expected
