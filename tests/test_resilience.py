"""The resilience layer end to end: the official SDKs through the real server to fake vendors that
fail in every way a vendor can, non-streaming requests (streams: ``test_resilience_streams.py``).

Every test checks what the client saw *and* how many calls each fake vendor received. Waits are
never slept: the gateway's ``sleep`` is a recorder and its RNG is seeded, so each backoff wait is
compared exactly with ``sluicegate.resilience.retry.backoff`` on an identically seeded RNG. Real
timeouts (0.2-0.5 s) are used only where a real timeout is the point.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time

import aiohttp
import anthropic
import openai
import orjson
import pytest
from aiohttp import web
from attrs import define
from resilience_harness import (
    MSG,
    ONE_TRY,
    RETRY,
    SEED,
    TOKEN,
    A,
    B,
    C,
    anthropic_error,
    backoffs,
    body,
    config,
    oai_error,
    ok,
    rate_limited,
    server_error,
)

import sluicegate
from sluicegate.exchange import Endpoint, SSEEvent, StreamReply
from sluicegate.provider import Provider, ProviderOptions
from sluicegate.testing import FakeUpstream, openai_chat_completion, openai_chunks

DEGRADE = '[degrade]\nmessage = "Our assistant is resting. Please try again in a minute."\n'
DEGRADED = "Our assistant is resting. Please try again in a minute."



# -- 1. retries on the same target ------------------------------------------------------------


async def test_500_then_200_is_retried_on_the_same_target(h):
    h.up.on(A, server_error(500), ok("from a"))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from a"
    assert (h.calls(A), h.calls(B)) == (2, 0)
    assert h.waits == backoffs(RETRY, 0)


async def test_503_every_attempt_falls_over_to_the_next_target(h):
    h.up.on(A, server_error(503))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (3, 1)
    assert h.waits == backoffs(RETRY, 0, 1)
    assert h.models(A) == ["m1"] * 3 and h.models(B) == ["m2"]


async def test_backoff_is_capped_by_backoff_max(h):
    retry = {**RETRY, "attempts": 4, "backoff_base": 1.0, "backoff_max": 1.5}
    h.up.on(A, server_error(502))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=retry))
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (4, 1)
    assert h.waits == backoffs(retry, 0, 1, 2)
    assert all(wait <= 1.5 for wait in h.waits)


# -- 2. Anthropic's 529 ----------------------------------------------------------------------


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


# -- 3. Retry-After ----------------------------------------------------------------------------


async def test_429_retry_after_is_waited_exactly(h):
    h.up.on(A, rate_limited({"Retry-After": "2"}), ok("from a"))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from a"
    assert h.waits == [2.0]
    assert (h.calls(A), h.calls(B)) == (2, 0)


async def test_429_retry_after_longer_than_max_retry_wait_falls_over_at_once(h):
    h.up.on(A, rate_limited({"Retry-After": "120"}))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from b"
    assert h.waits == []
    assert (h.calls(A), h.calls(B)) == (1, 1)


async def test_429_retry_after_too_long_with_no_other_target_reaches_the_client(h):
    h.up.on(A, rate_limited({"Retry-After": "120"}))
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["a/m1"]\n'))
    with pytest.raises(openai.RateLimitError) as caught:
        await h.chat()
    assert caught.value.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "120"
    assert caught.value.code == "rate_limit_exceeded"
    assert h.waits == []
    assert h.calls(A) == 1


async def test_retry_after_ms_is_preferred_to_retry_after(h):
    h.up.on(A, rate_limited({"retry-after-ms": "1500", "Retry-After": "7"}), ok("from a"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from a"
    assert h.waits == [1.5]
    assert h.calls(A) == 2


async def test_retry_after_as_an_http_date_uses_the_injected_wall_clock(h):
    now = 1_700_000_000.0
    h.up.on(A, rate_limited({"Retry-After": email.utils.formatdate(now + 3, usegmt=True)}), ok("from a"))
    await h.start(config(h.up.url), wall_clock=lambda: now)
    assert await h.chat() == "from a"
    assert h.waits == [3.0]


async def test_openai_ratelimit_reset_headers_are_waited_on_a_429(h):
    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "250ms"}
    h.up.on(A, rate_limited(headers), ok("from a"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from a"
    assert h.waits == [1.0]  # the later of the two buckets


async def test_retry_after_on_a_503_is_honoured_too(h):
    h.up.on(A, server_error(503, {"Retry-After": "4"}), ok("from a"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from a"
    assert h.waits == [4.0]


async def test_every_target_rate_limited_forwards_the_last_retry_after(h):
    h.up.on(A, rate_limited({"Retry-After": "90"}))
    h.up.on(B, rate_limited({"Retry-After": "60"}))
    await h.start(config(h.up.url))
    status, headers, raw = await h.post(body())
    assert status == 429
    assert headers["Retry-After"] == "60"
    assert headers["x-should-retry"] == "false"
    assert orjson.loads(raw)["error"]["code"] == "rate_limit_exceeded"
    assert (h.calls(A), h.calls(B)) == (1, 1)
    assert h.waits == []


# -- 4. timeouts and connection failures -------------------------------------------------------


async def test_slow_answer_times_out_is_retried_then_falls_back(h):
    retry = {**RETRY, "attempts": 2}
    h.up.on(A, ok("too late", delay=2))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=retry, a="timeout = 0.25"))
    started = time.monotonic()
    assert await h.chat() == "from b"
    assert time.monotonic() - started < 1.5
    assert (h.calls(A), h.calls(B)) == (2, 1)
    assert h.waits == backoffs(retry, 0)


async def test_slow_answer_from_the_only_target_is_a_504_not_to_be_retried(h):
    retry = {**RETRY, "attempts": 2}
    h.up.on(A, ok("too late", delay=2))
    await h.start(config(h.up.url, retry=retry, a="timeout = 0.25"))
    status, headers, raw = await h.post(body("a/m1"))
    assert status == 504
    assert headers["x-should-retry"] == "false"
    error = orjson.loads(raw)["error"]
    assert error["code"] == "upstream_timeout"
    assert h.calls(A) == 2
    assert h.waits == backoffs(retry, 0)


async def test_connection_refused_falls_back(h):
    retry = {**RETRY, "attempts": 2}
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=retry, models='[models.chat]\ntargets = ["dead/m0", "b/m2"]\n'))
    assert await h.chat() == "from b"
    assert h.calls(B) == 1
    assert h.waits == backoffs(retry, 0)  # dead was retried once, then left


async def test_connection_refused_alone_is_a_502_upstream_unavailable(h):
    retry = {**RETRY, "attempts": 2}
    await h.start(config(h.up.url, retry=retry))
    with pytest.raises(openai.APIStatusError) as caught:
        await h.chat("dead/m0")
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_unavailable"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert h.waits == backoffs(retry, 0)
    assert h.up.requests == []


# -- 5. connection reset before the response -----------------------------------------------------


async def _reset(request: web.Request) -> web.StreamResponse:
    """Hang up without answering (the TCP connection is aborted: a reset)."""
    request.transport.abort()
    await asyncio.sleep(10)  # cancelled at once: the connection is gone
    raise AssertionError("unreachable")


async def _garbage(request: web.Request) -> web.StreamResponse:
    """Answer with bytes that are not HTTP, then hang up."""
    request.transport.write(b"SSH-2.0-OpenSSH_9.6\r\nthis is not http\r\n\r\n")
    request.transport.close()
    await asyncio.sleep(10)  # cancelled at once: the connection is gone
    raise AssertionError("unreachable")


@pytest.mark.parametrize("responder", [_reset, _garbage], ids=["reset", "garbage"])
async def test_a_reset_before_headers_is_a_network_failure_retried_then_fallen_back(h, responder):
    retry = {**RETRY, "attempts": 2}
    h.up.on(A, responder)
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=retry))
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (2, 1)
    assert h.waits == backoffs(retry, 0)


async def test_a_reset_then_an_answer_recovers_on_the_same_target(h):
    h.up.on(A, _reset, ok("from a"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from a"
    assert h.calls(A) == 2
    assert h.waits == backoffs(RETRY, 0)


async def test_a_reset_on_the_only_target_is_a_502(h):
    retry = {**RETRY, "attempts": 2}
    h.up.on(A, _reset)
    await h.start(config(h.up.url, retry=retry))
    status, headers, raw = await h.post(body("a/m1"))
    assert status == 502
    assert orjson.loads(raw)["error"]["code"] == "upstream_unavailable"
    assert headers["x-should-retry"] == "false"
    assert h.calls(A) == 2


# -- 6. a malformed 200 --------------------------------------------------------------------------

HTML = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"


async def test_openai_provider_treats_a_non_json_200_as_a_failure_and_falls_back(h):
    """An HTML page a proxy returned with 200 is a failed answer (retried as a 5xx would be),
    not a "completion" relayed to the client."""
    h.up.on(A, FakeUpstream.json_responder(HTML))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (3, 1)
    assert h.waits == backoffs(RETRY, 0, 1)


async def test_openai_provider_non_json_200_alone_is_a_502(h):
    h.up.on(A, FakeUpstream.json_responder(b"  <html>oops</html>"))
    await h.start(config(h.up.url, retry=ONE_TRY))
    status, headers, raw = await h.post(body("a/m1"))
    assert status == 502
    assert orjson.loads(raw)["error"]["code"] in ("upstream_bad_response", "upstream_invalid_response")
    assert h.calls(A) == 1


async def test_openai_provider_error_body_with_a_200_is_a_failure_not_a_completion(h):
    h.up.on(A, FakeUpstream.json_responder(
        {"error": {"message": "The server had an error", "type": "server_error", "code": None}}))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY))
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (1, 1)
    h.up.on(A, FakeUpstream.json_responder(
        {"error": {"message": "Bad temperature", "type": "invalid_request_error", "code": "invalid_value"}}))
    status, _, raw = await h.post(body())
    assert status == 502  # the vendor said 200; the gateway will not call that a success
    error = orjson.loads(raw)["error"]
    assert (error["code"], error["type"]) == ("invalid_value", "invalid_request_error")
    assert "Bad temperature" in error["message"]
    assert h.calls(B) == 1  # a client error is not fallen back


async def test_anthropic_provider_treats_a_non_json_200_as_a_failure_and_falls_back(h):
    retry = {**RETRY, "attempts": 2}
    h.up.on(C, FakeUpstream.json_responder(HTML))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=retry, models='[models.chat]\ntargets = ["c/claude-x", "b/m2"]\n'))
    assert await h.chat() == "from b"
    assert (h.calls(C), h.calls(B)) == (2, 1)


async def test_non_json_200_through_the_messages_bridge_falls_back(h):
    """/v1/messages via an OpenAI provider parses the answer (to translate it), so there the
    same HTML page is an upstream failure and b answers."""
    h.up.on(A, FakeUpstream.json_responder(HTML))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    message = await h.claude().messages.create(model="chat", max_tokens=50, messages=MSG)
    assert message.content[0].text == "from b"
    assert (h.calls(A), h.calls(B)) == (3, 1)  # a 502 of the bridge's own: retried like a 5xx
    assert h.waits == backoffs(RETRY, 0, 1)


# -- 7, 8. client errors, our key, our quota -------------------------------------------------------

_BAD_REQUEST = oai_error(400, "Invalid value for 'temperature'.", "invalid_request_error", "invalid_value")


@pytest.mark.parametrize(
    ("responder", "status", "code"),
    [
        pytest.param(_BAD_REQUEST, 400, "invalid_value", id="400-invalid"),
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


# -- targets that cannot take the request at all --------------------------------------------------


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


# -- 9. context fallbacks --------------------------------------------------------------------------

_TOO_LONG = oai_error(400, "This model's maximum context length is 8192 tokens. However, your messages "
                      "resulted in 9000 tokens.", "invalid_request_error", "context_length_exceeded")
_WITH_CONTEXT_FALLBACK = '[models.chat]\ntargets = ["a/m1", "b/m2"]\ncontext_fallbacks = ["b/big"]\n'


async def test_context_length_exceeded_goes_to_the_context_fallback(h):
    h.up.on(A, _TOO_LONG)
    h.up.on(B, ok("from b/big"))
    await h.start(config(h.up.url, models=_WITH_CONTEXT_FALLBACK))
    assert await h.chat() == "from b/big"
    assert h.calls(A) == 1
    assert h.models(B) == ["big"]  # never b/m2: an ordinary target is no bigger
    assert h.waits == []


async def test_context_length_exceeded_without_context_fallbacks_reaches_the_client(h):
    h.up.on(A, _TOO_LONG)
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url))
    with pytest.raises(openai.BadRequestError) as caught:
        await h.chat()
    assert caught.value.code == "context_length_exceeded"
    assert "maximum context length" in caught.value.message
    assert (h.calls(A), h.calls(B)) == (1, 0)


async def test_context_fallback_that_is_also_too_short_answers_the_400(h):
    h.up.on(A, _TOO_LONG)
    h.up.on(B, _TOO_LONG)
    await h.start(config(h.up.url, models=_WITH_CONTEXT_FALLBACK))
    status, _, raw = await h.post(body())
    assert status == 400, raw
    assert orjson.loads(raw)["error"]["code"] == "context_length_exceeded"
    assert h.calls(A) == 1 and h.models(B) == ["big"]


async def test_context_fallback_that_fails_otherwise_is_retried_and_reported(h):
    retry = {**RETRY, "attempts": 2}
    h.up.on(A, _TOO_LONG)
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


# -- 10. circuit breakers ------------------------------------------------------------------------

BREAKER = "[breaker]\nfailure_threshold = 2\ncooldown = 30\n"


async def test_breaker_opens_skips_the_target_and_closes_after_a_half_open_probe(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])

    assert await h.chat() == "from b"
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (2, 2)
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["breaker"] == "open"
    assert targets["a/m1"]["retry_in"] == 30.0
    assert targets["a/m1"]["opened"] == 1
    assert targets["b/m2"]["breaker"] == "closed"

    # Open: the third request makes no call to a at all.
    assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (2, 3)

    now[0] += 29.9
    assert await h.chat() == "from b"
    assert h.calls(A) == 2

    now[0] += 0.2  # past the cooldown: half-open, one probe goes to a, which has recovered
    h.up.on(A, ok("from a"))
    assert (await h.health())["targets"]["a/m1"]["breaker"] == "half_open"
    assert await h.chat() == "from a"
    assert (h.calls(A), h.calls(B)) == (3, 4)
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["breaker"] == "closed"
    assert targets["a/m1"]["consecutive_failures"] == 0
    assert await h.chat() == "from a"
    assert h.waits == []


async def test_a_failed_half_open_probe_opens_the_breaker_again(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    for _ in range(2):
        await h.chat()
    now[0] += 31
    assert await h.chat() == "from b"  # the probe to a failed
    assert h.calls(A) == 3
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["breaker"] == "open" and targets["a/m1"]["opened"] == 2
    assert await h.chat() == "from b"
    assert h.calls(A) == 3


async def test_every_breaker_open_is_a_503_circuit_open_without_upstream_calls(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(503))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    for _ in range(2):
        status, headers, raw = await h.post(body())
        assert status == 503
        assert orjson.loads(raw)["error"]["code"] == "upstream_overloaded"
        assert headers["x-should-retry"] == "false"
    assert (h.calls(A), h.calls(B)) == (2, 2)

    now[0] += 10
    status, headers, raw = await h.post(body())
    assert status == 503
    assert orjson.loads(raw)["error"]["code"] == "circuit_open"
    assert headers["Retry-After"] == "20"
    assert (h.calls(A), h.calls(B)) == (2, 2)

    with pytest.raises(openai.InternalServerError) as caught:
        await h.chat("a/m1")  # a direct target is guarded by the same breaker
    assert caught.value.status_code == 503 and caught.value.code == "circuit_open"
    assert (h.calls(A), h.calls(B)) == (2, 2)


async def test_client_errors_do_not_open_the_breaker(h):
    now = [1000.0]
    h.up.on(A, _BAD_REQUEST, _BAD_REQUEST, _BAD_REQUEST, ok("from a"))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    for _ in range(3):
        with pytest.raises(openai.BadRequestError):
            await h.chat()
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["breaker"] == "closed"
    assert targets["a/m1"]["consecutive_failures"] == 0
    assert await h.chat() == "from a"
    assert (h.calls(A), h.calls(B)) == (4, 0)


async def test_a_success_resets_the_consecutive_count(h):
    now = [1000.0]
    h.up.on(A, server_error(500), ok("from a"), server_error(500), ok("from a"))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    answers = [await h.chat() for _ in range(4)]
    assert answers == ["from b", "from a", "from b", "from a"]
    assert (await h.health())["targets"]["a/m1"]["breaker"] == "closed"


async def test_a_long_retry_after_lengthens_the_cooldown(h):
    now = [1000.0]
    h.up.on(A, rate_limited({"Retry-After": "120"}))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, extra=BREAKER), clock=lambda: now[0])
    for _ in range(2):
        assert await h.chat() == "from b"
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["breaker"] == "open" and targets["a/m1"]["retry_in"] == 120.0
    now[0] += 60
    assert await h.chat() == "from b"
    assert h.calls(A) == 2


async def test_half_open_admits_one_probe_at_a_time(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    for _ in range(2):
        await h.chat()
    now[0] += 31
    h.up.on(A, ok("from a", delay=0.3))
    answers = await asyncio.gather(h.chat(), h.chat(), h.chat())
    assert sorted(answers) == ["from a", "from b", "from b"]
    assert h.calls(A) == 3  # two failures, one probe
    assert (await h.health())["targets"]["a/m1"]["breaker"] == "closed"


async def test_a_probe_abandoned_by_its_client_gives_its_slot_back(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER), clock=lambda: now[0])
    for _ in range(2):
        await h.chat()
    now[0] += 31
    h.up.on(A, ok("from a", delay=2))
    impatient = h.client.with_options(timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        await impatient.chat.completions.create(model="chat", messages=MSG)
    await asyncio.sleep(0.1)  # the gateway notices the hang-up and cancels the probe
    h.up.on(A, ok("from a"))
    assert await h.chat() == "from a"  # the next request may probe again
    assert h.calls(A) == 4


async def test_breaker_failure_rate_opens_on_a_flapping_target(h):
    now = [1000.0]
    h.up.on(A, ok("from a"), server_error(500), ok("from a"), server_error(500), ok("from a"))
    h.up.on(B, ok("from b"))
    breaker = "[breaker]\nfailure_threshold = 100\nfailure_rate = 0.5\nmin_calls = 4\nwindow = 60\n"
    await h.start(config(h.up.url, retry=ONE_TRY, extra=breaker), clock=lambda: now[0])
    answers = [await h.chat() for _ in range(4)]
    assert answers == ["from a", "from b", "from a", "from b"]
    assert (await h.health())["targets"]["a/m1"]["breaker"] == "open"  # 2 of 4 failed
    assert await h.chat() == "from b"
    assert h.calls(A) == 4


async def test_degrade_answers_when_every_breaker_is_open_without_calls(h):
    now = [1000.0]
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(500))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=BREAKER + DEGRADE), clock=lambda: now[0])
    for _ in range(2):
        assert await h.chat() == DEGRADED
    calls = (h.calls(A), h.calls(B))
    assert calls == (2, 2)
    status, headers, raw = await h.post(body())
    assert status == 200 and headers["x-sluicegate-degraded"] == "true"
    assert (h.calls(A), h.calls(B)) == calls


# -- 11. the overall deadline --------------------------------------------------------------------


async def test_deadline_cuts_off_slow_targets(h):
    h.up.on(A, ok("too late", delay=2))
    h.up.on(B, ok("too late", delay=2))
    await h.start(config(h.up.url, retry={**RETRY, "deadline": 0.5}))
    started = time.monotonic()
    status, headers, raw = await h.post(body())
    elapsed = time.monotonic() - started
    assert status == 504
    assert 0.45 <= elapsed < 1.0
    assert headers["x-should-retry"] == "false"
    error = orjson.loads(raw)["error"]
    assert error["code"] == "upstream_timeout"
    assert "deadline" in error["message"]
    assert h.calls(A) + h.calls(B) <= 2
    assert h.waits == []


async def test_deadline_stops_retries_whose_wait_would_overrun_it(h):
    # a fails fast; a Retry-After of 2 s would end past the 0.5 s deadline, so b is tried instead.
    h.up.on(A, server_error(503, {"Retry-After": "2"}))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry={**RETRY, "deadline": 0.5}))
    assert await h.chat() == "from b"
    assert h.waits == []
    assert (h.calls(A), h.calls(B)) == (1, 1)


async def test_deadline_holds_when_the_gateway_clock_lags_the_event_loop_clock(h):
    """The deadline's timer runs on the event loop's clock, the check whether the deadline has
    passed on ``services.clock``. They disagree whenever the clock is injected (here: frozen),
    and in production too: ``sluicegate serve`` runs uvloop, whose ``loop.time()`` is cached per
    loop iteration, so the timer can fire a fraction of a millisecond before
    ``time.monotonic()`` reaches the deadline. Either way the client must get the 504."""
    h.up.on(A, ok("too late", delay=2))
    await h.start(config(h.up.url, retry={**RETRY, "deadline": 0.3}), clock=lambda: 1000.0)
    status, headers, raw = await h.post(body("a/m1"))
    assert status == 504, raw
    assert orjson.loads(raw)["error"]["code"] == "upstream_timeout"
    assert h.calls(A) == 1


# -- 12. degrade ---------------------------------------------------------------------------------



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
    h.up.on(A, _BAD_REQUEST)
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


# -- 13. hedging ---------------------------------------------------------------------------------


def _slow_and_watched(seconds: float, cancelled: asyncio.Event):
    async def respond(request: web.Request) -> web.StreamResponse:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return web.json_response(openai_chat_completion("from a, late"))

    return respond


async def test_hedge_answers_from_the_fast_target_and_cancels_the_slow_one(h):
    cancelled = asyncio.Event()
    h.up.on(A, _slow_and_watched(2, cancelled))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["a/m1", "b/m2"]\nhedge_after = 0.1\n'))
    started = time.monotonic()
    assert await h.chat() == "from b"
    elapsed = time.monotonic() - started
    assert 0.1 <= elapsed < 1.0
    await asyncio.wait_for(cancelled.wait(), 1.0)
    assert (h.calls(A), h.calls(B)) == (1, 1)
    stats = (await h.health())["targets"]
    assert stats["a/m1"]["in_flight"] == 0 and stats["b/m2"]["in_flight"] == 0


async def test_hedge_is_not_sent_when_the_first_target_is_fast(h):
    h.up.on(A, ok("from a"))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["a/m1", "b/m2"]\nhedge_after = 0.5\n'))
    assert await h.chat() == "from a"
    assert (h.calls(A), h.calls(B)) == (1, 0)


async def test_hedge_starts_the_next_target_at_once_when_the_first_fails(h):
    h.up.on(A, _BAD_REQUEST)
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["a/m1", "b/m2"]\nhedge_after = 5\n'))
    with pytest.raises(openai.BadRequestError):  # a client error still ends the request
        await h.chat()
    assert h.calls(B) == 0
    h.up.on(A, oai_error(401, "bad key", "invalid_request_error", "invalid_api_key"))
    started = time.monotonic()
    assert await h.chat() == "from b"
    assert time.monotonic() - started < 1.0


async def test_hedged_request_still_ends_at_the_deadline(h):
    a_cancelled, b_cancelled = asyncio.Event(), asyncio.Event()
    h.up.on(A, _slow_and_watched(2, a_cancelled))
    h.up.on(B, _slow_and_watched(2, b_cancelled))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nhedge_after = 0.1\n'
    await h.start(config(h.up.url, retry={**RETRY, "deadline": 0.4}, models=models))
    started = time.monotonic()
    status, headers, raw = await h.post(body())
    assert time.monotonic() - started < 1.0
    assert status == 504 and orjson.loads(raw)["error"]["code"] == "upstream_timeout"
    await asyncio.wait_for(asyncio.gather(a_cancelled.wait(), b_cancelled.wait()), 1.0)
    assert (h.calls(A), h.calls(B)) == (1, 1)


async def test_hedged_route_uses_its_context_fallbacks(h):
    h.up.on(A, _TOO_LONG)
    h.up.on(B, ok("from b/big"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nhedge_after = 0.1\ncontext_fallbacks = ["b/big"]\n'
    await h.start(config(h.up.url, models=models))
    assert await h.chat() == "from b/big"
    assert h.calls(A) == 1 and h.models(B) == ["big"]


# -- 15. balancing strategies --------------------------------------------------------------------


async def test_weighted_order_follows_the_seeded_rng_and_still_falls_back(h):
    weights = [1.0, 3.0]
    h.up.on(A, ok("a"))
    h.up.on(B, ok("b"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nstrategy = "weighted"\nweights = [1.0, 3.0]\n'
    await h.start(config(h.up.url, retry=ONE_TRY, models=models))
    ref = random.Random(SEED)

    def first_pick() -> str:
        keys = [ref.expovariate(w) for w in weights]
        return "a" if keys[0] < keys[1] else "b"

    expected = [first_pick() for _ in range(12)]
    assert set(expected) == {"a", "b"}  # the seed exercises both orders
    assert [await h.chat() for _ in range(12)] == expected

    # The drawn-first target failing: the other one still answers.
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(500))
    picks = [first_pick() for _ in range(6)]
    before = (h.calls(A), h.calls(B))
    for pick in picks:
        h.up.on(A if pick == "a" else B, server_error(500))
        h.up.on(B if pick == "a" else A, ok("other"))
        assert await h.chat() == "other"
    assert (h.calls(A) - before[0], h.calls(B) - before[1]) == (6, 6)


def _held_stream(release: asyncio.Event):
    """A stream that sends its first content, then waits for ``release`` to finish."""
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m1"}

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(FakeUpstream.frame({**base, "choices": [{"index": 0, "delta": {
            "role": "assistant", "content": "held"}, "finish_reason": None}]}))
        await release.wait()
        await response.write(FakeUpstream.frame({**base, "choices": [{"index": 0, "delta": {},
                                                                      "finish_reason": "stop"}]}))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    return respond


async def test_least_busy_prefers_the_idle_target(h):
    release = asyncio.Event()
    h.up.on(A, _held_stream(release), ok("a"))
    h.up.on(B, ok("b"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nstrategy = "least-busy"\n'
    await h.start(config(h.up.url, models=models))
    stream = await h.client.chat.completions.create(model="chat", messages=MSG, stream=True)
    first = await anext(aiter(stream))
    assert first.choices[0].delta.content == "held"
    assert (await h.health())["targets"]["a/m1"]["in_flight"] == 1
    # a is busy with the stream: b gets the next requests.
    assert [await h.chat() for _ in range(2)] == ["b", "b"]
    release.set()
    rest = [chunk async for chunk in stream]
    assert rest[-1].choices[0].finish_reason == "stop"
    await asyncio.sleep(0.05)
    assert (await h.health())["targets"]["a/m1"]["in_flight"] == 0
    assert await h.chat() == "a"  # a tie again: the configured order decides
    assert (h.calls(A), h.calls(B)) == (2, 2)


async def test_least_busy_keeps_working_after_clients_named_many_direct_models(h):
    """Clients may name any "provider/model"; the stats board forgets idle entries past 1024.
    The alias's balancer must still see the live numbers of its own targets afterwards."""
    release = asyncio.Event()
    h.up.on(A, ok("a"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nstrategy = "least-busy"\n'
    await h.start(config(h.up.url, models=models))
    limit = asyncio.Semaphore(64)

    async def direct(number: int) -> int:
        async with limit, http.post(h.server.base_url + "/v1/chat/completions",
                                    data=orjson.dumps(body(f"a/x{number}")), headers=auth) as response:
            await response.read()
            return response.status

    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        statuses = await asyncio.gather(*(direct(n) for n in range(1030)))
    assert set(statuses) == {200}

    h.up.on(A, _held_stream(release), ok("a"))
    h.up.on(B, ok("b"))
    stream = await h.client.chat.completions.create(model="chat", messages=MSG, stream=True)
    assert (await anext(aiter(stream))).choices[0].delta.content == "held"
    assert (await h.health())["targets"]["a/m1"]["in_flight"] == 1
    try:
        assert await h.chat() == "b"  # a is busy
    finally:
        release.set()
        [chunk async for chunk in stream]


async def test_latency_prefers_the_faster_target_after_warm_up(h):
    h.up.on(A, ok("a", delay=0.15))
    h.up.on(B, ok("b"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nstrategy = "latency"\n'
    await h.start(config(h.up.url, models=models))
    # Unmeasured targets go first so they get measured: a (configured first), then b.
    assert [await h.chat() for _ in range(2)] == ["a", "b"]
    assert [await h.chat() for _ in range(3)] == ["b", "b", "b"]
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["ewma_ttfb_ms"] >= 150
    assert targets["b/m2"]["ewma_ttfb_ms"] < targets["a/m1"]["ewma_ttfb_ms"]
    # The fast one failing: fallback to the slow one still works, and failures are not sampled.
    h.up.on(B, server_error(500))
    before = targets["b/m2"]["ewma_ttfb_ms"]
    assert await h.chat() == "a"
    assert (await h.health())["targets"]["b/m2"]["ewma_ttfb_ms"] == before


async def test_latency_does_not_keep_a_target_that_never_answers_first(h):
    """A 404 (the model name is wrong at that vendor) falls over to b and does not count for
    the breaker; failures are not sampled, so a never has a latency. It must still not be
    tried first on every request for ever."""
    h.up.on(A, oai_error(404, "The model `m1` does not exist", "invalid_request_error", "model_not_found"))
    h.up.on(B, ok("b"))
    models = '[models.chat]\ntargets = ["a/m1", "b/m2"]\nstrategy = "latency"\n'
    await h.start(config(h.up.url, models=models))
    assert [await h.chat() for _ in range(8)] == ["b"] * 8
    assert h.calls(A) <= 2, f"a was tried first on {h.calls(A)} of 8 requests"


# -- 16. the retry budget ------------------------------------------------------------------------


async def test_a_zero_retry_budget_means_no_retries_at_all(h):
    retry = {**RETRY, "budget_ratio": 0.0, "budget_min_per_second": 0.0}
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(503))
    await h.start(config(h.up.url, retry=retry, extra="[breaker]\nenabled = false\n"))
    for number in range(1, 4):
        status, _, _ = await h.post(body())
        assert status == 503
        assert (h.calls(A), h.calls(B)) == (number, number), f"request {number}"
    assert h.waits == []


async def test_the_budget_refills_with_time(h):
    now = [1000.0]
    retry = {**RETRY, "budget_ratio": 0.0, "budget_min_per_second": 1.0}
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=retry, extra="[breaker]\nenabled = false\n"), clock=lambda: now[0])
    # A fresh process holds ten seconds' worth (10 retries): five failing requests spend them.
    for _ in range(5):
        assert await h.chat() == "from b"
    assert h.calls(A) == 15
    assert await h.chat() == "from b"
    assert h.calls(A) == 16  # the budget is spent; no time has passed: no retry
    now[0] += 2.0  # two seconds' worth: two retries
    assert await h.chat() == "from b"
    assert h.calls(A) == 19


async def test_default_budget_on_a_cold_gateway_allows_every_retry(h):
    """The defaults (ratio 0.2, 1/s, starting with ten seconds' worth) let a fresh process retry
    at once: the first failing request gets all its attempts."""
    now = [1000.0]
    retry = {"attempts": 3}
    h.up.on(A, server_error(500))
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, retry=retry), clock=lambda: now[0])
    assert await h.chat() == "from b"
    assert h.calls(A) == 3
    assert h.waits == backoffs(retry, 0, 1)


