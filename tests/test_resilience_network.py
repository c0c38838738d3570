"""Resilience, upstreams failing below the API: timeouts, refused and reset connections, bytes that
are not HTTP, a 200 that is not an answer;
the official SDKs through the real server to fake vendors, non-streaming requests
(streams: ``test_resilience_streams.py``; the shared harness and its rules: ``resilience_harness.py``).
"""

from __future__ import annotations

import asyncio
import time

import openai
import orjson
import pytest
from aiohttp import web
from resilience_harness import (
    MSG,
    ONE_TRY,
    RETRY,
    A,
    B,
    C,
    backoffs,
    body,
    config,
    ok,
)

from sluicegate.testing import FakeUpstream

# -- timeouts and connection failures --------------------------------------------------------------


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


# -- connection reset before the response ----------------------------------------------------------


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


# -- a malformed 200 -------------------------------------------------------------------------------

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
