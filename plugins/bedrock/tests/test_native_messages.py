"""Claude's Messages API through Bedrock: ``/v1/messages`` passes through to InvokeModel and
InvokeModelWithResponseStream for Claude models (the official anthropic SDK as the client, the
fake Bedrock verifying every signature), and is bridged onto Converse for the others."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import orjson
import pytest

from sluicegate.testing.vendor import Usage
from sluicegate_bedrock.fake import (
    ACCESS_KEY_ID,
    CLAUDE,
    MODEL,
    SECRET_ACCESS_KEY,
    BedrockScript,
    chunk,
    error,
    exception,
    json_answer,
    stream_answer,
)

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "client-token"
CLAUDE_SCRIPT = BedrockScript(model=CLAUDE)
NOVA_SCRIPT = BedrockScript(model=MODEL)
SYSTEM = [{"type": "text", "text": "You are a geography tutor. " * 20, "cache_control": {"type": "ephemeral"}}]


def load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def config(url: str, extra: str = "") -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.aws]
type = "bedrock"
region = "us-east-1"
base_url = "{url}"
access_key_id = "{ACCESS_KEY_ID}"
secret_access_key = "${{AWS_SECRET}}"
{extra}

[retry]
attempts = 1

[breaker]
enabled = false

[models.claude]
targets = ["aws/{CLAUDE}"]

[models.nova]
targets = ["aws/{MODEL}"]
"""


@pytest.fixture
def start(gateway, fake_upstream):
    async def start(extra: str = ""):
        server = await gateway(config(fake_upstream.url, extra), env={"AWS_SECRET": SECRET_ACCESS_KEY})
        return anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=0)

    return start


def guarded(responder):
    return CLAUDE_SCRIPT.guarded(responder)


def sent(fake_upstream, path: str) -> tuple[dict, dict[str, str]]:
    (call,) = fake_upstream.calls(path)
    assert CLAUDE_SCRIPT.credential(call) == SECRET_ACCESS_KEY  # signed with the table's keys
    return call.json(), {name.lower(): value for name, value in call.headers.items()}


async def test_a_message_passes_through_to_invoke_model(start, fake_upstream):
    path = CLAUDE_SCRIPT.invoke_path(False)
    fake_upstream.on(path, guarded(json_answer(load("invoke_message_response.json"))))
    claude = await start()
    message = await claude.messages.create(
        model="claude", max_tokens=300, system=SYSTEM, metadata={"user_id": "user-7"},
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "Hello", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        ]}],
    )
    assert message.id == "msg_bdrk_01Hx3b5cGkWSpWmTLKBmQ6Xx"
    assert message.content[0].text == "Hello! How can I help you today?"
    body, headers = sent(fake_upstream, path)
    # Anthropic's body as the client wrote it, less model and stream, plus Bedrock's version;
    # cache_control and metadata untouched.
    assert body == {
        "max_tokens": 300,
        "system": SYSTEM,
        "metadata": {"user_id": "user-7"},
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Hello", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        ]}],
        "anthropic_version": "bedrock-2023-05-31",
    }
    # Nothing of the client's Anthropic headers or token travels to AWS.
    assert not [name for name in headers if name.startswith(("anthropic-", "x-stainless"))]
    assert TOKEN not in " ".join(headers.values())


async def test_a_stream_is_relayed_as_anthropic_events_with_thinking(start, fake_upstream):
    path = CLAUDE_SCRIPT.invoke_path(True)
    fake_upstream.on(path, guarded(stream_answer([chunk(item) for item in load("invoke_stream_thinking.json")])))
    claude = await start()
    thinking = {"type": "enabled", "budget_tokens": 2048}
    async with claude.messages.stream(
        model="claude", max_tokens=4096, thinking=thinking, messages=[{"role": "user", "content": "Capital of Australia?"}],
    ) as stream:
        texts = [text async for text in stream.text_stream]
        message = await stream.get_final_message()
    assert "".join(texts) == "The capital of Australia is Canberra."
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Canberra was chosen as a compromise between Sydney and Melbourne."
    assert message.content[0].signature.startswith("EqoBCkgIARABGAIi")
    assert message.usage.cache_creation_input_tokens == 1500
    assert message.usage.output_tokens == 31
    body, _ = sent(fake_upstream, path)
    assert body["thinking"] == thinking and "stream" not in body and "model" not in body