# -- 17. failures nobody foresaw (issue 11, defect 9) -----------------------------------------------
#
# An exception that is not a GatewayError (a library refusing a setting, an adapter bug) is the
# failure of one target: class "unknown" (or timeout/network), the next target is tried, the
# client never gets a bare 500, and the traceback is logged once per target and exception type.

CREDS_PASSWORD = "pw-0f3a9c7e51d2b8"
BROKEN_KEY = "sk-broken-5be1c0de9a7f"


@define(kw_only=True)
class BrokenOptions(ProviderOptions):
    # "send": raises before any answer; "stream": one content chunk, then raises mid-stream;
    # "hang": waits until cancelled.
    mode: str = "send"


class BrokenProvider(Provider):
    """An adapter with a bug: raises a plain exception that quotes its key."""

    endpoints = frozenset({Endpoint.CHAT})
    requires_key = False

    def __init__(self, name, options: BrokenOptions, services) -> None:
        super().__init__(name, options, services)
        self.entered = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def send(self, ctx, req, target):
        self.entered.set()
        if self.options.mode == "hang":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if self.options.mode == "send":
            raise RuntimeError(f"adapter bug while using key {BROKEN_KEY}")

        async def events():
            yield SSEEvent.from_data({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "x",
                                      "choices": [{"index": 0, "delta": {"content": "half"}, "finish_reason": None}]})
            raise RuntimeError(f"adapter bug mid-stream with key {BROKEN_KEY}")

        return StreamReply(events())


