"""The unit-test kit of ``sluicegate.testing``: request values with defaults, and the upstream
transport seam (``HttpProvider`` -> ``Services.transport``) that lets an adapter run with no socket."""

from __future__ import annotations

import socket

import aiohttp
import orjson
import pytest

from sluicegate.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from sluicegate.exchange import Endpoint, Reply, StreamReply, Target
from sluicegate.provider import ProviderOptions
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
    no_sockets,
    sse_response,
)
from sluicegate.testing.request import DEFAULT_BODY
from sluicegate.transport import SessionTransport
from sluicegate.upstream import HttpProvider

HEADER_KEY = "hk-vendor-header-0123456789"


class Plain(HttpProvider):
    """The smallest HTTP adapter: posts the client's bytes, relays the answer or the stream."""

    async def send(self, ctx, req, target):
        response = await self.post(self.base_url + "/chat", req.wire, self.base_headers(), req.stream)
        if req.stream:
            return self.stream_reply(self.events(response), response)
        try:
            return Reply(await self.read(response))
        finally:
            response.release()


def plain(transport: MockTransport | None = None, http=None, **options) -> Plain:
    options = {"base_url": "http://vendor.invalid/v1", "timeout": 30.0, **options}
    opts = ProviderOptions(type="plain", api_key=Secret("sk-plain-0123456789"), headers={"x-key": Secret(HEADER_KEY)},
                           **options)
    return Plain("up", opts, Services(http=http, config=None, transport=transport, wall_clock=lambda: 1000.0))


def target(provider) -> Target:
    return Target(provider, "m", "up/m")


# -- make_request / make_ctx ---------------------------------------------------------------------


def test_make_request_reads_model_and_stream_from_the_body_and_takes_overrides():
    req = make_request()
    assert (req.endpoint, req.model, req.stream, req.targets) == (Endpoint.CHAT, "m", False, ())
    assert req.body == DEFAULT_BODY and orjson.loads(req.wire) == DEFAULT_BODY
    assert req.body["messages"][0] is not DEFAULT_BODY["messages"][0]  # each request gets its own copy

    req = make_request({"model": "claude-x", "max_tokens": 5, "messages": [], "stream": True},
                       endpoint=Endpoint.MESSAGES, stream_usage=True)
    assert (req.endpoint, req.model, req.stream, req.stream_usage) == (Endpoint.MESSAGES, "claude-x", True, True)


def test_make_ctx_has_case_insensitive_client_headers_and_takes_overrides():
    ctx = make_ctx(headers={"X-Team": "ops"}, query_string="beta=true", request_id="req-7")
    assert ctx.client_headers["x-team"] == "ops"
    assert (ctx.request_id, ctx.query_string, ctx.tenant, ctx.target) == ("req-7", "beta=true", None, None)
    assert not make_ctx().client_headers


# -- the transport seam ----------------------------------------------------------------------------


def test_without_a_transport_a_provider_uses_the_shared_session():
    session = object()
    provider = plain(http=session)
    assert isinstance(provider.transport, SessionTransport) and provider.transport.session is session
    transport = MockTransport(lambda sent: json_response({}))
    assert plain(transport, http=session).transport is transport


