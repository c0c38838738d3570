"""The openai adapter on ``sluicegate.testing.MockTransport``: no vendor server, no sockets.

The adapter tests here answer from a handler function under the ``no_sockets`` fixture; the
first test runs the whole gateway (its own server is real) with every vendor call on the
transport, which ``running_gateway(services={"transport": ...})`` hands to the providers.
"""

from __future__ import annotations

import openai
import pytest

from sluicegate.errors import UpstreamError, UpstreamUnavailable
from sluicegate.exchange import StreamReply, Target
from sluicegate.resilience.classify import ErrorClass
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate.testing import (
    MockResponse,
    MockTransport,
    SentRequest,
    json_response,
    make_ctx,
    make_request,
    openai_chat_completion,
    openai_chunks,
    sse_response,
)
from sluicegate_openai import OpenAIOptions, OpenAIProvider

KEY = "sk-upstream-secret-transport-0123"
TOKEN = "client-token-transport"
VENDOR = "http://vendor.invalid/v1"
MESSAGES = [{"role": "user", "content": "hi"}]


def vendor(sent: SentRequest) -> MockResponse:
    """An OpenAI that answers every chat call with "hi" (streamed when asked)."""
    if sent.json().get("stream"):
        return sse_response(openai_chunks(["h", "i"]))
    return json_response(openai_chat_completion("hi"))


def provider_on(transport: MockTransport) -> OpenAIProvider:
    options = OpenAIOptions(type="openai", base_url=VENDOR, api_key=Secret(KEY))
    return OpenAIProvider("up", options, Services(http=None, config=None, transport=transport))


async def test_the_whole_gateway_calls_its_vendor_through_the_transport(gateway):
    transport = MockTransport(vendor)
    config = f"""
[auth]
tokens = ["{TOKEN}"]

[providers.up]
type = "openai"
base_url = "{VENDOR}"
api_key = "{KEY}"

[models.chat]
targets = ["up/gpt-4o-mini"]
"""
    server = await gateway(config, services={"transport": transport})
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0) as client:
        reply = await client.chat.completions.create(model="chat", messages=MESSAGES)
        stream = await client.chat.completions.create(model="chat", messages=MESSAGES, stream=True)
        pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert reply.choices[0].message.content == "hi"
    assert "".join(pieces) == "hi"
    assert [(sent.method, sent.url) for sent in transport.requests] == [("POST", VENDOR + "/chat/completions")] * 2
    for sent in transport.requests:
        assert sent.json()["model"] == "gpt-4o-mini"
        assert sent.headers["Authorization"] == f"Bearer {KEY}"
        assert TOKEN not in str(sent.headers)


async def test_the_targets_model_is_sent_and_the_client_credentials_are_not(no_sockets):
    transport = MockTransport(vendor)
    provider = provider_on(transport)
    ctx = make_ctx(headers={"Authorization": f"Bearer {TOKEN}", "Cookie": "session=1", "X-Team": "ops"})
    req = make_request({"model": "chat", "messages": MESSAGES, "temperature": 0.2})
    reply = await provider.send(ctx, req, Target(provider, "gpt-4o-mini", "up/gpt-4o-mini"))
    assert reply.data["choices"][0]["message"]["content"] == "hi"
    (sent,) = transport.requests
    assert sent.json() == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.2}
    assert sent.headers["Authorization"] == f"Bearer {KEY}" and sent.headers["X-Team"] == "ops"
    assert "Cookie" not in sent.headers
    assert sent.headers["X-Request-Id"] == ctx.request_id
    assert sent.timeouts is provider.timeout


async def test_a_vendor_that_ignores_stream_is_relayed_as_one_event(no_sockets):
    transport = MockTransport(lambda sent: json_response(openai_chat_completion("whole")))
    provider = provider_on(transport)
    req = make_request({"model": "m", "messages": MESSAGES, "stream": True})
    reply = await provider.send(make_ctx(), req, Target(provider, "m", "up/m"))
    assert isinstance(reply, StreamReply)
    events = [event async for event in reply]
    await reply.aclose()
    assert events[-1].is_done and len(events) == 2
    chunk = events[0].json()
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["choices"][0]["delta"]["content"] == "whole"
    assert transport.requests[0].timeouts is provider.stream_timeout


async def test_an_html_page_with_a_200_is_a_bad_response_not_a_completion(no_sockets):
    transport = MockTransport(lambda sent: json_response(b"<html><body>502 Bad Gateway</body></html>"))
    provider = provider_on(transport)
    with pytest.raises(UpstreamError) as caught:
        await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES}), Target(provider, "m", "up/m"))
    assert (caught.value.status, caught.value.code) == (502, "upstream_bad_response")
    assert caught.value.error_class == ErrorClass.OVERLOADED and caught.value.retryable
    assert transport.responses[0].released


async def test_a_stream_that_ends_without_done_is_cut_off(no_sockets):
    transport = MockTransport(lambda sent: sse_response(openai_chunks(["par", "tial"]), done=False))
    provider = provider_on(transport)
    reply = await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES, "stream": True}),
                                Target(provider, "m", "up/m"))
    pieces = []
    with pytest.raises(UpstreamUnavailable, match="without \\[DONE\\]") as caught:
        async for event in reply:
            pieces.append(event.json()["choices"][0]["delta"].get("content") or "")
    await reply.aclose()
    assert "".join(pieces) == "partial"
    assert caught.value.retryable is True
    assert transport.responses[0].closed
