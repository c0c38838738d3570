"""Issue 11 (13): ``base_url`` as the anthropic SDK writes it (no ``/v1``) works, as does ``.../v1``.

``https://api.anthropic.com`` (the SDK's, Claude Code's ``ANTHROPIC_BASE_URL`` and LiteLLM's
form) once sent requests to ``/messages`` and got 404s. The rule (README, "Provider types"):
``/v1`` is added unless the URL already ends in a version segment, as the SDK adds it.
"""

from __future__ import annotations

import aiohttp
import pytest

from sluicegate.testing.vendor import Usage
from sluicegate_anthropic import api_root
from sluicegate_anthropic.fake import AnthropicScript

KEY = "sk-ant-api03-upstream-secret-0123456789"
TOKEN = "client-token"
SCRIPT = AnthropicScript()


def config(base_url: str) -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.claude]
type = "anthropic"
base_url = "{base_url}"
api_key = "${{UP_KEY}}"

[models.chat]
targets = ["claude/{SCRIPT.upstream_model}"]
"""


@pytest.mark.parametrize("written, served", [
    ("", "/v1"),                          # https://api.anthropic.com: the SDK's own form
    ("/", "/v1"),
    ("/v1", "/v1"),
    ("/v1/", "/v1"),
    ("/anthropic", "/anthropic/v1"),      # a compatible vendor's prefix (DeepSeek, Moonshot, OpenRouter)
    ("/anthropic/v1", "/anthropic/v1"),
])
@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/messages"])
async def test_each_form_reaches_the_vendors_real_path(gateway, fake_upstream, written, served, route):
    fake_upstream.on(f"{served}/messages", SCRIPT.answer_text("ok", Usage()))
    server = await gateway(config(fake_upstream.url + written), env={"UP_KEY": KEY})
    body = {"model": "chat", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http, http.post(
        server.base_url + route, json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as resp:
        assert resp.status == 200, await resp.text()
    assert [request.path for request in fake_upstream.requests] == [f"{served}/messages"]


@pytest.mark.parametrize("written, used", [
    ("https://api.anthropic.com", "https://api.anthropic.com/v1"),
    ("https://api.anthropic.com/v1", "https://api.anthropic.com/v1"),
    ("https://api.deepseek.com/anthropic", "https://api.deepseek.com/anthropic/v1"),
    ("https://openrouter.ai/api", "https://openrouter.ai/api/v1"),
    ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1"),
    ("http://127.0.0.1:4000", "http://127.0.0.1:4000/v1"),  # a LiteLLM proxy
])
def test_api_root(written, used):
    assert api_root(written) == used