async def test_a_call_goes_through_the_transport_and_opens_no_socket(no_sockets):
    def vendor(sent: SentRequest) -> MockResponse:
        return json_response({"echo": sent.json()})

    transport = MockTransport(vendor)
    provider = plain(transport)
    req = make_request({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    reply = await provider.send(make_ctx(), req, target(provider))
    assert reply.data == {"echo": req.body}
    (sent,) = transport.requests
    assert (sent.method, sent.url, sent.path) == ("POST", "http://vendor.invalid/v1/chat", "/v1/chat")
    assert sent.headers["X-KEY"] == HEADER_KEY and sent.body == req.wire
    assert sent.timeouts is provider.timeout
    assert transport.responses[0].released


async def test_an_async_handler_and_the_stream_timeouts(no_sockets):
    async def vendor(sent: SentRequest) -> MockResponse:
        return sse_response([{"n": 1}])

    transport = MockTransport(vendor)
    provider = plain(transport, idle_timeout=5.0)
    reply = await provider.send(make_ctx(), make_request({"model": "m", "stream": True}), target(provider))
    assert [event.data async for event in reply] == [b'{"n":1}', b"[DONE]"]
    await reply.aclose()
    assert transport.requests[0].timeouts is provider.stream_timeout
    assert provider.stream_timeout.sock_read == 5.0


async def test_an_error_status_is_mapped_with_its_wait_and_the_response_released(no_sockets):
    error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    transport = MockTransport(lambda sent: json_response(error, 429, {"Retry-After": "7"}))
    provider = plain(transport)
    with pytest.raises(UpstreamError) as caught:
        await provider.send(make_ctx(), make_request(), target(provider))
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (429, "rate_limit_exceeded", 7.0)
    assert caught.value.retryable is True
    assert transport.responses[0].released


@pytest.mark.parametrize(
    ("failure", "error_type", "error_class"),
    [
        (aiohttp.ServerDisconnectedError(), UpstreamUnavailable, ErrorClass.NETWORK),
        (aiohttp.ClientConnectionError("connection reset"), UpstreamUnavailable, ErrorClass.NETWORK),
        (TimeoutError(), UpstreamTimeout, ErrorClass.TIMEOUT),
    ],
    ids=["disconnected", "reset", "timeout"],
)
async def test_a_handler_raising_plays_a_network_failure(no_sockets, failure, error_type, error_class):
    def vendor(sent: SentRequest) -> MockResponse:
        raise failure

    provider = plain(MockTransport(vendor))
    with pytest.raises(error_type) as caught:
        await provider.send(make_ctx(), make_request(), target(provider))
    assert caught.value.retryable is True and caught.value.error_class == error_class


async def test_a_streamed_body_arrives_in_pieces_and_closing_the_reply_closes_the_response(no_sockets):
    async def pieces():
        yield b'data: {"n"'
        yield b':1}\n\ndata: {"n":2}\n'
        yield b"\n"
        for number in range(3, 1000):
            yield b'data: {"n":%d}\n\n' % number

    transport = MockTransport(lambda sent: MockResponse(body=pieces(), content_type="text/event-stream"))
    provider = plain(transport)
    reply = await provider.send(make_ctx(), make_request({"model": "m", "stream": True}), target(provider))
    assert isinstance(reply, StreamReply)
    events = aiter(reply)
    assert [(await anext(events)).json() for _ in range(3)] == [{"n": 1}, {"n": 2}, {"n": 3}]
    await reply.aclose()
    assert transport.responses[0].closed


async def test_a_body_broken_off_mid_stream_is_a_retryable_network_failure(no_sockets):
    async def broken():
        yield b'data: {"n":1}\n\n'
        raise aiohttp.ClientPayloadError("Response payload is not completed")

    provider = plain(MockTransport(lambda sent: MockResponse(body=broken(), content_type="text/event-stream")))
    reply = await provider.send(make_ctx(), make_request({"model": "m", "stream": True}), target(provider))
    seen = []
    with pytest.raises(UpstreamUnavailable) as caught:
        async for event in reply:
            seen.append(event.json())
    await reply.aclose()
    assert seen == [{"n": 1}]
    assert caught.value.retryable is True and "broke off the stream" in caught.value.message


async def test_the_health_probe_goes_through_the_transport(no_sockets):
    statuses = iter([404, 401])
    transport = MockTransport(lambda sent: json_response({"error": {"message": "no"}}, next(statuses)))
    provider = plain(transport)
    await provider.probe()  # a vendor without a model listing is up
    with pytest.raises(UpstreamError) as caught:
        await provider.probe()
    assert caught.value.status == 401
    assert [(sent.method, sent.path) for sent in transport.requests] == [("GET", "/v1/models")] * 2
    assert transport.requests[0].headers["x-key"] == HEADER_KEY
    assert all(response.released for response in transport.responses)


# -- no_sockets: the proof can fail ------------------------------------------------------------------


async def test_no_sockets_catches_a_real_connection_even_when_the_error_is_swallowed():
    with pytest.raises(AssertionError, match="network sockets were opened"):
        with no_sockets() as attempts:
            async with aiohttp.ClientSession() as http:
                provider = plain(http=http, base_url="http://127.0.0.1:9/v1")
                with pytest.raises(UpstreamUnavailable):  # the gateway turns it into an ordinary failure
                    await provider.send(make_ctx(), make_request(), target(provider))
            assert attempts
    left, right = socket.socketpair()  # outside: sockets work again
    left.close()
    right.close()


def test_no_sockets_leaves_unix_sockets_alone():
    with no_sockets() as attempts:
        left, right = socket.socketpair()
        left.close()
        right.close()
        with pytest.raises(OSError):
            socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        attempts.clear()  # seen and expected here: not a failure of this test


async def test_a_mock_body_read_piece_by_piece_skips_empty_pieces_and_ends_with_nothing():
    response = MockResponse(body=[b"one", b"", b"two"])
    content = response.content
    assert [await content.readany() for _ in range(3)] == [b"one", b"two", b""]
    assert content.at_eof() is False  # a scripted body never claims its end early
