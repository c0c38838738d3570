"""Resilience, falling over to the next target: Anthropic's 529, client errors (never fallen back),
errors of our own account, targets that cannot take the request, context fallbacks;
the official SDKs through the real server to fake vendors, non-streaming requests
(streams: ``test_resilience_streams.py``; the shared harness and its rules: ``resilience_harness.py``).
"""

from __future__ import annotations

import anthropic
import openai
import orjson
import pytest
from resilience_harness import (
    BAD_REQUEST,
    MSG,
    RETRY,
    TOKEN,
    TOO_LONG,
    A,
    B,
    C,
    anthropic_error,
    backoffs,
    body,
    config,
    oai_error,
    ok,
    server_error,
)

# -- Anthropic's 529 -------------------------------------------------------------------------------


async def test_anthropic_529_falls_back_to_an_openai_backup(h):
    retry = {**RETRY, "attempts": 2}
    h.up.on(C, anthropic_error(529, "overloaded_error", "Overloaded"))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=retry, models='[models.chat]\ntargets = ["c/claude-x", "b/m2"]\n'))
    assert await h.chat() == "from b"
    assert (h.calls(C), h.calls(B)) == (2, 1)
    assert h.waits == backoffs(retry, 0)
    sent = h.up.calls(C)[0]
    assert sent.json()["model"] == "claude-x" and sent.headers["x-api-key"] == "sk-ant-c-00000000000"


async def test_anthropic_529_on_v1_messages_falls_back_through_the_bridge(h):
    retry = {**RETRY, "attempts": 2}
    h.up.on(C, anthropic_error(529, "overloaded_error", "Overloaded"))
    h.up.on(B, ok("bridged from b"))
    await h.start(config(h.up.url, retry=retry, models='[models.claude]\ntargets = ["c/claude-x", "b/m2"]\n'))
    message = await h.claude().messages.create(model="claude", max_tokens=50, messages=MSG)
    assert message.content[0].text == "bridged from b"
    assert (h.calls(C), h.calls(B)) == (2, 1)
    assert h.waits == backoffs(retry, 0)


async def test_anthropic_529_alone_reaches_the_anthropic_sdk_as_overloaded(h):
    retry = {**RETRY, "attempts": 2}
    h.up.on(C, anthropic_error(529, "overloaded_error", "Overloaded"))
    await h.start(config(h.up.url, retry=retry))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await h.claude().messages.create(model="c/claude-x", max_tokens=50, messages=MSG)
    assert caught.value.status_code in (503, 529)
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert h.calls(C) == 2


# -- client errors, our key, our quota -------------------------------------------------------------

@pytest.mark.parametrize(
    ("responder", "status", "code"),
    [
        pytest.param(BAD_REQUEST, 400, "invalid_value", id="400-invalid"),
        pytest.param(oai_error(400, "Your request was rejected as a result of our safety system.",
                               "invalid_request_error", "content_policy_violation"),
                     400, "content_policy_violation", id="400-content-filter"),
        pytest.param(oai_error(422, "Invalid Parameters", "invalid_request_error", "invalid_request_error"),
                     422, "invalid_request_error", id="422-deepseek"),
    ],
)
async def test_client_errors_are_neither_retried_nor_fallen_back(h, responder, status, code):
    h.up.on(A, responder)
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    with pytest.raises(openai.APIStatusError) as caught:
        await h.chat()
    assert caught.value.status_code == status
    assert caught.value.code == code
    assert "x-should-retry" not in caught.value.response.headers
    assert (h.calls(A), h.calls(B)) == (1, 0)
    assert h.waits == []


@pytest.mark.parametrize(
    "responder",
    [
        pytest.param(oai_error(401, "Incorrect API key provided: sk-a-0***0000.", "invalid_request_error",
                               "invalid_api_key"), id="401-our-key"),
        pytest.param(oai_error(403, "You are not allowed to sample from this model", "invalid_request_error",
                               None), id="403-permission"),
        pytest.param(oai_error(404, "The model `m1` does not exist", "invalid_request_error",
                               "model_not_found"), id="404-model"),
        pytest.param(oai_error(429, "You exceeded your current quota", "insufficient_quota",
                               "insufficient_quota"), id="429-quota"),
        pytest.param(oai_error(402, "Insufficient Balance", "invalid_request_error", "invalid_request_error"),
                     id="402-deepseek-balance"),
    ],
)
async def test_errors_of_our_account_fall_back_without_a_retry(h, responder):
    h.up.on(A, responder)
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (1, 1)
    assert h.waits == []


