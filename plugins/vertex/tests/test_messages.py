"""``/v1/messages`` and prompt caching on Vertex, with the official anthropic and openai SDKs as
clients through the real gateway.

For a Claude model the Messages API passes through natively: the body reaches Vertex as the
client sent it (``cache_control``, ``thinking``, tools untouched) but for the model, which moves
into the URL, and ``anthropic_version``, which joins; answers and events come back as Claude
sent them; ``anthropic-beta`` is filtered to what Vertex accepts. For a Gemini model the core
bridges the Messages API onto chat. Cached tokens are read from both families' usage.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from sluicegate.testing.vendor import ToolCall, Usage
from sluicegate.translate.count_tokens import ESTIMATE_HEADER
from sluicegate_vertex.claude import VERSION
from sluicegate_vertex.fake import (
    CLAUDE_MODEL,
    VertexClaudeScript,
    VertexGeminiScript,
    bearer,
    model_path,
)

TOKEN = "client-token-vertex-messages"
CLAUDE = VertexClaudeScript()
GEMINI = VertexGeminiScript()
RAW = CLAUDE.chat_path(False)
STREAM_RAW = CLAUDE.chat_path(True)
COUNT = model_path("anthropic", "count-tokens", "rawPredict")
WEATHER = ToolCall("toolu_01A09q90qw90lq917835lq9", "get_weather", {"city": "Paris"})
TOOLS = [{"name": "get_weather", "description": "Weather in a city.",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
LONG_RULES = "You are a careful assistant. " * 200


def config(url: str, credentials, extra: str = "") -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.vertex]
type = "vertex"
base_url = "{url}/v1"
region = "us-east5"
project = "test-project"
credentials_file = "{credentials}"
timeout = 10
{extra}

[models.claude]
targets = ["vertex/{CLAUDE_MODEL}"]

[models.gemini]
targets = ["vertex/gemini-2.5-flash"]

[retry]
attempts = 1
"""


@pytest.fixture
async def server(gateway, fake_upstream, credentials_file):
    return await gateway(config(fake_upstream.url, credentials_file, 'beta = ["context-1m-2025-08-07"]'))


def claude_client(server) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=0)


@pytest.fixture
async def claude(server):
    async with claude_client(server) as client:
        yield client


@pytest.fixture
async def chat(server):
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0) as client:
        yield client


async def test_text_passes_through_with_cache_control_and_thinking(claude, fake_upstream):
    fake_upstream.on(RAW, CLAUDE.answer_text("Sunny.", Usage(prompt_tokens=2100, completion_tokens=5,
                                                                 cached_tokens=2048)))
    system = [{"type": "text", "text": LONG_RULES, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "Weather in Paris?", "cache_control": {"type": "ephemeral"}}]}]
    thinking = {"type": "enabled", "budget_tokens": 1024}
    message = await claude.messages.create(
        model="claude", max_tokens=2048, system=system, messages=messages, thinking=thinking, extra_body={"top_k": 5},
        metadata={"user_id": "user-42"},
    )
    assert message.content[0].text == "Sunny."
    # Claude's usage comes back as Claude sent it: the cache read apart from the input.
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (52, 2048)
    (call,) = fake_upstream.calls(RAW)
    body = call.json()
    assert body == {
        "anthropic_version": VERSION, "max_tokens": 2048, "system": system, "messages": messages,
        "thinking": thinking, "top_k": 5, "metadata": {"user_id": "user-42"},
    }
    assert bearer(call) == "ya29.fake-1"
    assert "anthropic-version" not in {name.lower() for name in call.headers}


async def test_stream_is_relayed(claude, fake_upstream):
    fake_upstream.on(STREAM_RAW, CLAUDE.answer_stream(["Sun", "ny, ", "18C."], Usage(11, 7)))
    async with claude.messages.stream(
        model="claude", max_tokens=50, messages=[{"role": "user", "content": "Weather?"}]
    ) as stream:
        texts = [text async for text in stream.text_stream]
        message = await stream.get_final_message()
    assert "".join(texts) == "Sunny, 18C."
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 7
    (call,) = fake_upstream.calls(STREAM_RAW)
    assert call.json()["stream"] is True and "model" not in call.json()


async def test_tools_pass_through(claude, fake_upstream):
    fake_upstream.on(RAW, CLAUDE.answer_tool_call(WEATHER, Usage(), stream=False))
    message = await claude.messages.create(
        model="claude", max_tokens=100, tools=TOOLS, tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    (block,) = [block for block in message.content if block.type == "tool_use"]
    assert (block.id, block.name, block.input) == (WEATHER.id, WEATHER.name, WEATHER.arguments)
    body = fake_upstream.calls(RAW)[0].json()
    assert body["tools"] == TOOLS
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


async def test_tool_use_stream_and_results(claude, fake_upstream):
    fake_upstream.on(STREAM_RAW, CLAUDE.answer_tool_call(WEATHER, Usage(), stream=True))
    async with claude.messages.stream(
        model="claude", max_tokens=100, tools=TOOLS, messages=[{"role": "user", "content": "Weather?"}]
    ) as stream:
        message = await stream.get_final_message()
    assert message.stop_reason == "tool_use"
    assert [block.input for block in message.content if block.type == "tool_use"] == [WEATHER.arguments]
    fake_upstream.on(RAW, CLAUDE.answer_text("18C.", Usage()))
    await claude.messages.create(model="claude", max_tokens=100, tools=TOOLS, messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": WEATHER.id, "name": WEATHER.name,
                                           "input": WEATHER.arguments}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": WEATHER.id, "content": "18C",
                                      "cache_control": {"type": "ephemeral"}}]},
    ])
    summary = CLAUDE.summarize(fake_upstream.calls(RAW)[0])
    assert summary.tool_calls == [WEATHER] and summary.tool_results == [(WEATHER.id, "18C")]
    assert fake_upstream.calls(RAW)[0].json()["messages"][2]["content"][0]["cache_control"] == {"type": "ephemeral"}


