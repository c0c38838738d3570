"""Issue 11 (13): ``base_url`` as vendors' SDKs and tools write it, with or without ``/v1``.

The rule (README, "Provider types"): ``/v1`` is added only to a URL with no path at all; any
path is the vendor's own and is used as it is, never stripped or given a second version.
"""

from __future__ import annotations

import aiohttp
import pytest

from sluicegate.testing.vendor import Usage
from sluicegate_openai import api_root
from sluicegate_openai.fake import OpenAIScript

KEY = "sk-upstream-secret-0123456789"
TOKEN = "client-token"
SCRIPT = OpenAIScript()


def config(base_url: str) -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.up]
type = "openai"
base_url = "{base_url}"
api_key = "${{UP_KEY}}"

[models.chat]
targets = ["up/gpt-4o-mini"]
"""


@pytest.mark.parametrize("written, served", [
    ("", "/v1"),                                      # https://api.openai.com (LiteLLM's api_base)
    ("/", "/v1"),
    ("/v1", "/v1"),                                   # the openai SDK's own form
    ("/v1/", "/v1"),
    ("/compatible-mode/v1", "/compatible-mode/v1"),   # Qwen's compatible mode
    ("/api/paas/v4", "/api/paas/v4"),                 # Zhipu: another version, not doubled
    ("/openai/v1", "/openai/v1"),                     # Groq
    ("/inference", "/inference"),                     # a path without a version is the vendor's own
])
@pytest.mark.parametrize("endpoint", ["chat/completions", "embeddings"])
async def test_each_form_reaches_the_vendors_real_path(gateway, fake_upstream, written, served, endpoint):
    fake_upstream.on(f"{served}/{endpoint}", SCRIPT.answer_text("ok", Usage()))
    server = await gateway(config(fake_upstream.url + written), env={"UP_KEY": KEY})
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "input": "hi"}
    async with aiohttp.ClientSession() as http, http.post(
        f"{server.base_url}/v1/{endpoint}", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as resp:
        assert resp.status == 200, await resp.text()
    assert [request.path for request in fake_upstream.requests] == [f"{served}/{endpoint}"]


@pytest.mark.parametrize("written, used", [
    ("https://api.openai.com", "https://api.openai.com/v1"),
    ("https://api.openai.com/v1", "https://api.openai.com/v1"),
    ("https://api.deepseek.com", "https://api.deepseek.com/v1"),  # DeepSeek answers on both
    ("https://dashscope.aliyuncs.com/compatible-mode/v1", "https://dashscope.aliyuncs.com/compatible-mode/v1"),
    ("https://open.bigmodel.cn/api/paas/v4", "https://open.bigmodel.cn/api/paas/v4"),
    ("http://localhost:11434/v1", "http://localhost:11434/v1"),  # Ollama
    ("http://localhost:11434", "http://localhost:11434/v1"),
    ("https://x.openai.azure.com/openai/v1", "https://x.openai.azure.com/openai/v1"),
])
def test_api_root(written, used):
    assert api_root(written) == used
