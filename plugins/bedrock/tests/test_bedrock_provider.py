"""``type = "bedrock"`` end to end beyond the contract: the real gateway, the openai SDK as client,
the fake Bedrock verifying signatures. Cache points and cache usage, Claude's thinking through
Converse, errors inside the event stream, a broken stream."""

from __future__ import annotations

import json

import aiohttp
import openai
import pytest

from sluicegate.testing.gateway import running_gateway
from sluicegate.testing.vendor import Usage
from sluicegate_bedrock.fake import (
    ACCESS_KEY_ID,
    CLAUDE,
    MODEL,
    SECRET_ACCESS_KEY,
    BedrockScript,
    converse_answer,
    event,
    exception,
    json_answer,
    stream_answer,
    text_block,
)

NOVA = BedrockScript(model=MODEL)
CLAUDE_SCRIPT = BedrockScript(model=CLAUDE)


def config(url: str, extra: str = "") -> str:
    return f"""
[providers.aws]
type = "bedrock"
region = "us-east-1"
base_url = "{url}"
access_key_id = "{ACCESS_KEY_ID}"
secret_access_key = "{SECRET_ACCESS_KEY}"

[retry]
attempts = 1

[breaker]
enabled = false

[models.nova]
targets = ["aws/{MODEL}"]

[models.claude]
targets = ["aws/{CLAUDE}"]
{extra}
"""


def sdk(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="any", max_retries=0)


async def test_cache_control_on_chat_parts_reaches_converse_as_cache_points(gateway, fake_upstream):
    path = NOVA.chat_path(False)
    fake_upstream.on(path, NOVA.answer_text("ok", Usage()))
    server = await gateway(config(fake_upstream.url))
    await sdk(server).chat.completions.create(
        model="nova",
        messages=[
            {"role": "system", "content": [{"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [{"type": "text", "text": "Book.", "cache_control": {"type": "ephemeral"}},
                                         {"type": "text", "text": "Question?"}]},
        ],
    )
    (call,) = fake_upstream.calls(path)
    body = call.json()
    assert body["system"] == [{"text": "Rules."}, {"cachePoint": {"type": "default"}}]
    assert body["messages"] == [{"role": "user", "content": [
        {"text": "Book."}, {"cachePoint": {"type": "default"}}, {"text": "Question?"},
    ]}]


async def test_cache_reads_and_writes_reach_the_request_record_and_its_price(fake_upstream, tmp_path):
    path = NOVA.chat_path(False)
    answer = converse_answer([{"text": "ok"}], "end_turn", Usage(2000, 10, cached_tokens=400), written=1500)
    fake_upstream.on(path, NOVA.guarded(json_answer(answer)))
    log = tmp_path / "access.log"
    extra = f"""
[access_log]
destination = "{log}"

[pricing.prices."aws/{MODEL}"]
input = 1.0
output = 2.0
cached_input = 0.1
cache_write = 1.25
"""
    async with running_gateway(config(fake_upstream.url, extra)) as server:
        reply = await sdk(server).chat.completions.create(model="nova", messages=[{"role": "user", "content": "hi"}])
    assert (reply.usage.prompt_tokens, reply.usage.prompt_tokens_details.cached_tokens) == (2000, 400)
    (line,) = [json.loads(text) for text in log.read_text().splitlines()]
    assert (line["tokens_in"], line["tokens_out"]) == (2000, 10)
    assert (line["tokens_cached"], line["tokens_cache_written"]) == (400, 1500)
    # 100 fresh at 1.0, 400 read at 0.1, 1500 written at 1.25, 10 out at 2.0 (per million).
    assert line["cost"] == pytest.approx((100 * 1.0 + 400 * 0.1 + 1500 * 1.25 + 10 * 2.0) / 1e6)


async def test_reasoning_effort_asks_claude_to_think_and_the_thoughts_come_back(gateway, fake_upstream):
    path = CLAUDE_SCRIPT.chat_path(True)
    frames = [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Think."}}}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        *text_block(["Done."], 1),
        event("messageStop", {"stopReason": "end_turn"}),
        event("metadata", {"usage": {"inputTokens": 5, "outputTokens": 9, "totalTokens": 14}, "metrics": {"latencyMs": 1}}),
    ]
    fake_upstream.on(path, CLAUDE_SCRIPT.guarded(stream_answer(frames)))
    server = await gateway(config(fake_upstream.url))
    stream = await sdk(server).chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "hi"}], stream=True, reasoning_effort="low", max_tokens=4000,
    )
    reasoning, text = [], []
    async for chunk in stream:
        for choice in chunk.choices:
            reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
            text.append(choice.delta.content or "")
    assert ("".join(reasoning), "".join(text)) == ("Think.", "Done.")
    (call,) = fake_upstream.calls(path)
    body = call.json()
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert body["inferenceConfig"] == {"maxTokens": 4000}