async def test_quota_with_no_other_target_reaches_the_client_as_a_429(h):
    h.up.on(A, oai_error(429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota"))
    await h.start(config(h.up.url))
    with pytest.raises(openai.RateLimitError) as caught:
        await h.chat("a/m1")
    assert caught.value.code == "insufficient_quota"
    assert h.calls(A) == 1 and h.waits == []


async def test_the_client_token_never_reaches_a_vendor_on_any_try(h):
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from b"
    for sent in h.up.requests:
        assert TOKEN not in str(sent.headers) and TOKEN.encode() not in sent.body
    assert {r.headers["Authorization"] for r in h.up.calls(A)} == {"Bearer sk-a-000000000000"}
    assert {r.headers["Authorization"] for r in h.up.calls(B)} == {"Bearer sk-b-000000000000"}


# -- targets that cannot take the request at all ---------------------------------------------------


async def test_an_unconfigured_provider_is_skipped_without_a_call(h):
    h.up.on(B, ok("from b"))
    extra = '[providers.nokey]\ntype = "openai"\nbase_url = "URL/nokey/v1"\napi_key = "${NOKEY_API_KEY}"\n'
    await h.start(config(h.up.url, extra=extra.replace("URL", h.up.url),
                         models='[models.chat]\ntargets = ["nokey/m0", "b/m2"]\n'))
    assert await h.chat() == "from b"
    assert h.up.calls("/nokey/v1/chat/completions") == [] and h.calls(B) == 1
    assert h.waits == []


async def test_a_target_whose_provider_lacks_the_endpoint_is_skipped(h):
    """An alias mixing an Anthropic target (chat and messages only) with an OpenAI one: a
    /v1/completions request cannot go to the first, but the second can serve it."""
    h.up.json("/b/v1/completions", {
        "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m2",
        "choices": [{"index": 0, "text": " from b", "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    })
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["c/claude-x", "b/m2"]\n'))
    reply = await h.client.completions.create(model="chat", prompt="say")
    assert reply.choices[0].text == " from b"
    assert h.calls(C) == 0 and len(h.up.calls("/b/v1/completions")) == 1


async def test_a_provider_lacking_the_endpoint_alone_is_a_400(h):
    await h.start(config(h.up.url))
    with pytest.raises(openai.BadRequestError) as caught:
        await h.client.completions.create(model="c/claude-x", prompt="say")
    assert caught.value.code == "unsupported_endpoint"
    assert h.up.requests == []


# -- context fallbacks -----------------------------------------------------------------------------

_WITH_CONTEXT_FALLBACK = '[models.chat]\ntargets = ["a/m1", "b/m2"]\ncontext_fallbacks = ["b/big"]\n'


async def test_context_length_exceeded_goes_to_the_context_fallback(h):
    h.up.on(A, TOO_LONG)
    h.up.on(B, ok("from b/big"))
    await h.start(config(h.up.url, models=_WITH_CONTEXT_FALLBACK))
    assert await h.chat() == "from b/big"
    assert h.calls(A) == 1
    assert h.models(B) == ["big"]  # never b/m2: an ordinary target is no bigger
    assert h.waits == []


async def test_context_length_exceeded_without_context_fallbacks_reaches_the_client(h):
    h.up.on(A, TOO_LONG)
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    with pytest.raises(openai.BadRequestError) as caught:
        await h.chat()
    assert caught.value.code == "context_length_exceeded"
    assert "maximum context length" in caught.value.message
    assert (h.calls(A), h.calls(B)) == (1, 0)


async def test_context_fallback_that_is_also_too_short_answers_the_400(h):
    h.up.on(A, TOO_LONG)
    h.up.on(B, TOO_LONG)
    await h.start(config(h.up.url, models=_WITH_CONTEXT_FALLBACK))
    status, _, raw = await h.post(body())
    assert status == 400, raw
    assert orjson.loads(raw)["error"]["code"] == "context_length_exceeded"
    assert h.calls(A) == 1 and h.models(B) == ["big"]


async def test_context_fallback_that_fails_otherwise_is_retried_and_reported(h):
    retry = {**RETRY, "attempts": 2}
    h.up.on(A, TOO_LONG)
    h.up.on(B, server_error(500))
    await h.start(config(h.up.url, retry=retry, models=_WITH_CONTEXT_FALLBACK))
    status, _, raw = await h.post(body())
    assert status >= 500
    assert h.calls(A) == 1 and h.models(B) == ["big", "big"]
    assert h.waits == backoffs(retry, 0)


async def test_anthropic_prompt_too_long_goes_to_the_context_fallback(h):
    h.up.on(C, anthropic_error(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"))
    h.up.on(B, ok("from b/big"))
    models = '[models.chat]\ntargets = ["c/claude-x", "b/m2"]\ncontext_fallbacks = ["b/big"]\n'
    await h.start(config(h.up.url, models=models))
    assert await h.chat() == "from b/big"
    assert h.calls(C) == 1 and h.models(B) == ["big"]