class BrokenPlugin:
    @sluicegate.hookimpl
    def register_providers(self, register):
        register("broken", BrokenProvider, options=BrokenOptions)


BROKEN = (("broken", BrokenPlugin()),)


def broken(name: str, mode: str = "send") -> str:
    return f'[providers.{name}]\ntype = "broken"\napi_key = "{BROKEN_KEY}"\nmode = "{mode}"\n'


def errors_logged(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_base_url_with_credentials_falls_over_to_the_next_target_and_is_logged_once(h, caplog):
    """aiohttp raises ValueError for credentials in a URL next to an Authorization header."""
    caplog.set_level(logging.DEBUG)
    h.up.on(B, ok("from b"))
    extra = (f'[providers.creds]\ntype = "openai"\nbase_url = "http://user:{CREDS_PASSWORD}@127.0.0.1:'
             f'{h.up.port}/a/v1"\napi_key = "sk-creds-00000000000"\n')
    await h.start(config(h.up.url, extra=extra, models='[models.chat]\ntargets = ["creds/m1", "b/m2"]\n'))
    for _ in range(3):
        assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (0, 3)
    (report,) = errors_logged(caplog)
    assert "creds/m1" in report and "ValueError" in report and "Traceback" in report
    assert CREDS_PASSWORD not in caplog.text


async def test_an_adapter_raising_a_plain_exception_falls_over_for_both_apis(h, caplog):
    caplog.set_level(logging.DEBUG)
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, extra=broken("bug"), models='[models.chat]\ntargets = ["bug/m", "b/m2"]\n'),
                  extra_plugins=BROKEN)
    assert await h.chat() == "from b"
    message = await h.claude().messages.create(model="chat", max_tokens=20, messages=MSG)
    assert message.content[0].text == "from b"
    assert h.calls(B) == 2
    (report,) = errors_logged(caplog)  # once, though it failed twice
    assert "bug/m" in report and "RuntimeError" in report
    assert BROKEN_KEY not in caplog.text


