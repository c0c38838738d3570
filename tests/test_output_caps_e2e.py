"""Per-target output caps through the real server: a client asking for more output than a vendor
accepts (Claude Code sends ``max_tokens: 64000``) reaches each vendor with that vendor's own
``max_output_tokens``; on fallback the next target gets its cap, not the first one's.

Driven by the official anthropic and openai SDKs; the fake vendors record what they received.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from sluicegate.testing import FakeUpstream, openai_chat_completion, openai_chunks

TOKEN = "client-token-output-caps-1"
MSG = [{"role": "user", "content": "hi"}]
DS = "/ds/v1/chat/completions"
SMALL = "/small/v1/chat/completions"
NATIVE = "/claude/v1/messages"

CONFIG = """
[auth]
tokens = ["{token}"]

[providers.ds]                 # DeepSeek-like: 8K of output at most
type = "openai"
base_url = "{url}/ds/v1"
api_key = "sk-ds-output-caps-000000"
max_output_tokens = 8192

[providers.small]
type = "openai"
base_url = "{url}/small/v1"
api_key = "sk-small-output-caps-000"
max_output_tokens = 4096

[providers.native]
type = "anthropic"
base_url = "{url}/claude"
api_key = "sk-ant-output-caps-00000"
max_output_tokens = 32000

[providers.open]               # no cap: the client's value goes through
type = "openai"
base_url = "{url}/small/v1"
api_key = "sk-open-output-caps-0000"

[models."claude-opus-*"]
targets = ["native/*"]

[models."claude-*"]
targets = ["ds/deepseek-chat", "small/qwen-small"]

[models.uncapped]
targets = ["open/big-model"]

[retry]
attempts = 1
"""


def failing() -> object:
    body = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    return FakeUpstream.json_responder(body, 500)


def anthropic_events(model: str) -> list[tuple[str, dict]]:
    """An Anthropic Messages stream answering "capped"."""
    message = {"id": "msg_caps", "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}}
    return [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "capped"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 1}}),
        ("message_stop", {"type": "message_stop"}),
    ]


@pytest.fixture
async def server(gateway, fake_upstream):
    return await gateway(CONFIG.format(token=TOKEN, url=fake_upstream.url))


@pytest.fixture
async def claude(server):
    async with anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=0) as client:
        yield client


@pytest.fixture
async def oai(server):
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0) as client:
        yield client


async def test_claude_codes_64000_reaches_a_deepseek_target_as_its_8192(claude, fake_upstream):
    fake_upstream.sse(DS, openai_chunks(["ca", "pped"]))
    # As Claude Code asks: a Claude model name, 64000 tokens, streamed.
    async with claude.messages.stream(model="claude-sonnet-4-6", max_tokens=64000, messages=MSG) as stream:
        text = await stream.get_final_text()
    assert text == "capped"
    [sent] = fake_upstream.calls(DS)
    body = sent.json()
    assert (body["model"], body["max_tokens"]) == ("deepseek-chat", 8192)


async def test_on_fallback_each_target_gets_its_own_cap(oai, fake_upstream):
    fake_upstream.on(DS, failing())
    fake_upstream.json(SMALL, openai_chat_completion("from small"))
    reply = await oai.chat.completions.create(model="claude-haiku-4-5", messages=MSG, max_completion_tokens=64000)
    assert reply.choices[0].message.content == "from small"
    [first] = fake_upstream.calls(DS)
    [second] = fake_upstream.calls(SMALL)
    assert first.json()["max_completion_tokens"] == 8192
    assert second.json()["max_completion_tokens"] == 4096
    assert (first.json()["model"], second.json()["model"]) == ("deepseek-chat", "qwen-small")


async def test_native_anthropic_pass_through_is_capped_and_keeps_every_other_field(claude, fake_upstream):
    fake_upstream.sse(NATIVE, anthropic_events("claude-opus-4-8"), done=False)
    async with claude.messages.stream(
        model="claude-opus-4-8", max_tokens=64000, messages=MSG,
        extra_body={"output_config": {"effort": "high"}, "thinking": {"type": "adaptive"}},
    ) as stream:
        assert await stream.get_final_text() == "capped"
    [sent] = fake_upstream.calls(NATIVE)
    assert sent.json() == {
        "model": "claude-opus-4-8", "max_tokens": 32000, "messages": MSG, "stream": True,
        "output_config": {"effort": "high"}, "thinking": {"type": "adaptive"},
    }


async def test_a_limit_within_the_cap_and_a_target_without_one_are_left_alone(oai, fake_upstream):
    fake_upstream.json(DS, openai_chat_completion("ok"))
    fake_upstream.json(SMALL, openai_chat_completion("ok"))
    await oai.chat.completions.create(model="claude-x", messages=MSG, max_tokens=1000)
    await oai.chat.completions.create(model="uncapped", messages=MSG, max_tokens=64000)
    assert fake_upstream.calls(DS)[0].json()["max_tokens"] == 1000
    assert fake_upstream.calls(SMALL)[0].json()["max_tokens"] == 64000


async def test_responses_max_output_tokens_is_capped_on_the_bridge(oai, fake_upstream):
    fake_upstream.json(DS, openai_chat_completion("ok"))
    response = await oai.responses.create(model="claude-x", input="hi", max_output_tokens=64000)
    assert response.output_text == "ok"
    [sent] = fake_upstream.calls(DS)
    assert sent.json()["max_tokens"] == 8192
