"""Issue 11 (13): ``base_url`` with or without DashScope's ``/api/v1``.

The dashscope SDK's base URL is ``https://dashscope.aliyuncs.com/api/v1``; the bare host (or
host plus ``/api``) is completed to that, any other path is the operator's own and kept.
"""

from __future__ import annotations

import aiohttp
import pytest

from sluicegate.testing.vendor import Usage
from sluicegate_dashscope import api_root
from sluicegate_dashscope.fake import DashScopeScript

KEY = "sk-dashscope-secret-0123456789"
TOKEN = "client-token"
SCRIPT = DashScopeScript()
SERVICE = "/services/aigc/text-generation/generation"


def config(base_url: str) -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.qwen]
type = "dashscope"
base_url = "{base_url}"
api_key = "${{DASHSCOPE_KEY}}"

[models.chat]
targets = ["qwen/qwen-plus"]
"""


@pytest.mark.parametrize("written, served", [
    ("", "/api/v1"),                    # https://dashscope.aliyuncs.com
    ("/", "/api/v1"),
    ("/api", "/api/v1"),
    ("/api/v1", "/api/v1"),             # the SDK's own form
    ("/api/v1/", "/api/v1"),
    ("/qwen/api/v1", "/qwen/api/v1"),   # a proxy's own prefix is kept as it is
])
async def test_each_form_reaches_the_vendors_real_path(gateway, fake_upstream, written, served):
    fake_upstream.on(served + SERVICE, SCRIPT.answer_text("ok", Usage()))
    server = await gateway(config(fake_upstream.url + written), env={"DASHSCOPE_KEY": KEY})
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http, http.post(
        server.base_url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["choices"][0]["message"]["content"] == "ok"
    assert [request.path for request in fake_upstream.requests] == [served + SERVICE]


@pytest.mark.parametrize("written, used", [
    ("https://dashscope.aliyuncs.com", "https://dashscope.aliyuncs.com/api/v1"),
    ("https://dashscope.aliyuncs.com/api/v1", "https://dashscope.aliyuncs.com/api/v1"),
    ("https://dashscope-intl.aliyuncs.com", "https://dashscope-intl.aliyuncs.com/api/v1"),
])
def test_api_root(written, used):
    assert api_root(written) == used
