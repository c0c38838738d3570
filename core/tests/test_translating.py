"""``TranslatingProvider``: the I/O around a vendor adapter's pure translation, proved on a toy
vendor ("parrot") with a dialect of its own, through the ``MockTransport`` seam (no sockets).

The parrot takes ``{"model", "prompt"}`` and answers ``{"id", "said", "stop", "tokens"}``; it
streams ``{"piece"}`` events, then ``{"stop"}``, then ``{"tokens"}`` (usage after the finish, as
Bedrock's ``metadata`` event follows ``messageStop``), and reports errors under a 200 as
``{"failure": {"kind", "text"}}``.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson
import pytest

from sluicegate.errors import GatewayError, InvalidRequest, UpstreamError, UpstreamUnavailable
from sluicegate.exchange import Reply, SSEEvent, StreamReply, Target
from sluicegate.provider import ProviderOptions
from sluicegate.resilience.classify import ErrorClass
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate.testing import (
    MockResponse,
    MockTransport,
    json_response,
    make_ctx,
    make_request,
    sse_response,
)
from sluicegate.translating import TranslatingProvider, VendorCall

KEY = "pk-parrot-secret-0123456789"
MESSAGES = [{"role": "user", "content": "say hello"}]
CLOCK = 1700.6


class ParrotStream:
    """The parrot's stream translator: done at ``stop``, ended at ``bye`` (a vendor's last word)."""

    def __init__(self, model: str, created: int, include_usage: bool) -> None:
        self.base = {"id": "", "object": "chat.completion.chunk", "created": created, "model": model}
        self.include_usage = include_usage
        self.done = False
        self.ended = False
        self.tokens: int | None = None

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**self.base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def feed(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        if "piece" in data:
            return [self.chunk({"content": data["piece"] + ""})]  # a non-string piece is a TypeError
        if "stop" in data:
            self.done = True
            return [self.chunk({}, "stop")]
        if "tokens" in data:
            self.tokens = data["tokens"]
        if data.get("bye"):
            self.done = self.ended = True
        return []

    def finish(self) -> list[dict[str, Any]]:
        if not (self.include_usage and self.tokens is not None):
            return []
        return [{**self.base, "choices": [], "usage": {"completion_tokens": self.tokens}}]


class Parrot(TranslatingProvider):
    answer_name = "a parrot's answer"
    vendor_header_prefixes = ("x-parrot-",)

    def __init__(self, name, options, services) -> None:
        super().__init__(name, options, services)
        self.fixed_headers["X-Parrot-Version"] = "2"

    def auth_headers(self) -> dict[str, str]:
        return {"X-Parrot-Key": self.options.api_key.reveal()}

    def to_vendor(self, req, target) -> VendorCall:
        prompt = " ".join(m["content"] for m in req.body["messages"] if m.get("role") == "user")
        if not prompt:
            raise InvalidRequest("the parrot needs something to repeat")
        body = orjson.dumps({"model": target.model, "prompt": prompt})
        if req.stream:
            return VendorCall(self.base_url + "/speak?stream=1", body, {"X-Parrot-Stream": "on"})
        return VendorCall(self.base_url + "/speak", body)

    def from_vendor(self, data, req, target, created):
        return {
            "id": data["id"],
            "object": "chat.completion",
            "created": created,
            "model": target.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": data["said"] + ""},
                         "finish_reason": data["stop"]}],
            "usage": {"completion_tokens": data["tokens"]},
        }

    def stream_translator(self, req, target, created) -> ParrotStream:
        options = req.body.get("stream_options") or {}
        return ParrotStream(target.model, created, options.get("include_usage") is True)

    def reported_error(self, data, *, mid_stream):
        failure = data.get("failure")
        if failure is None:
            return None
        where = "mid-stream" if mid_stream else "in a 200 answer"
        error = UpstreamError(f"provider {self.name!r} reported {failure['kind']} {where}: "
                              f"{self.clean(failure['text'])}", provider=self.name, status=503, code=failure["kind"])
        return self.classified(error)


def parrot(handler, cls: type[Parrot] = Parrot) -> tuple[Parrot, MockTransport]:
    transport = MockTransport(handler)
    options = ProviderOptions(type="parrot", base_url="http://parrot.invalid/v1", api_key=Secret(KEY))
    return cls("polly", options, Services(http=None, config=None, transport=transport, wall_clock=lambda: CLOCK)), \
        transport


def target(provider: Parrot) -> Target:
    return Target(provider, "parrot-2", "polly/parrot-2")


async def collect(reply: StreamReply) -> list[SSEEvent]:
    events = []
    try:
        async for event in reply:
            events.append(event)
    finally:
        await reply.aclose()
    return events


async def stream_error(reply: StreamReply, error_type: type[GatewayError] = GatewayError) -> tuple[list, Any]:
    """The chunks a stream gave before it raised, and what it raised."""
    chunks = []
    with pytest.raises(error_type) as caught:
        async for event in reply:
            chunks.append(event.json())
    await reply.aclose()
    return chunks, caught.value


STREAM = [{"piece": "hel"}, {"piece": "lo"}, {"stop": "end"}, {"tokens": 5}]


# -- answers --------------------------------------------------------------------------------------


async def test_a_whole_answer_is_translated_and_the_call_carries_the_right_headers(no_sockets):
    provider, transport = parrot(lambda sent: json_response({"id": "p1", "said": "hello", "stop": "stop",
                                                             "tokens": 2}))
    ctx = make_ctx(request_id="req-9", headers={
        "X-Team": "ops",  # the client's own: forwarded
        "X-Stainless-Lang": "python", "User-Agent": "OpenAI/Python",  # another dialect's SDK: kept back
        "X-Parrot-Stream": "on", "X-Parrot-Version": "1",  # steering the vendor: only the provider may
    })
    reply = await provider.send(ctx, make_request({"model": "alias", "messages": MESSAGES}), target(provider))

    assert type(reply) is Reply
    assert reply.data == {
        "id": "p1", "object": "chat.completion", "created": 1700, "model": "parrot-2",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {"completion_tokens": 2},
    }
    (sent,) = transport.requests
    assert (sent.method, sent.url) == ("POST", "http://parrot.invalid/v1/speak")
    assert sent.json() == {"model": "parrot-2", "prompt": "say hello"}
    headers = sent.headers
    assert (headers["X-Team"], headers["X-Request-Id"], headers["Content-Type"]) == ("ops", "req-9", "application/json")
    assert (headers["X-Parrot-Key"], headers.getall("X-Parrot-Version")) == (KEY, ["2"])
    assert not {"X-Stainless-Lang", "User-Agent", "X-Parrot-Stream"} & set(headers)
    assert transport.responses[0].released


async def test_an_untranslatable_request_is_refused_before_any_call(no_sockets):
    provider, transport = parrot(lambda sent: json_response({}))
    with pytest.raises(InvalidRequest):
        await provider.send(make_ctx(), make_request({"model": "m", "messages": []}), target(provider))
    assert transport.requests == []


async def test_an_error_reported_in_a_200_is_raised_as_the_adapter_classifies_it(no_sockets):
    failure = {"failure": {"kind": "busy", "text": f"too many birds (key {KEY})"}}
    provider, transport = parrot(lambda sent: json_response(failure))
    with pytest.raises(UpstreamError) as caught:
        await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES}), target(provider))
    error = caught.value
    assert (error.status, error.code, error.retryable) == (503, "busy", True)
    assert error.message.startswith("provider 'polly' reported busy in a 200 answer: too many birds")
    assert KEY not in error.message
    assert transport.responses[0].released


@pytest.mark.parametrize("answer", [b"<html>bad gateway</html>", b"[1, 2]", b'{"id": "p1", "said": 7}',
                                    b'{"id": "p1"}'])
async def test_a_garbled_answer_is_a_retryable_502(no_sockets, answer):
    provider, transport = parrot(lambda sent: json_response(answer))
    with pytest.raises(UpstreamError) as caught:
        await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES}), target(provider))
    error = caught.value
    assert (error.status, error.code, error.retryable) == (502, "upstream_bad_response", True)
    assert error.error_class == ErrorClass.OVERLOADED
    assert error.message == "provider 'polly' sent an answer that is not a parrot's answer"
    assert transport.responses[0].released


async def test_an_http_error_goes_through_map_error_with_its_wait(no_sockets):
    provider, _ = parrot(lambda sent: json_response({"error": {"message": "slow down", "code": "rate"}}, 429,
                                                    {"Retry-After": "3"}))
    with pytest.raises(UpstreamError) as caught:
        await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES}), target(provider))
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (429, "rate", 3.0)


# -- streams ----------------------------------------------------------------------------------------


async def test_a_stream_is_translated_to_chunks_then_finish_then_done(no_sockets):
    provider, transport = parrot(lambda sent: sse_response(STREAM, done=False))
    req = make_request({"model": "m", "messages": MESSAGES, "stream": True,
                        "stream_options": {"include_usage": True}})
    reply = await provider.send(make_ctx(headers={"X-Parrot-Stream": "off"}), req, target(provider))
    assert isinstance(reply, StreamReply)
    events = await collect(reply)

    assert events[-1].is_done
    chunks = [event.json() for event in events[:-1]]
    assert [chunk["choices"][0]["delta"] for chunk in chunks[:3]] == [{"content": "hel"}, {"content": "lo"}, {}]
    assert chunks[2]["choices"][0]["finish_reason"] == "stop"
    # The usage came after the finish: still fed, and given by finish() before [DONE].
    assert chunks[3]["usage"] == {"completion_tokens": 5} and len(chunks) == 4
    assert {chunk["created"] for chunk in chunks} == {1700}
    (sent,) = transport.requests
    assert (sent.url, sent.headers.getall("X-Parrot-Stream")) == ("http://parrot.invalid/v1/speak?stream=1", ["on"])
    assert transport.responses[0].closed


async def test_a_stream_ended_by_the_vendors_last_word_finishes_at_once_and_drains_the_rest(no_sockets):
    # After "bye", even a garbled event is read unfed (the connection goes back to the pool).
    provider, transport = parrot(lambda sent: sse_response(
        [{"piece": "hi"}, {"bye": True}, b"data: <not json>\n\n", {"piece": "late"}], done=False))
    reply = await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES, "stream": True}),
                                target(provider))
    events = await collect(reply)
    assert [event.json()["choices"][0]["delta"] for event in events[:-1]] == [{"content": "hi"}]
    assert events[-1].is_done


async def test_an_error_event_mid_stream_ends_the_stream_with_that_error(no_sockets):
    provider, _ = parrot(lambda sent: sse_response(
        [{"piece": "hel"}, ("error", {"error": {"message": f"bird flew off {KEY}", "code": "gone"}})], done=False))
    reply = await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES, "stream": True}),
                                target(provider))
    chunks, error = await stream_error(reply, UpstreamError)
    assert [chunk["choices"][0]["delta"] for chunk in chunks] == [{"content": "hel"}]
    assert error.message.startswith("provider 'polly' reported an error mid-stream: bird flew off")
    assert KEY not in error.message and error.code == "gone"


async def test_an_error_reported_in_a_stream_event_is_raised_mid_stream(no_sockets):
    provider, _ = parrot(lambda sent: sse_response(
        [{"piece": "hel"}, {"failure": {"kind": "busy", "text": "flock"}}, {"stop": "end"}], done=False))
    reply = await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES, "stream": True}),
                                target(provider))
    chunks, error = await stream_error(reply, UpstreamError)
    assert len(chunks) == 1
    assert (error.status, error.code) == (503, "busy")
    assert error.message == "provider 'polly' reported busy mid-stream: flock"


async def test_a_stream_cut_off_before_the_answer_finished_is_a_retryable_unavailable(no_sockets):
    provider, _ = parrot(lambda sent: sse_response(STREAM[:2], done=False))
    reply = await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES, "stream": True}),
                                target(provider))
    chunks, error = await stream_error(reply, UpstreamUnavailable)
    assert [chunk["choices"][0]["delta"] for chunk in chunks] == [{"content": "hel"}, {"content": "lo"}]
    assert error.message == "provider 'polly' ended the stream before the answer finished"
    assert error.retryable is True


@pytest.mark.parametrize("event", [b"data: <html>\n\n", b"data: [1]\n\n", {"piece": 7}])
async def test_a_garbled_stream_event_is_a_502(no_sockets, event):
    provider, _ = parrot(lambda sent: sse_response([{"piece": "hel"}, event, *STREAM[1:]], done=False))
    reply = await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES, "stream": True}),
                                target(provider))
    chunks, error = await stream_error(reply, UpstreamError)
    assert len(chunks) == 1
    assert (error.status, error.code) == (502, "upstream_bad_response")


# -- a vendor's own stream framing and per-call credentials -----------------------------------------


def frame(kind: bytes, payload: dict[str, Any]) -> bytes:
    """A toy binary framing (as Bedrock's event stream is binary): length, kind byte, payload."""
    body = orjson.dumps(payload)
    return struct.pack(">I", len(body)) + kind + body


async def decode_frames(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 5 and len(buffer) >= 5 + (size := struct.unpack(">I", buffer[:4])[0]):
            kind, payload, buffer = buffer[4:5], buffer[5:5 + size], buffer[5 + size:]
            yield SSEEvent(payload, "error" if kind == b"x" else "message")


class FramedParrot(Parrot):
    """The parrot behind a front end that frames its stream in binary and signs each call."""

    def decode_stream(self, chunks):
        return decode_frames(chunks)

    def event_data(self, event):
        # Like Bedrock's {"<event type>": payload}: the translator sees the kind with the data.
        return {"framed": True, **self.parse(event.data)}

    async def call_credentials(self, call):
        return {"X-Parrot-Signature": f"{len(call.body)}:{call.url.rsplit('/', 1)[-1]}"}


def framed(frames: list[bytes]) -> MockResponse:
    # Split across reads mid-frame, as the network does.
    wire = b"".join(frames)
    return MockResponse(body=[wire[i:i + 7] for i in range(0, len(wire), 7)], content_type="application/octet-stream")


async def test_a_custom_decoder_reads_a_binary_stream_and_the_call_is_signed(no_sockets):
    provider, transport = parrot(lambda sent: framed([frame(b"e", event) for event in STREAM]), FramedParrot)
    req = make_request({"model": "m", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}})
    reply = await provider.send(make_ctx(headers={"X-Parrot-Signature": "forged"}), req, target(provider))
    events = await collect(reply)
    assert events[-1].is_done
    chunks = [event.json() for event in events[:-1]]
    assert [chunk["choices"][0]["delta"] for chunk in chunks[:3]] == [{"content": "hel"}, {"content": "lo"}, {}]
    assert chunks[3]["usage"] == {"completion_tokens": 5}
    (sent,) = transport.requests
    assert sent.headers.getall("X-Parrot-Signature") == [f"{len(sent.body)}:speak?stream=1"]


async def test_a_custom_decoders_error_frame_and_cut_off_are_handled_like_sse(no_sockets):
    error_frames = [frame(b"e", STREAM[0]), frame(b"x", {"message": "molting", "code": "molt"})]
    provider, _ = parrot(lambda sent: framed(error_frames), FramedParrot)
    req = make_request({"model": "m", "messages": MESSAGES, "stream": True})
    chunks, error = await stream_error(await provider.send(make_ctx(), req, target(provider)), UpstreamError)
    assert len(chunks) == 1 and error.code == "molt" and "mid-stream: molting" in error.message

    provider, _ = parrot(lambda sent: framed([frame(b"e", STREAM[0])]), FramedParrot)
    chunks, error = await stream_error(await provider.send(make_ctx(), req, target(provider)), UpstreamUnavailable)
    assert len(chunks) == 1 and "ended the stream before the answer finished" in error.message