async def test_a_stream_whose_adapter_raises_before_content_falls_over(h, caplog):
    h.up.on(B, FakeUpstream().sse_responder(openai_chunks(["from ", "b"])))
    await h.start(config(h.up.url, extra=broken("bug"), models='[models.chat]\ntargets = ["bug/m", "b/m2"]\n'),
                  extra_plugins=BROKEN)
    assert await h.stream_text() == "from b"
    assert h.calls(B) == 1
    assert len(errors_logged(caplog)) == 1


async def test_every_target_failing_unexpectedly_is_a_502_in_each_api_shape(h, caplog):
    caplog.set_level(logging.DEBUG)
    await h.start(config(h.up.url, extra=broken("bug") + broken("bug2"),
                         models='[models.chat]\ntargets = ["bug/m", "bug2/m"]\n'), extra_plugins=BROKEN)
    status, headers, raw = await h.post(body())
    assert status == 502, raw
    assert headers["x-should-retry"] == "false"
    error = orjson.loads(raw)["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_failed")
    assert "bug/m" in error["message"] and "bug2/m" in error["message"]
    with pytest.raises(anthropic.APIStatusError) as caught:
        await h.claude().messages.create(model="chat", max_tokens=20, messages=MSG)
    assert caught.value.status_code == 502
    assert caught.value.body["type"] == "error"
    # A single target's own error says the most: still a 502, never the edge's bare 500.
    status, _, single = await h.post(body("bug/m"))
    assert status == 502, single
    for text in (raw, single, str(caught.value.body).encode()):
        assert b"Traceback" not in text and BROKEN_KEY.encode() not in text
    assert len(errors_logged(caplog)) == 2  # one per target
    assert BROKEN_KEY not in caplog.text


