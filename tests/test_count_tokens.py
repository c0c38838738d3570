"""``POST /v1/messages/count_tokens`` with the official anthropic SDK: counted by Anthropic for the
``anthropic`` provider (passed through), estimated for every other provider."""

from __future__ import annotations

import anthropic
import pytest

from sluicegate.testing import FakeUpstream
from sluicegate.translate.count_tokens import IMAGE_TOKENS, estimate_input_tokens

TOKEN = "client-token-count-0001"
KEY = "sk-ant-count-000000000"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="


def config(url: str) -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]
[providers.claude]
type = "anthropic"
base_url = "{url}/v1"
api_key = "{KEY}"
beta = ["token-counting-2024-11-01"]
[providers.mock]
type = "mock"
[models.sonnet]
targets = ["claude/claude-sonnet-4-5"]
[models.local]
targets = ["mock/echo-1"]
[ratelimit]
requests_per_minute = 1
"""


@pytest.fixture
async def claude(gateway, fake_upstream):
    server = await gateway(config(fake_upstream.url))
    client = anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=0)
    yield client
    await client.close()


async def test_anthropic_counts_for_its_own_models(claude, fake_upstream):
    fake_upstream.on("/v1/messages/count_tokens", FakeUpstream.json_responder({"input_tokens": 2095}))
    count = await claude.messages.count_tokens(
        model="sonnet", system="Be brief.", messages=[{"role": "user", "content": "Hello, Claude"}],
        extra_headers={"anthropic-beta": "some-client-beta"},
    )
    assert count.input_tokens == 2095
    [sent] = fake_upstream.calls("/v1/messages/count_tokens")
    assert sent.json() == {"model": "claude-sonnet-4-5", "system": "Be brief.",
                           "messages": [{"role": "user", "content": "Hello, Claude"}]}
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-beta"] == "token-counting-2024-11-01,some-client-beta"
    assert TOKEN not in str(dict(sent.headers))
    # [ratelimit] allows one request a minute: counting is not charged against it.
    for _ in range(3):
        await claude.messages.count_tokens(model="sonnet", messages=[{"role": "user", "content": "x"}])


async def test_other_providers_get_an_estimate_marked_as_such(claude, fake_upstream):
    text = "word " * 400  # 2,000 characters: about 500 tokens
    raw = await claude.messages.with_raw_response.count_tokens(
        model="local",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": text},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ]}],
    )
    assert raw.headers["x-sluicegate-estimate"] == "true"
    count = await raw.parse()
    assert count.input_tokens == 500 + 4 + IMAGE_TOKENS
    assert fake_upstream.requests == []


async def test_bad_requests_get_anthropic_shaped_errors_and_no_upstream_call(claude, fake_upstream):
    # The estimate checks the conversation itself; Anthropic's own counting judges it there.
    for messages, fragment in (([], "messages: at least one message"),
                               ([{"role": "tool", "content": "x"}], "messages.0.role")):
        with pytest.raises(anthropic.BadRequestError) as caught:
            await claude.messages.count_tokens(model="local", messages=messages)
        assert caught.value.body["type"] == "error"
        assert caught.value.body["error"]["type"] == "invalid_request_error"
        assert fragment in caught.value.body["error"]["message"]
    with pytest.raises(anthropic.NotFoundError) as caught:
        await claude.messages.count_tokens(model="nope", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert fake_upstream.requests == []


async def test_a_vendor_error_keeps_its_status_and_shape(claude, fake_upstream):
    fake_upstream.on("/v1/messages/count_tokens", FakeUpstream.json_responder(
        {"type": "error", "error": {"type": "invalid_request_error", "message": "messages: too many"}}, 400))
    with pytest.raises(anthropic.BadRequestError) as caught:
        await claude.messages.count_tokens(model="sonnet", messages=[{"role": "user", "content": "x"}])
    assert "too many" in caught.value.body["error"]["message"]


def test_the_estimate_counts_text_tools_and_tool_traffic():
    body = {
        "system": [{"type": "text", "text": "s" * 40}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "u" * 40},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather",
                                               "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r" * 40}]},
        ],
    }
    tools = len(b'[{"name":"get_weather","input_schema":{"type":"object"}}]')
    chars = 40 + 40 + len("get_weather") + len(b'{"city":"Paris"}') + 40 + tools
    assert estimate_input_tokens(body) == -(-chars // 4) + 3 * 4
    assert estimate_input_tokens({"messages": []}) == 1
