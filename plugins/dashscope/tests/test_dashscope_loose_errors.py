"""Issue 11 (3): an error DashScope sends with a 200 is recognised as that error.

DashScope's own ``{"code", "message"}`` was recognised only with no ``output`` key at all, and
the ``{"error": {...}}`` envelope some of its front ends use not at all: such answers became a
generic "bad answer" 502 (or, mid-stream, were skipped until the stream "ended early"), losing
the vendor's code and with it the retry, fallback and breaker decisions. Each test runs the real
gateway (cache and breaker on) in front of the fake DashScope.
"""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from sluicegate_dashscope.fake import TEXT_PATH, DashScopeScript
from sluicegate_dashscope.translate import reported_error

KEY = "sk-dashscope-secret-0123456789"
TOKEN = "client-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHAT = "/v1/chat/completions"
TARGET = "qwen/qwen-plus"
SCRIPT = DashScopeScript()
LEAK = f"Requests rate limit exceeded for key {KEY}."


def config(url: str) -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.qwen]
type = "dashscope"
base_url = "{url}/api/v1"
api_key = "${{DASHSCOPE_KEY}}"

[models.chat]
targets = ["{TARGET}"]

[retry]
attempts = 1

[breaker]
failure_threshold = 5

[cache]
ttl = 300
"""


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("envelope", [True, False], ids=["error-envelope", "null-output"])
async def test_error_in_a_200_keeps_the_vendors_code(gateway, fake_upstream, stream, envelope):
    fake_upstream.on(TEXT_PATH, SCRIPT.answer_loose_error("Throttling.RateQuota", LEAK, stream=stream,
                                                          envelope=envelope))
    server = await gateway(config(fake_upstream.url), env={"DASHSCOPE_KEY": KEY})
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(server.base_url + CHAT, data=orjson.dumps(body), headers=AUTH) as resp:
                assert resp.status == 429  # the code's status: a rate limit, not a garbled answer
                assert resp.content_type == "application/json"
                raw = await resp.read()
            error = orjson.loads(raw)["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["code"] == "Throttling.RateQuota" and "rate limit exceeded" in error["message"]
            assert KEY not in raw.decode() and "0123456789" not in raw.decode()
        async with http.get(server.base_url + "/health") as resp:
            failures = (await resp.json())["targets"][TARGET]["consecutive_failures"]
    assert len(fake_upstream.calls(TEXT_PATH)) == 2  # never stored
    assert failures == 2  # a rate limit counts against the target


@pytest.mark.parametrize("data, expected", [
    ({"code": "Throttling", "message": "slow"}, ("Throttling", "slow")),
    ({"code": "Throttling", "message": "slow", "output": None}, ("Throttling", "slow")),
    ({"error": {"code": "InvalidApiKey", "message": "bad"}}, ("InvalidApiKey", "bad")),
    ({"error": "busy"}, (None, "busy")),
    ({"output": {"choices": []}, "code": "", "error": None}, None),
    ({"output": {"choices": []}, "code": "Partial"}, None),  # a result is a result
    ({"request_id": "r"}, None),
])
def test_reported_error(data, expected):
    assert reported_error(data) == expected