async def test_tools_and_server_tools_pass_untouched(start, fake_upstream):
    path = CLAUDE_SCRIPT.invoke_path(False)
    fake_upstream.on(path, guarded(json_answer(load("invoke_tool_use_response.json"))))
    claude = await start()
    tools = [
        {"name": "get_weather", "description": "Weather for a city.",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
         "cache_control": {"type": "ephemeral"}},
        {"type": "bash_20250124", "name": "bash"},
    ]
    message = await claude.messages.create(
        model="claude", max_tokens=200, tools=tools, tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert message.stop_reason == "tool_use"
    (use,) = [block for block in message.content if block.type == "tool_use"]
    assert (use.name, use.input) == ("get_weather", {"city": "Paris"})
    body, _ = sent(fake_upstream, path)
    assert body["tools"] == tools
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


async def test_anthropic_beta_is_filtered_to_what_bedrock_accepts(start, fake_upstream):
    path = CLAUDE_SCRIPT.invoke_path(False)
    fake_upstream.on(path, guarded(json_answer(load("invoke_message_response.json"))))
    claude = await start()
    await claude.beta.messages.create(
        model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}],
        # What Claude Code sends, believing it talks to Anthropic.
        betas=["claude-code-20250219", "interleaved-thinking-2025-05-14", "prompt-caching-scope-2026-01-05",
               "advanced-tool-use-2025-11-20", "context-1m-2025-08-07"],
    )
    body, headers = sent(fake_upstream, path)
    assert body["anthropic_beta"] == [
        "interleaved-thinking-2025-05-14", "tool-search-tool-2025-10-19", "context-1m-2025-08-07",
    ]
    assert "anthropic-beta" not in headers


async def test_no_accepted_beta_sends_no_list_and_the_list_is_an_option(start, fake_upstream):
    path = CLAUDE_SCRIPT.invoke_path(False)
    fake_upstream.on(path, guarded(json_answer(load("invoke_message_response.json"))))
    claude = await start('betas_allowed = ["my-new-beta-2026-05-01"]')
    await claude.messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}],
                                 extra_headers={"anthropic-beta": "claude-code-20250219"})
    await claude.messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}],
                                 extra_headers={"anthropic-beta": "my-new-beta-2026-05-01, interleaved-thinking-2025-05-14"})
    first, second = [call.json() for call in fake_upstream.calls(path)]
    assert "anthropic_beta" not in first
    assert second["anthropic_beta"] == ["my-new-beta-2026-05-01"]


