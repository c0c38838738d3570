"""``/v1/messages`` as Claude Code 2.1 and the anthropic SDK's beta calls use it, through the real
gateway: native Anthropic receives the request untouched (system messages inside ``messages``,
``?beta=true``, ``anthropic-beta``, Claude Code's own headers); an OpenAI-compatible vendor
behind the bridge receives the system messages in place, the effort where it takes one, a
digest for ``metadata.user_id`` and none of the client's private headers."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

from sluicegate.testing import openai_chat_completion, openai_chunks
from sluicegate.testing.vendor import Usage
from sluicegate_anthropic.fake import AnthropicScript

CLIENT_TOKEN = "client-token-claude-code-entrance"
VENDOR_KEY = "sk-vendor-claude-code-entrance-0000"
RECORDED = orjson.loads(
    (Path(__file__).parents[1] / "core/tests/fixtures/anthropic_inbound/claude_code_2_1_332.json").read_bytes()
)
BETAS = RECORDED["headers"]["anthropic-beta"]
USER_AGENT = RECORDED["headers"]["User-Agent"]
USER_ID = RECORDED["body"]["metadata"]["user_id"]
DEVICE_ID = orjson.loads(USER_ID)["device_id"]
# Headers Claude Code and its SDK send that only Anthropic itself may receive.
CLAUDE_CODE_ONLY = frozenset(
    name.lower()
    for name in RECORDED["headers"]
    if name.lower().startswith(("x-stainless-", "x-claude-code-", "anthropic-")) or name.lower() in ("x-app",)
)

CONFIG = f"""
[auth]
tokens = ["{CLIENT_TOKEN}"]

[providers.anthropic]
type = "anthropic"
base_url = "{{url}}/v1"
api_key = "${{VENDOR_KEY}}"

[providers.compat]
type = "openai"
base_url = "{{url}}/v1"
api_key = "${{VENDOR_KEY}}"
reasoning_effort = true

[providers.plain]
type = "openai"
base_url = "{{url}}/v1"
api_key = "${{VENDOR_KEY}}"

[models."claude-opus-4-8"]
targets = ["anthropic/claude-opus-4-8"]

[models.opus]
targets = ["anthropic/claude-opus-4-8"]

[models.bridged]
targets = ["compat/gpt-5-mini"]

[models.plain]
targets = ["plain/deepseek-chat"]