async def test_betas_reach_vertex_filtered_and_client_headers_stay(claude, fake_upstream):
    fake_upstream.on(RAW, CLAUDE.answer_text("ok", Usage()))
    # The SDK's beta call adds ?beta=true, which means nothing to Vertex.
    await claude.beta.messages.create(
        model="claude", max_tokens=10, messages=[{"role": "user", "content": "hi"}],
        betas=["claude-code-20250219", "oauth-2025-04-20", "interleaved-thinking-2025-05-14"],
        extra_headers={"x-goog-user-project": "someone-elses-project", "x-app": "cli"},
    )
    (call,) = fake_upstream.calls(RAW)
    headers = {name.lower(): value for name, value in call.headers.items()}
    assert headers["anthropic-beta"] == "context-1m-2025-08-07,interleaved-thinking-2025-05-14"
    assert "x-goog-user-project" not in headers
    assert headers["x-app"] == "cli"  # the client speaks Anthropic's API: its own headers are Claude's
    assert headers["authorization"] == "Bearer ya29.fake-1"
    assert call.query == {}


async def test_count_tokens_native_for_claude_estimated_for_gemini(claude, fake_upstream):
    fake_upstream.on(COUNT, CLAUDE.answer_count(17))
    counted = await claude.messages.count_tokens(
        model="claude", messages=[{"role": "user", "content": "hi"}],
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    assert counted.input_tokens == 17
    (call,) = fake_upstream.calls(COUNT)
    assert call.json()["model"] == CLAUDE_MODEL
    assert "anthropic-beta" not in {name.lower() for name in call.headers}  # count-tokens refuses every beta
    estimated = await claude.messages.with_raw_response.count_tokens(
        model="gemini", messages=[{"role": "user", "content": "hello there"}])
    assert (await estimated.parse()).input_tokens > 0
    assert estimated.headers.get(ESTIMATE_HEADER) == "true"
    assert len(fake_upstream.requests) == 2  # the token and the one count above: Gemini's is an estimate


async def test_messages_to_a_gemini_model_are_bridged_with_thinking(claude, fake_upstream):
    path = GEMINI.chat_path(False)
    fake_upstream.on(path, GEMINI.answer_text("Bonjour.", Usage(30, 4, cached_tokens=16)))
    message = await claude.messages.create(
        model="gemini", max_tokens=2000, system=[{"type": "text", "text": "Be brief.", "cache_control":
                                                  {"type": "ephemeral"}}],
        thinking={"type": "enabled", "budget_tokens": 8000}, messages=[{"role": "user", "content": "Salut"}],
    )
    assert message.content[0].text == "Bonjour."
    assert message.usage.cache_read_input_tokens == 16
    body = fake_upstream.calls(path)[0].json()
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 8192, "includeThoughts": True}


async def test_openai_chat_to_claude_keeps_cache_control_and_reads_cached_tokens(chat, fake_upstream):
    fake_upstream.on(RAW, CLAUDE.answer_text("Sunny.", Usage(prompt_tokens=2100, completion_tokens=5,
                                                                 cached_tokens=2048)))
    answer = await chat.chat.completions.create(model="claude", messages=[
        {"role": "system", "content": [{"type": "text", "text": LONG_RULES, "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "Weather?"},
    ])
    assert answer.usage.prompt_tokens_details.cached_tokens == 2048
    assert answer.usage.prompt_tokens == 2100
    body = fake_upstream.calls(RAW)[0].json()
    assert body["system"] == [{"type": "text", "text": LONG_RULES, "cache_control": {"type": "ephemeral"}}]
    assert body["anthropic_version"] == VERSION and "model" not in body
    assert {name.lower(): v for name, v in fake_upstream.calls(RAW)[0].headers.items()}["anthropic-beta"] == (
        "context-1m-2025-08-07")


async def test_openai_chat_to_gemini_reads_cached_tokens(chat, fake_upstream):
    fake_upstream.on(GEMINI.chat_path(False), GEMINI.answer_text("Hi.", Usage(40, 3, cached_tokens=32)))
    answer = await chat.chat.completions.create(
        model="gemini", messages=[{"role": "user", "content": "Hi"}])
    assert answer.usage.prompt_tokens_details.cached_tokens == 32


async def test_the_output_cap_is_applied_before_the_body_moves(gateway, fake_upstream, credentials_file):
    server = await gateway(config(fake_upstream.url, credentials_file, "max_output_tokens = 8192"))
    fake_upstream.on(STREAM_RAW, CLAUDE.answer_stream(["ok"], Usage()))
    # Claude Code asks for 64000.
    async with claude_client(server) as claude, claude.messages.stream(
        model="claude", max_tokens=64000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        await stream.get_final_message()
    body = fake_upstream.calls(STREAM_RAW)[0].json()
    assert body["max_tokens"] == 8192 and "model" not in body


@pytest.mark.parametrize("model", ["gemini", "claude"])
async def test_the_responses_entrance_is_bridged_to_both_families(chat, fake_upstream, model):
    script = GEMINI if model == "gemini" else CLAUDE
    fake_upstream.on(script.chat_path(False), script.answer_text("Blue.", Usage(9, 2)))
    response = await chat.responses.create(model=model, input="What colour is the sky?")
    assert response.output_text == "Blue."
    summary = script.summarize(fake_upstream.calls(script.chat_path(False))[0])
    assert summary.turns == [("user", "What colour is the sky?")]
    assert summary.credential == "ya29.fake-1"
