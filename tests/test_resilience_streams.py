"""The resilience layer end to end for streams: fallback before the first content event, never
after it; stalls, resets and truncation; hedged and degraded streams.

The router holds a stream back until its first content event, so a stream that fails or stalls
before then falls over without the client seeing anything twice (not even the role chunk); once
content has reached the client, a failure ends the stream in band and is never retried.
Each test checks the client's bytes (or the SDK's view) and the calls each fake vendor got.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import openai
import orjson
import pytest
import resilience_harness
from aiohttp import web
from resilience_harness import (
    MSG,
    TOKEN,
    A,
    B,
    C,
    backoffs,
)

import sluicegate
from sluicegate.exchange import StreamReply
from sluicegate.testing import FakeUpstream, openai_chunks

RETRY = {"attempts": 2, "backoff_base": 0.5, "backoff_max": 8.0, "budget_min_per_second": 100.0}
ONE_TRY = {**RETRY, "attempts": 1}


def config(url: str, **kwargs: Any) -> str:
    """The harness config with this file's default of two tries per target."""
    kwargs.setdefault("retry", RETRY)
    return resilience_harness.config(url, **kwargs)
CHUNK = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "m"}


# -- helpers (as in the other test_resilience_*.py) ----------------------------------------------


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**CHUNK, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


ROLE = chunk({"role": "assistant", "content": ""})


def frames_of(raw: bytes) -> list[bytes]:
    return [frame for frame in raw.split(b"\n\n") if frame.strip()]


def data_of(raw: bytes) -> list[Any]:
    """Each data-only event's payload, parsed ([DONE] stays bytes)."""
    out: list[Any] = []
    for frame in frames_of(raw):
        assert frame.startswith(b"data: "), frame
        payload = frame[len(b"data: "):]
        out.append(payload if payload == b"[DONE]" else orjson.loads(payload))
    return out


def text_of(events: list[Any]) -> str:
    return "".join(
        e["choices"][0]["delta"].get("content") or "" for e in events if isinstance(e, dict) and e.get("choices")
    )


def roles_of(events: list[Any]) -> int:
    return sum(1 for e in events if isinstance(e, dict) and e.get("choices") and e["choices"][0]["delta"].get("role"))


def server_error(status: int = 500):
    body = {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}}
    return FakeUpstream.json_responder(body, status)


def stream(up: FakeUpstream, pieces: list[str], **kwargs: Any):
    """An OpenAI stream of ``pieces`` (role chunk, pieces, finish, [DONE])."""
    return up.sse_responder(openai_chunks(pieces), **kwargs)


def raw_sse(frames: list[bytes], *, then: str = "eof", pause: float = 0.05, watch: asyncio.Event | None = None,
            stall: float = 5):
    """Write ``frames``, then: "eof" (a clean end), "reset" (abort the connection) or "stall"
    (stay silent for ``stall`` seconds; ``watch`` is set if the gateway hangs up meanwhile)."""

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for frame in frames:
            await response.write(frame)
        if then == "eof":
            await response.write_eof()
            return response
        if then == "reset":
            await asyncio.sleep(pause)  # the frames reach the gateway before the reset
            request.transport.abort()
            await asyncio.sleep(10)  # cancelled at once: the connection is gone
            return response
        try:
            await asyncio.sleep(stall)
        except asyncio.CancelledError:
            if watch is not None:
                watch.set()
            raise
        return response

    return respond


def frame(data: Any) -> bytes:
    return FakeUpstream.frame(data)


def streamed(model: str = "chat") -> dict[str, Any]:
    return {"model": model, "messages": MSG, "stream": True}


# -- failures before the first content: fallback ------------------------------------------------


async def test_stream_refused_with_500_falls_back_and_the_client_sees_only_b(h):
    h.up.on(A, server_error(500))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url))
    status, headers, raw = await h.post(streamed())
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = data_of(raw)
    assert text_of(events) == "from b"
    assert roles_of(events) == 1 and events[-1] == b"[DONE]"
    assert (h.calls(A), h.calls(B)) == (2, 1)
    assert h.waits == backoffs(RETRY, 0)
    assert await h.stream_text() == "from b"