async def test_an_exception_inside_the_stream_ends_it_with_an_error(start, fake_upstream):
    path = CLAUDE_SCRIPT.invoke_path(True)
    events = load("invoke_stream_thinking.json")
    frames = [chunk(events[0]), chunk({**events[6], "index": 0}), chunk({**events[7], "index": 0}),
              exception("throttlingException", "Too many tokens, please wait before trying again.")]
    fake_upstream.on(path, guarded(stream_answer(frames)))
    claude = await start()
    texts: list[str] = []
    with pytest.raises(anthropic.APIError) as failed:
        async with claude.messages.stream(
            model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            async for text in stream.text_stream:
                texts.append(text)
    assert "".join(texts) == "The capital of Australia"
    assert "Too many tokens" in str(failed.value)


async def test_a_stream_without_message_stop_is_reported_cut_off(start, fake_upstream):
    path = CLAUDE_SCRIPT.invoke_path(True)
    events = load("invoke_stream_thinking.json")
    fake_upstream.on(path, guarded(stream_answer([chunk(item) for item in events[:-2]])))
    claude = await start()
    with pytest.raises(anthropic.APIError):
        async with claude.messages.stream(
            model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            await stream.get_final_message()


async def test_a_bedrock_error_reaches_the_anthropic_client_in_its_shape(start, fake_upstream):
    path = CLAUDE_SCRIPT.invoke_path(False)
    fake_upstream.on(path, guarded(error(400, "ValidationException", "messages.0.content: Field required")))
    claude = await start()
    with pytest.raises(anthropic.BadRequestError) as refused:
        await claude.messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    body = refused.value.response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "messages.0.content: Field required" in body["error"]["message"]


async def test_a_guardrail_reaches_invoke_as_headers_and_converse_as_config(start, fake_upstream):
    invoke = CLAUDE_SCRIPT.invoke_path(False)
    converse = NOVA_SCRIPT.chat_path(False)
    fake_upstream.on(invoke, guarded(json_answer(load("invoke_message_response.json"))))
    fake_upstream.on(converse, NOVA_SCRIPT.answer_text("fine", Usage()))
    claude = await start('guardrail_identifier = "gr-abc123"\nguardrail_version = "DRAFT"')
    await claude.messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    await claude.messages.create(model="nova", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    _, headers = sent(fake_upstream, invoke)
    assert (headers["x-amzn-bedrock-guardrailidentifier"], headers["x-amzn-bedrock-guardrailversion"]) == (
        "gr-abc123", "DRAFT",
    )
    (call,) = fake_upstream.calls(converse)
    assert call.json()["guardrailConfig"] == {"guardrailIdentifier": "gr-abc123", "guardrailVersion": "DRAFT"}


# -- other models: bridged onto Converse --------------------------------------------------------


async def test_another_model_is_bridged_onto_converse_with_its_cache_points(start, fake_upstream):
    path = NOVA_SCRIPT.chat_path(False)
    fake_upstream.on(path, NOVA_SCRIPT.answer_text("Canberra.", Usage(1200, 3, cached_tokens=1100)))
    claude = await start()
    message = await claude.messages.create(
        model="nova", max_tokens=50, system=SYSTEM,
        tools=[{"name": "atlas", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "A long atlas excerpt.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Capital of Australia?"},
        ]}],
    )
    assert message.content[0].text == "Canberra."
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (100, 1100)
    (call,) = fake_upstream.calls(path)
    assert NOVA_SCRIPT.credential(call) == SECRET_ACCESS_KEY
    body = call.json()
    assert body["system"] == [{"text": SYSTEM[0]["text"]}, {"cachePoint": {"type": "default"}}]
    assert body["messages"][0]["content"] == [
        {"text": "A long atlas excerpt."}, {"cachePoint": {"type": "default"}}, {"text": "Capital of Australia?"},
    ]
    assert body["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default"}}
    assert not [path for path in (call.path for call in fake_upstream.requests) if path.endswith("/invoke")]


async def test_a_bridged_stream_with_cache_writes_reports_them_to_the_anthropic_client(start, fake_upstream):
    from sluicegate_bedrock.fake import event, text_block

    path = NOVA_SCRIPT.chat_path(True)
    usage = {"inputTokens": 20, "outputTokens": 3, "totalTokens": 1523, "cacheReadInputTokens": 0,
             "cacheWriteInputTokens": 1500}
    frames = [event("messageStart", {"role": "assistant"}), *text_block(["Can", "berra."]),
              event("messageStop", {"stopReason": "end_turn"}), event("metadata", {"usage": usage, "metrics": {"latencyMs": 9}})]
    fake_upstream.on(path, NOVA_SCRIPT.guarded(stream_answer(frames)))
    claude = await start()
    async with claude.messages.stream(
        model="nova", max_tokens=50, system=SYSTEM, messages=[{"role": "user", "content": "Capital?"}]
    ) as stream:
        message = await stream.get_final_message()
    assert message.content[0].text == "Canberra."
    assert (message.usage.input_tokens, message.usage.cache_creation_input_tokens) == (20, 1500)


def test_the_invoke_body_is_encoded_once_without_model_and_stream():
    from sluicegate_bedrock.anthropic_native import invoke_body

    body = {"model": "claude", "stream": True, "max_tokens": 5, "messages": [], "anthropic_beta": ["context-1m-2025-08-07", "x"]}
    out = orjson.loads(invoke_body(body, ["effort-2025-11-24"], frozenset({"effort-2025-11-24", "context-1m-2025-08-07"})))
    assert out == {"max_tokens": 5, "messages": [], "anthropic_version": "bedrock-2023-05-31",
                   "anthropic_beta": ["effort-2025-11-24", "context-1m-2025-08-07"]}