async def test_an_adapter_raising_mid_stream_ends_the_stream_with_an_in_band_error(h, caplog):
    caplog.set_level(logging.DEBUG)
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, extra=broken("bug", "stream"),
                         models='[models.chat]\ntargets = ["bug/m", "b/m2"]\n'), extra_plugins=BROKEN)
    status, headers, raw = await h.post(body(stream=True))
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    frames = [frame for frame in raw.split(b"\n\n") if frame.strip()]
    assert b'"half"' in frames[0]  # the content the client already has is not sent again
    error = orjson.loads(frames[-1].removeprefix(b"data: "))["error"]
    assert error["code"] == "upstream_error" and "bug" in error["message"]
    assert b"Traceback" not in raw and BROKEN_KEY.encode() not in raw
    assert h.calls(B) == 0  # after content there is no fallback
    (report,) = errors_logged(caplog)
    assert "RuntimeError" in report and BROKEN_KEY not in caplog.text


async def test_a_client_leaving_still_cancels_the_call_and_tries_no_other_target(h):
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, extra=broken("stuck", "hang"),
                         models='[models.chat]\ntargets = ["stuck/m", "b/m2"]\n'), extra_plugins=BROKEN)
    stuck = h.server.gateway.current.providers["stuck"]
    request = asyncio.ensure_future(h.post(body()))
    await stuck.entered.wait()
    request.cancel()  # the client hangs up
    await asyncio.wait_for(stuck.cancelled.wait(), 5)
    # A whole request later, a router that swallowed the cancellation would have called b.
    assert await h.chat("b/m2") == "from b"
    assert h.calls(B) == 1