async def test_stream_that_stalls_after_the_role_chunk_falls_back_without_duplicates(h):
    gave_up = asyncio.Event()
    h.up.on(A, raw_sse([frame(ROLE)], then="stall", watch=gave_up))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, retry=ONE_TRY, a="first_byte_timeout = 0.3"))
    started = time.monotonic()
    status, _, raw = await h.post(streamed())
    assert time.monotonic() - started < 2.0
    assert status == 200
    events = data_of(raw)
    assert roles_of(events) == 1  # a's role chunk was held back and dropped, not relayed
    assert text_of(events) == "from b"
    assert events[-1] == b"[DONE]"
    assert (h.calls(A), h.calls(B)) == (1, 1)
    await asyncio.wait_for(gave_up.wait(), 1.0)  # the gateway hung up on a


async def test_stream_stalling_before_content_is_retried_on_the_same_target(h):
    h.up.on(A, raw_sse([frame(ROLE)], then="stall"), stream(h.up, ["from ", "a"]))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, a="first_byte_timeout = 0.3"))
    status, _, raw = await h.post(streamed())
    events = data_of(raw)
    assert text_of(events) == "from a" and roles_of(events) == 1
    assert (h.calls(A), h.calls(B)) == (2, 0)
    assert h.waits == backoffs(RETRY, 0)


async def test_stream_ending_before_content_without_done_falls_back(h):
    h.up.on(A, raw_sse([frame(ROLE)], then="eof"))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, retry=ONE_TRY))
    events = data_of((await h.post(streamed()))[2])
    assert text_of(events) == "from b" and roles_of(events) == 1
    assert (h.calls(A), h.calls(B)) == (1, 1)


async def test_stream_reset_before_content_falls_back(h):
    h.up.on(A, raw_sse([frame(ROLE)], then="reset"))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, retry=ONE_TRY))
    events = data_of((await h.post(streamed()))[2])
    assert text_of(events) == "from b" and roles_of(events) == 1
    assert (h.calls(A), h.calls(B)) == (1, 1)


async def test_in_band_server_error_before_content_falls_back(h):
    error = {"error": {"message": "The server had an error while processing your request.",
                       "type": "server_error", "param": None, "code": None}}
    h.up.on(A, raw_sse([frame(ROLE), frame(error)]))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url))
    events = data_of((await h.post(streamed()))[2])
    assert text_of(events) == "from b" and roles_of(events) == 1
    assert (h.calls(A), h.calls(B)) == (2, 1)


async def test_stream_connection_refused_falls_back(h):
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["dead/m0", "b/m2"]\n'))
    assert await h.stream_text() == "from b"
    assert h.calls(B) == 1
    assert h.waits == backoffs(RETRY, 0)


async def test_stream_refused_by_every_target_is_an_http_error_not_a_200(h):
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(503))
    await h.start(config(h.up.url, retry=ONE_TRY))
    status, headers, raw = await h.post(streamed())
    assert status == 503
    assert headers["Content-Type"].startswith("application/json")
    assert orjson.loads(raw)["error"]["code"] == "upstream_overloaded"
    assert (h.calls(A), h.calls(B)) == (1, 1)


async def test_stream_client_error_is_not_fallen_back(h):
    bad = {"error": {"message": "Invalid value for 'temperature'.", "type": "invalid_request_error",
                     "param": "temperature", "code": "invalid_value"}}
    h.up.on(A, FakeUpstream.json_responder(bad, 400))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url))
    with pytest.raises(openai.BadRequestError) as caught:
        await h.stream_text()
    assert caught.value.code == "invalid_value"
    assert (h.calls(A), h.calls(B)) == (1, 0)


# -- failures after content: in band, never retried ------------------------------------------------

CONTENT = [frame(ROLE), frame(chunk({"content": "Hel"})), frame(chunk({"content": "lo"}))]


async def test_stream_reset_mid_way_ends_in_band_without_a_retry(h):
    h.up.on(A, raw_sse(CONTENT, then="reset"))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url))
    status, _, raw = await h.post(streamed())
    assert status == 200
    events = data_of(raw)
    assert text_of(events) == "Hello"
    assert "error" in events[-1]
    assert b"[DONE]" not in events
    assert events[-1]["error"]["code"] == "upstream_unavailable"
    assert (h.calls(A), h.calls(B)) == (1, 0)
    assert h.waits == []