async def read_stream(server, model: str) -> bytes:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.base_url + "/v1/chat/completions",
            json={"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        ) as response:
            assert response.status == 200
            return await response.read()


async def test_a_throttling_exception_mid_stream_ends_the_stream_with_its_error(gateway, fake_upstream):
    path = NOVA.chat_path(True)
    frames = [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Partial"}}),
        exception("throttlingException", "Too many tokens, please wait before trying again."),
    ]
    fake_upstream.on(path, NOVA.guarded(stream_answer(frames)))
    server = await gateway(config(fake_upstream.url))
    raw = await read_stream(server, "nova")
    events = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: {")]
    assert events[-1]["error"]["code"] == "throttlingException"
    assert "Too many tokens, please wait" in events[-1]["error"]["message"]
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1] if e.get("choices")) == "Partial"
    assert b"data: [DONE]" not in raw


async def test_a_corrupted_event_stream_is_a_bad_answer_before_anything_was_sent(gateway, fake_upstream):
    path = NOVA.chat_path(True)
    broken = bytearray(event("messageStart", {"role": "assistant"}))
    broken[-6] ^= 0xFF
    fake_upstream.on(path, NOVA.guarded(stream_answer([bytes(broken)])))
    server = await gateway(config(fake_upstream.url))
    with pytest.raises(openai.APIStatusError) as failed:
        await sdk(server).chat.completions.create(
            model="nova", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    assert failed.value.status_code == 502
    assert "not a Bedrock answer" in failed.value.response.json()["error"]["message"]


async def test_health_names_the_region_and_the_probe_finds_the_credentials(gateway, fake_upstream):
    from sluicegate.errors import ProviderNotConfigured

    server = await gateway(config(fake_upstream.url) + """
[providers.nokeys]
type = "bedrock"
region = "eu-west-3"

[providers.withkey]
type = "bedrock"
region = "eu-west-3"
api_key = "bedrock-api-key-0123456789"
""")
    async with aiohttp.ClientSession() as session, session.get(server.base_url + "/health") as response:
        providers = (await response.json())["providers"]
    assert (providers["aws"]["region"], providers["aws"]["auth"]) == ("us-east-1", "sigv4")
    assert (providers["withkey"]["region"], providers["withkey"]["auth"]) == ("eu-west-3", "api_key")
    assert "bedrock-api-key" not in json.dumps(providers)
    current = server.gateway.current.providers
    await current["aws"].probe()  # the table's keys: found
    await current["withkey"].probe()  # nothing to find
    with pytest.raises(ProviderNotConfigured, match="no AWS credentials found"):
        await current["nokeys"].probe()
    assert fake_upstream.requests == []


async def test_the_responses_entrance_is_bridged_onto_converse(gateway, fake_upstream):
    fake_upstream.on(NOVA.chat_path(False), NOVA.answer_text("Bonjour.", Usage(9, 2)))
    fake_upstream.on(NOVA.chat_path(True), NOVA.answer_stream(["Bon", "jour."], Usage(9, 2)))
    server = await gateway(config(fake_upstream.url))
    client = sdk(server)
    answer = await client.responses.create(model="nova", input="Say hello in French.", instructions="Be brief.")
    assert answer.output_text == "Bonjour."
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (9, 2)
    events = [event async for event in await client.responses.create(model="nova", input="Again.", stream=True)]
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "Bonjour."
    sent = NOVA.summarize(fake_upstream.calls(NOVA.chat_path(False))[0])
    assert (sent.system, sent.turns) == ("Be brief.", [("user", "Say hello in French.")])
