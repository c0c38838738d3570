"""Resilience, ``[degrade]``: the canned answer when every target failed;
the official SDKs through the real server to fake vendors, non-streaming requests
(streams: ``test_resilience_streams.py``; the shared harness and its rules: ``resilience_harness.py``).
"""

from __future__ import annotations

import openai
import orjson
import pytest
from resilience_harness import (
    BAD_REQUEST,
    DEGRADE,
    DEGRADED,
    MSG,
    ONE_TRY,
    RETRY,
    A,
    B,
    body,
    config,
    ok,
    rate_limited,
    server_error,
)

# -- degrade ---------------------------------------------------------------------------------------


async def test_degrade_answers_chat_when_every_target_failed(h):
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(503))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=DEGRADE))
    raw = await h.client.chat.completions.with_raw_response.create(model="chat", messages=MSG)
    assert raw.status_code == 200
    assert raw.headers["x-sluicegate-degraded"] == "true"
    reply = raw.parse()
    assert reply.choices[0].message.content == DEGRADED
    assert reply.choices[0].finish_reason == "stop"
    assert (h.calls(A), h.calls(B)) == (1, 1)


async def test_degrade_does_not_hide_client_errors_or_rate_limits(h):
    h.up.on(A, BAD_REQUEST)
    await h.start(config(h.up.url, retry=ONE_TRY, extra=DEGRADE))
    with pytest.raises(openai.BadRequestError):
        await h.chat()
    h.up.on(A, rate_limited({"Retry-After": "120"}))
    h.up.on(B, rate_limited({"Retry-After": "120"}))
    with pytest.raises(openai.RateLimitError):
        await h.chat()


async def test_degrade_answers_the_anthropic_sdk(h):
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(500))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=DEGRADE))
    raw = await h.claude().messages.with_raw_response.create(model="chat", max_tokens=50, messages=MSG)
    assert raw.headers["x-sluicegate-degraded"] == "true"
    message = await raw.parse()
    assert message.content[0].text == DEGRADED
    assert message.stop_reason == "end_turn"
    assert (h.calls(A), h.calls(B)) == (1, 1)


async def test_degrade_after_the_deadline(h):
    h.up.on(A, ok("too late", delay=2))
    await h.start(config(h.up.url, retry={**RETRY, "deadline": 0.3}, extra=DEGRADE))
    status, headers, raw = await h.post(body("a/m1"))
    assert status == 200 and headers["x-sluicegate-degraded"] == "true"
    assert orjson.loads(raw)["choices"][0]["message"]["content"] == DEGRADED
