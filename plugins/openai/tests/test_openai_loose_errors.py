"""Issue 11 (3): a vendor error in a 200 that is not compact JSON is still an error.

Pretty-printed error bodies and ``data: { "error": ... }`` events with spaces once slipped past
the ``{"error"`` prefix check: relayed raw with the key in them, cached, and counted as a
success by the breaker. Each test runs the real gateway (cache and breaker on) in front of the
fake OpenAI and checks all four: error shape, no key, not cached, counted.
"""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from sluicegate.testing.vendor import json_answer
from sluicegate_openai.fake import OpenAIScript
from sluicegate_openai.inband import is_vendor_error

KEY = "sk-upstream-secret-0123456789"
TOKEN = "client-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHAT = "/v1/chat/completions"
TARGET = "up/gpt-4o-mini"
LEAK = f"Incorrect API key provided: {KEY}"
SCRIPT = OpenAIScript()


def config(url: str) -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.up]
type = "openai"
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
async def run(gateway, fake_upstream):
    """``await run(body)`` twice over one gateway: [(status, content type, cache header, raw)]."""
    server = await gateway(config(fake_upstream.url), env={"UP_KEY": KEY})

    async def run(body: dict) -> list[tuple[int, str, str | None, bytes]]:
        seen = []
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                async with http.post(server.base_url + CHAT, data=orjson.dumps(body), headers=AUTH) as resp:
                    seen.append((resp.status, resp.content_type, resp.headers.get("x-sluicegate-cache"),
                                 await resp.read()))
        return seen

    async def failures() -> int:
        async with aiohttp.ClientSession() as http, http.get(server.base_url + "/health") as resp:
            return (await resp.json())["targets"][TARGET]["consecutive_failures"]

    run.failures = failures
    return run


def assert_error_shape(raw: bytes) -> dict:
    body = orjson.loads(raw)
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def assert_no_key(raw: bytes) -> None:
    text = raw.decode()
    assert KEY not in text and "0123456789" not in text


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream-request-answered-with-json"])
async def test_pretty_printed_error_in_a_200_is_an_upstream_error(run, fake_upstream, stream):
    fake_upstream.on(CHAT, SCRIPT.answer_loose_error(LEAK, "server_error", "engine_down", stream=False))
    seen = await run({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": stream})
    for status, content_type, _, raw in seen:
        assert status == 502 and content_type == "application/json"
        error = assert_error_shape(raw)
        assert error["code"] == "engine_down" and "Incorrect API key provided" in error["message"]
        assert_no_key(raw)
    assert len(fake_upstream.calls(CHAT)) == 2  # the first answer was not stored
    assert await run.failures() == 2  # server_error: the target's fault, both counted


async def test_spaced_error_event_first_in_a_stream_is_an_error_response(run, fake_upstream):
    fake_upstream.on(CHAT, SCRIPT.answer_loose_error(LEAK, "server_error", "engine_down", stream=True))
    seen = await run({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    for status, content_type, _, raw in seen:
        assert status == 502 and content_type == "application/json"
        assert assert_error_shape(raw)["code"] == "engine_down"
        assert_no_key(raw)
    assert len(fake_upstream.calls(CHAT)) == 2
    assert await run.failures() == 2


async def test_spaced_error_event_mid_stream_ends_it_with_an_in_band_error(run, fake_upstream):
    fake_upstream.on(CHAT, SCRIPT.answer_loose_error(LEAK, "server_error", "engine_down", stream=True,
                                                     pieces=("Hel", "lo")))
    seen = await run({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    for status, content_type, cache, raw in seen:
        assert status == 200 and content_type == "text/event-stream"
        data = [block[6:] for block in raw.split(b"\n\n") if block.startswith(b"data: ")]
        assert [orjson.loads(d)["choices"][0]["delta"].get("content") for d in data[1:3]] == ["Hel", "lo"]
        assert b"[DONE]" not in data  # no clean end after the vendor's error
        assert assert_error_shape(data[-1])["code"] == "engine_down"
        assert_no_key(raw)
        assert cache == "miss"
    assert len(fake_upstream.calls(CHAT)) == 2
    assert await run.failures() == 2


async def test_an_answer_that_merely_mentions_error_is_still_relayed_and_cached(run, fake_upstream):
    """Parsing decides only where the prefix is inconclusive, and a result is never an error."""
    answer = orjson.dumps(
        {"id": "c1", "object": "chat.completion", "error": None,
         "choices": [{"index": 0, "message": {"role": "assistant", "content": '"error"'}, "finish_reason": "stop"}]},
        option=orjson.OPT_INDENT_2,
    )
    fake_upstream.on(CHAT, json_answer(answer))
    seen = await run({"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
    assert [(status, cache, raw) for status, _, cache, raw in seen] == [(200, "miss", answer), (200, "hit", answer)]
    assert len(fake_upstream.calls(CHAT)) == 1
    assert await run.failures() == 0


@pytest.mark.parametrize("raw, expected", [
    (b'{"error":{"message":"x"}}', True),  # the compact prefix decides without parsing
    (b'{\n  "error": {\n    "message": "x"\n  }\n}', True),
    (b'{ "error": { "message": "x" } }', True),
    (b'  {"id": "x", "error": "quota"}', True),
    (b'{"object": "chat.completion.chunk", "choices": [], "error": null}', False),
    (b'{"object": "list", "data": [{"embedding": [0.1]}], "error": null}', False),
    (b'{"choices": [{"delta": {"content": "\\"error\\""}}]}', False),
    (b'{"choices": [{"finish_reason": "stop"}], "note": "error"}', False),
    (b'[DONE]', False),
    (b'not json, "error"', False),
])
def test_is_vendor_error(raw, expected):
    assert is_vendor_error(raw) is expected