async def test_streams_breaking_after_content_open_the_breaker(h):
    """Breaks after the first content are not retried, but they count against the target: a
    vendor that always fails after one token leaves rotation like one that fails outright."""
    h.up.on(A, raw_sse(CONTENT, then="reset"))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, retry=ONE_TRY, extra="[breaker]\nfailure_threshold = 2\n"))
    for _ in range(2):
        status, _, raw = await h.post(streamed())
        assert status == 200 and "error" in data_of(raw)[-1]
    assert (await h.health())["targets"]["a/m1"]["breaker"] == "open"
    assert await h.stream_text() == "from b"
    assert (h.calls(A), h.calls(B)) == (2, 1)


async def test_stream_reset_mid_way_raises_in_the_openai_sdk_after_the_text(h):
    h.up.on(A, raw_sse(CONTENT, then="reset"))
    await h.start(config(h.up.url))
    texts: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        result = await h.client.chat.completions.create(model="chat", messages=MSG, stream=True)
        async for piece in result:
            if piece.choices:
                texts.append(piece.choices[0].delta.content or "")
    assert "".join(texts) == "Hello"
    assert "broke off the stream" in str(caught.value)
    assert h.calls(A) == 1
    await asyncio.sleep(0.05)
    assert (await h.health())["targets"]["a/m1"]["in_flight"] == 0


async def test_stream_ending_without_done_after_content_ends_in_band(h):
    h.up.on(A, raw_sse([*CONTENT, frame(chunk({}, "stop"))], then="eof"))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url))
    status, _, raw = await h.post(streamed())
    assert status == 200
    events = data_of(raw)
    assert text_of(events) == "Hello"
    assert "without [DONE]" in events[-1]["error"]["message"]
    assert (h.calls(A), h.calls(B)) == (1, 0)


async def test_stream_silent_past_idle_timeout_after_content_ends_in_band(h):
    h.up.on(A, raw_sse(CONTENT, then="stall"))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, a="idle_timeout = 0.3"))
    started = time.monotonic()
    status, _, raw = await h.post(streamed())
    assert time.monotonic() - started < 2.0
    events = data_of(raw)
    assert text_of(events) == "Hello"
    assert events[-1]["error"]["code"] == "upstream_timeout"
    assert (h.calls(A), h.calls(B)) == (1, 0)


async def test_in_band_vendor_error_after_content_is_relayed_not_retried(h):
    error = {"error": {"message": "The server had an error while processing your request.",
                       "type": "server_error", "param": None, "code": None}}
    h.up.on(A, raw_sse([*CONTENT, frame(error)]))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url))
    events = data_of((await h.post(streamed()))[2])
    assert text_of(events) == "Hello"
    assert "mid-stream" in events[-1]["error"]["message"]
    assert (h.calls(A), h.calls(B)) == (1, 0)


async def test_client_hanging_up_mid_stream_closes_the_upstream_and_frees_the_target(h):
    h.up.on(A, h.up.sse_responder(openai_chunks(["one ", "two ", "three"]), delay=0.3))
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["a/m1", "b/m2"]\nstrategy = "least-busy"\n'))
    async with aiohttp.ClientSession() as http, http.post(
        h.server.base_url + "/v1/chat/completions", data=orjson.dumps(streamed()),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    ) as response:
        assert response.status == 200
        first = await response.content.readuntil(b"\n\n")
        assert b'"role":"assistant"' in first
        assert (await h.health())["targets"]["a/m1"]["in_flight"] == 1
    # The client is gone: the gateway hangs up on the vendor and the stream no longer counts.
    await asyncio.wait_for(h.up.abort_event.wait(), 1.0)
    await asyncio.sleep(0.05)
    assert (await h.health())["targets"]["a/m1"]["in_flight"] == 0
    assert h.calls(A) == 1