[retry]
attempts = 1
"""


@pytest.fixture
async def server(gateway, fake_upstream):
    return await gateway(CONFIG.replace("{url}", fake_upstream.url), env={"VENDOR_KEY": VENDOR_KEY})


@pytest.fixture
async def claude(server):
    client = anthropic.AsyncAnthropic(base_url=server.base_url, api_key=CLIENT_TOKEN, max_retries=0)
    yield client
    await client.close()


def digest(user_id: str) -> str:
    return "sha256:" + hashlib.sha256(user_id.encode()).hexdigest()[:32]


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


async def post_as_claude_code(server, body: dict[str, Any], path: str = "/v1/messages?beta=true"):
    """POST ``body`` with the headers Claude Code 2.1.332 sent (its token swapped for ours)."""
    headers = {**RECORDED["headers"], "Authorization": f"Bearer {CLIENT_TOKEN}"}
    async with aiohttp.ClientSession() as session, session.post(
        server.base_url + path, data=orjson.dumps(body), headers=headers
    ) as response:
        return response.status, await response.read()


def event_names(raw: bytes) -> list[str]:
    return [line[len(b"event: "):].decode() for line in raw.split(b"\n") if line.startswith(b"event: ")]


def anthropic_stream(fake_upstream) -> None:
    fake_upstream.on("/v1/messages", AnthropicScript().answer_stream(["Done."], Usage()))


# --- native pass-through -------------------------------------------------------------------


async def test_claude_codes_recorded_call_reaches_anthropic_untouched(server, fake_upstream):
    anthropic_stream(fake_upstream)
    body = RECORDED["body"]
    status, raw = await post_as_claude_code(server, body)
    assert status == 200, raw
    assert event_names(raw)[0] == "message_start" and event_names(raw)[-1] == "message_stop"
    (sent,) = fake_upstream.calls("/v1/messages")
    assert sent.body == orjson.dumps(body)  # byte for byte: the model name needs no change
    assert sent.query == {"beta": "true"}
    headers = lowered(sent.headers)
    for name in CLAUDE_CODE_ONLY | {"user-agent"}:
        assert headers[name] == lowered(RECORDED["headers"])[name], name
    assert headers["anthropic-beta"] == BETAS
    assert headers["x-api-key"] == VENDOR_KEY
    assert CLIENT_TOKEN not in " ".join(headers.values())


async def test_the_sdks_beta_call_passes_through_with_only_the_model_renamed(claude, fake_upstream):
    fake_upstream.on("/v1/messages", AnthropicScript().answer_text("Done.", Usage()))
    request = {
        "max_tokens": 4096,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "List the files."}]},
            {"role": "system", "content": [{"type": "text", "text": "<env>linux</env>",
                                            "cache_control": {"type": "ephemeral"}}]},
        ],
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": USER_ID},
    }
    # Claude Code's (JavaScript) SDK adds ?beta=true to beta calls; the Python SDK does not.
    message = await claude.beta.messages.create(
        model="opus", betas=["context-management-2025-06-27", "effort-2025-11-24"], extra_query={"beta": "true"},
        **request,
    )
    assert message.content[0].text == "Done."
    (sent,) = fake_upstream.calls("/v1/messages")
    assert sent.json() == {**request, "model": "claude-opus-4-8"}
    assert sent.query == {"beta": "true"}
    assert sent.headers["anthropic-beta"] == "context-management-2025-06-27,effort-2025-11-24"
    assert sent.headers["x-api-key"] == VENDOR_KEY


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
async def test_the_query_string_reaches_anthropic_on_both_routes(server, fake_upstream, path):
    fake_upstream.json(path, {"input_tokens": 3} if "count" in path else AnthropicScript().message(
        [{"type": "text", "text": "ok"}], "end_turn", Usage()))
    body = {"model": "opus", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    status, raw = await post_as_claude_code(server, body, path + "?beta=true")
    assert status == 200, raw
    (sent,) = fake_upstream.calls(path)
    assert sent.query == {"beta": "true"}
    assert sent.json() == {**body, "model": "claude-opus-4-8"}


async def test_native_anthropic_judges_what_the_bridge_would_refuse(server, fake_upstream):
    """Never stricter than Anthropic: a block type, a server tool and a field the gateway does not
    know go to Anthropic as they are; the bridge, which must understand them, refuses them
    before any call, naming the path."""
    fake_upstream.on("/v1/messages", AnthropicScript().answer_text("ok", Usage()))
    body = {
        "model": "claude-opus-4-8",
        "max_tokens": 10,
        "messages": [
            {"role": "system", "content": "Setup first."},
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "future_block", "x": 1}]},
        ],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "a_field_from_next_year": {"on": True},
    }
    status, raw = await post_as_claude_code(server, body)
    assert status == 200, raw
    (sent,) = fake_upstream.calls("/v1/messages")
    assert sent.body == orjson.dumps(body)

    status, raw = await post_as_claude_code(server, {**body, "model": "bridged"})
    assert status == 400
    error = orjson.loads(raw)
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith("messages.1.content.1: ")
    assert fake_upstream.calls("/v1/chat/completions") == []


async def test_only_model_and_stream_are_checked_before_routing(server, fake_upstream):
    for body, fragment in (
        ({"model": "claude-opus-4-8", "max_tokens": 5, "stream": "yes", "messages": []}, "stream"),
        ({"max_tokens": 5, "messages": []}, "model"),
    ):
        status, raw = await post_as_claude_code(server, body)
        assert status == 400
        assert fragment in orjson.loads(raw)["error"]["message"]
    assert fake_upstream.requests == []


async def test_count_tokens_passes_system_messages_and_beta_through(claude, fake_upstream):
    fake_upstream.json("/v1/messages/count_tokens", {"input_tokens": 321})
    messages = [{"role": "user", "content": "hi"}, {"role": "system", "content": "<env>linux</env>"}]
    count = await claude.beta.messages.count_tokens(
        model="claude-opus-4-8", messages=messages, betas=["mid-conversation-tool-changes-2026-07-01"],
        extra_query={"beta": "true"},
    )
    assert count.input_tokens == 321
    (sent,) = fake_upstream.calls("/v1/messages/count_tokens")
    assert sent.json() == {"model": "claude-opus-4-8", "messages": messages}
    assert sent.query == {"beta": "true"}
    # The SDK adds the token-counting beta itself.
    assert sent.headers["anthropic-beta"].split(",")[0] == "mid-conversation-tool-changes-2026-07-01"


async def test_count_tokens_estimates_a_conversation_with_system_messages_on_the_bridge(claude, fake_upstream):
    raw = await claude.beta.messages.with_raw_response.count_tokens(
        model="bridged", messages=[{"role": "user", "content": "hi"}, {"role": "system", "content": "x" * 400}]
    )
    assert raw.headers["x-sluicegate-estimate"] == "true"
    assert (await raw.parse()).input_tokens == -(-402 // 4) + 2 * 4
    assert fake_upstream.requests == []


# --- the bridge ----------------------------------------------------------------------------


async def test_claude_codes_recorded_call_through_the_bridge(server, fake_upstream):
    fake_upstream.sse("/v1/chat/completions", openai_chunks(["Done", "."], model="gpt-5-mini", usage=True))
    body = {**RECORDED["body"], "model": "bridged"}
    status, raw = await post_as_claude_code(server, body)
    assert status == 200, raw
    names = event_names(raw)
    assert names[0] == "message_start" and names[-1] == "message_stop"
    (sent,) = fake_upstream.calls("/v1/chat/completions")
    chat = sent.json()
    assert [message["role"] for message in chat["messages"]] == [
        "system", "user", "system", "assistant", "tool", "system"]
    assert chat["messages"][2]["content"] == RECORDED["body"]["messages"][1]["content"]
    assert chat["messages"][-1]["content"].startswith("<total_tokens>")
    assert chat["reasoning_effort"] == "high"  # output_config.effort; this vendor takes it
    assert chat["user"] == digest(USER_ID)
    assert DEVICE_ID.encode() not in sent.body
    assert not {"context_management", "thinking", "output_config", "metadata"} & set(chat)
    headers = lowered(sent.headers)
    assert not CLAUDE_CODE_ONLY & set(headers), CLAUDE_CODE_ONLY & set(headers)
    assert headers.get("user-agent") != USER_AGENT
    assert "claude-cli" not in " ".join(headers.values())
    assert RECORDED["headers"]["X-Claude-Code-Session-Id"] not in " ".join(headers.values())
    assert headers["authorization"] == f"Bearer {VENDOR_KEY}"


async def test_the_sdk_through_a_vendor_without_reasoning_effort(claude, fake_upstream):
    fake_upstream.json("/v1/chat/completions", openai_chat_completion("ok", model="deepseek-chat"))
    message = await claude.beta.messages.create(
        model="plain",
        max_tokens=100,
        betas=["effort-2025-11-24"],
        system="Be brief.",
        messages=[{"role": "user", "content": "hi"}, {"role": "system", "content": "Answer in French."}],
        thinking={"type": "enabled", "budget_tokens": 31999},
        output_config={"effort": "high"},
        metadata={"user_id": "user-7"},
        extra_headers={"X-Claude-Code-Session-Id": "5b6f-session", "x-app": "cli"},
    )
    assert message.content[0].text == "ok"
    (sent,) = fake_upstream.calls("/v1/chat/completions")
    chat = sent.json()
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "Answer in French."},
    ]
    assert "reasoning_effort" not in chat  # not every vendor takes the field: only where configured
    assert chat["user"] == digest("user-7")
    headers = lowered(sent.headers)
    private = [name for name in headers if name.startswith(("x-stainless-", "anthropic-", "x-claude-code-"))]
    assert private == [] and "x-app" not in headers
    assert sent.query == {}


# --- the other way: an OpenAI client, an Anthropic vendor ----------------------------------


async def test_an_openai_clients_own_headers_do_not_reach_anthropic(server, fake_upstream):
    fake_upstream.on("/v1/messages", AnthropicScript().answer_text("ok", Usage()))
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=CLIENT_TOKEN, max_retries=0)
    try:
        answer = await client.chat.completions.create(
            model="opus", messages=[{"role": "user", "content": "hi"}], extra_headers={"X-Team": "search"}
        )
    finally:
        await client.close()
    assert answer.choices[0].message.content == "ok"
    (sent,) = fake_upstream.calls("/v1/messages")
    headers = lowered(sent.headers)
    assert [name for name in headers if name.startswith("x-stainless-")] == []
    assert "openai" not in headers.get("user-agent", "").lower()
    assert headers["x-team"] == "search"
