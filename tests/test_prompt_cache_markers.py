"""Prompt-cache markers reach the vendor that has them, through the real server.

OpenAI's ``prompt_cache_key`` passes through to OpenAI and Azure (same dialect); Anthropic's
``cache_control`` passes through to Anthropic on ``/v1/messages`` and survives the translation
from chat content parts. Bedrock's ``cachePoint`` and Claude on Vertex have their own tests in
their plugins (plugins/bedrock/tests, plugins/vertex/tests/test_messages.py).
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from sluicegate.testing.vendor import Usage
from sluicegate_anthropic.fake import AnthropicScript
from sluicegate_azure.fake import AzureScript
from sluicegate_openai.fake import OpenAIScript

TOKEN = "client-token-cache-markers-1"
KEY = "sk-vendor-cache-markers-1"
MARK = {"type": "ephemeral", "ttl": "1h"}
LONG = "A long, stable system prompt. " * 20


def table(script, url: str) -> str:
    return (f'type = "{script.provider_type}"\nbase_url = "{script.base_url(url)}"\napi_key = "{KEY}"\n'
            f"{script.provider_options()}")


@pytest.mark.parametrize("script", [OpenAIScript(), AzureScript()], ids=["openai", "azure"])
async def test_prompt_cache_key_reaches_an_openai_dialect_vendor(gateway, fake_upstream, script):
    path = script.chat_path(False)
    fake_upstream.on(path, script.answer_text("cached", Usage()))
    server = await gateway(f'[auth]\ntokens = ["{TOKEN}"]\n\n[providers.up]\n{table(script, fake_upstream.url)}\n')
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)
    try:
        await client.chat.completions.create(
            model=f"up/{script.upstream_model}", messages=[{"role": "user", "content": "hi"}],
            extra_body={"prompt_cache_key": "tenant-42-session"})
    finally:
        await client.close()
    [sent] = fake_upstream.calls(path)
    assert sent.json()["prompt_cache_key"] == "tenant-42-session"


async def test_cache_control_reaches_anthropic_from_both_entrances(gateway, fake_upstream):
    script = AnthropicScript()
    path = script.chat_path(False)
    fake_upstream.on(path, script.answer_text("cached", Usage()))
    server = await gateway(f'[auth]\ntokens = ["{TOKEN}"]\n\n[providers.claude]\n{table(script, fake_upstream.url)}\n')
    model = f"claude/{script.upstream_model}"
    claude = anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=0)
    chat = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)
    try:
        await claude.messages.create(
            model=model, max_tokens=20, system=[{"type": "text", "text": LONG, "cache_control": MARK}],
            messages=[{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": MARK}]}])
        await chat.chat.completions.create(model=model, messages=[
            {"role": "system", "content": [{"type": "text", "text": LONG, "cache_control": MARK}]},
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": MARK}]}])
    finally:
        await claude.close()
        await chat.close()
    native, translated = (call.json() for call in fake_upstream.calls(path))
    for body in (native, translated):
        assert body["system"] == [{"type": "text", "text": LONG, "cache_control": MARK}]
        assert body["messages"][-1]["content"] == [{"type": "text", "text": "hi", "cache_control": MARK}]