async def test_stream_stalling_before_content_past_the_deadline_is_a_504(h):
    """Exact on the gateway's injected clock, whatever the machine's load: it stands still
    until ``a`` is called, then jumps past the deadline, so the gateway is waiting for ``a``'s
    first content when the deadline passes. ``a`` stalls until the gateway hangs up; the
    deadline's own timer is long enough never to fire first."""
    called, hung_up = asyncio.Event(), asyncio.Event()
    stalling = raw_sse([frame(ROLE)], then="stall", stall=3600, watch=hung_up)

    async def a(request: web.Request) -> web.StreamResponse:
        called.set()
        return await stalling(request)

    h.up.on(A, a)
    h.up.on(B, stream(h.up, ["from ", "b"]))
    # (first_byte_timeout only bounds the test should the deadline be ignored: then b answers.)
    await h.start(config(h.up.url, retry={**RETRY, "deadline": 3600}, a="first_byte_timeout = 5"),
                  clock=lambda: 1000.0 + (7200.0 if called.is_set() else 0.0))
    status, headers, raw = await h.post(streamed())
    assert status == 504, raw
    assert headers["Content-Type"].startswith("application/json")
    assert headers["x-should-retry"] == "false"
    error = orjson.loads(raw)["error"]
    assert error["code"] == "upstream_timeout" and "deadline" in error["message"]
    assert (h.calls(A), h.calls(B)) == (1, 0)
    await asyncio.wait_for(hung_up.wait(), 30)  # the stalled stream was closed, not left open


# -- /v1/messages streams ------------------------------------------------------------------------


def anthropic_frame(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


MESSAGE_START = anthropic_frame("message_start", {"type": "message_start", "message": {
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
    "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1}}})
BLOCK_START = anthropic_frame("content_block_start", {"type": "content_block_start", "index": 0,
                                                      "content_block": {"type": "text", "text": ""}})
PING = anthropic_frame("ping", {"type": "ping"})


async def test_anthropic_stream_stalling_after_its_preamble_falls_back_for_the_anthropic_sdk(h):
    h.up.on(C, raw_sse([MESSAGE_START, BLOCK_START, PING], then="stall"))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, retry=ONE_TRY, c="first_byte_timeout = 0.3",
                         models='[models.claude]\ntargets = ["c/claude-x", "b/m2"]\n'))
    async with h.claude().messages.stream(model="claude", max_tokens=50, messages=MSG) as result:
        kinds = [event.type async for event in result]
        message = await result.get_final_message()
    assert kinds.count("message_start") == 1
    assert message.content[0].text == "from b"
    assert (h.calls(C), h.calls(B)) == (1, 1)


async def test_anthropic_in_band_overloaded_before_content_falls_back(h):
    overloaded = anthropic_frame("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                      "message": "Overloaded"}})
    h.up.on(C, raw_sse([MESSAGE_START, BLOCK_START, PING, overloaded]))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, models='[models.claude]\ntargets = ["c/claude-x", "b/m2"]\n'))
    async with h.claude().messages.stream(model="claude", max_tokens=50, messages=MSG) as result:
        kinds = [event.type async for event in result]
        message = await result.get_final_message()
    assert kinds.count("message_start") == 1
    assert message.content[0].text == "from b"
    assert (h.calls(C), h.calls(B)) == (2, 1)
    assert h.waits == backoffs(RETRY, 0)


async def test_anthropic_in_band_overloaded_after_content_ends_with_an_error_event(h):
    delta = anthropic_frame("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                    "delta": {"type": "text_delta", "text": "Hel"}})
    overloaded = anthropic_frame("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                      "message": "Overloaded"}})
    h.up.on(C, raw_sse([MESSAGE_START, BLOCK_START, PING, delta, overloaded]))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, models='[models.claude]\ntargets = ["c/claude-x", "b/m2"]\n'))
    status, _, raw = await h.post({"model": "claude", "max_tokens": 50, "messages": MSG, "stream": True},
                                  path="/v1/messages")
    assert status == 200
    frames = frames_of(raw)
    assert frames[-1].startswith(b"event: error\ndata: ")
    assert b"Hel" in raw and b"from " not in raw
    assert (h.calls(C), h.calls(B)) == (1, 0)


async def test_bridged_messages_stream_stalling_after_the_role_chunk_falls_back(h):
    h.up.on(A, raw_sse([frame(ROLE)], then="stall"))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, retry=ONE_TRY, a="first_byte_timeout = 0.3"))
    async with h.claude().messages.stream(model="chat", max_tokens=50, messages=MSG) as result:
        kinds = [event.type async for event in result]
        message = await result.get_final_message()
    assert kinds.count("message_start") == 1 and kinds[-1] == "message_stop"
    assert message.content[0].text == "from b"
    assert (h.calls(A), h.calls(B)) == (1, 1)


# -- hedged streams ------------------------------------------------------------------------------


async def test_hedged_stream_answers_from_the_fast_target_and_hangs_up_on_the_slow_one(h):
    h.up.on(A, h.up.sse_responder(openai_chunks(["from ", "a"]), first_delay=2))
    h.up.on(B, stream(h.up, ["from ", "b"]))
    await h.start(config(h.up.url, models='[models.chat]\ntargets = ["a/m1", "b/m2"]\nhedge_after = 0.1\n'))
    started = time.monotonic()
    status, _, raw = await h.post(streamed())
    assert time.monotonic() - started < 1.0
    events = data_of(raw)
    assert text_of(events) == "from b" and roles_of(events) == 1
    await asyncio.wait_for(h.up.abort_event.wait(), 1.0)
    assert h.up.aborted == 1
    assert (h.calls(A), h.calls(B)) == (1, 1)
    await asyncio.sleep(0.05)
    targets = (await h.health())["targets"]
    assert targets["a/m1"]["in_flight"] == 0 and targets["b/m2"]["in_flight"] == 0


# -- degraded streams ----------------------------------------------------------------------------

DEGRADE = '[degrade]\nmessage = "Our assistant is resting. Please try again in a minute."\n'
DEGRADED = "Our assistant is resting. Please try again in a minute."


async def test_degraded_chat_stream(h):
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(500))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=DEGRADE))
    status, headers, raw = await h.post(streamed())
    assert status == 200
    assert headers["x-sluicegate-degraded"] == "true"
    events = data_of(raw)
    assert text_of(events) == DEGRADED and events[-1] == b"[DONE]"
    assert await h.stream_text() == DEGRADED
    assert (h.calls(A), h.calls(B)) == (2, 2)


async def test_degraded_messages_stream_for_the_anthropic_sdk(h):
    h.up.on(A, server_error(500))
    h.up.on(B, server_error(500))
    await h.start(config(h.up.url, retry=ONE_TRY, extra=DEGRADE))
    async with h.claude().messages.stream(model="chat", max_tokens=50, messages=MSG) as result:
        text = "".join([piece async for piece in result.text_stream])
        message = await result.get_final_message()
    assert text == DEGRADED
    assert message.stop_reason == "end_turn"
    assert (h.calls(A), h.calls(B)) == (1, 1)


# -- an unforeseen exception after the first byte (issue 11, defect 9) ---------------------------


class BreakingMiddlewarePlugin:
    """A middleware with a bug: its stream wrapper raises a plain exception after one event."""

    @sluicegate.hookimpl
    def register_middlewares(self, register):
        register("breaks", self.factory, order=50, always=True)

    def factory(self, options, services):
        async def middleware(ctx, req, call_next):
            result = await call_next(ctx, req)
            if isinstance(result, StreamReply):
                result.events = self.wrap(result.events)
            return result

        return middleware

    @staticmethod
    async def wrap(events):
        async for event in events:
            yield event
            raise RuntimeError("middleware bug")


async def test_a_plain_exception_after_the_first_byte_ends_the_stream_in_band(h, caplog):
    caplog.set_level(logging.DEBUG)
    h.up.on(A, stream(h.up, ["from ", "a"]))
    await h.start(config(h.up.url), extra_plugins=(("breaks", BreakingMiddlewarePlugin()),))
    status, headers, raw = await h.post(streamed())
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = data_of(raw)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-1]["error"]["code"] == "internal_error"
    assert b"Traceback" not in raw and b"middleware bug" not in raw
    (report,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert report.exc_info is not None and "stream failed" in report.getMessage()
